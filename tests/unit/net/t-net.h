/* Test helpers for modules/net: a private network namespace, a scratch
 * store root, and raw Ethernet frames written into a tap fd exactly as
 * QEMU would (with the virtio-net header when the tap has one). */
#ifndef UCRT_T_NET_H
#define UCRT_T_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "util.h"
#include "net/net.h"
#include "tests/lib/tap.h"

#define T_VNET_HDR_LEN 10	/* struct virtio_net_hdr, the tap's default size */

static char t_root[256];

static inline void t_net_cleanup(void)
{
	char cmd[300];

	if (t_root[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_root);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", t_root);
	}
}

/* A fresh network namespace for this process (gone when it exits, even by
 * SIGKILL: nothing leaks onto the host) and a scratch store root. */
static inline void t_net_enter(void)
{
	if (geteuid() != 0)
		t_skip_all("needs root (CAP_NET_ADMIN) for a network namespace");
	if (unshare(CLONE_NEWNET) < 0)
		t_skip_all("cannot create a network namespace (CAP_NET_ADMIN missing?)");
	if (access("/dev/net/tun", R_OK | W_OK) < 0)
		t_skip_all("/dev/net/tun is not available");
	snprintf(t_root, sizeof(t_root), "/tmp/ucrt-net-test.XXXXXX");
	if (!mkdtemp(t_root)) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(t_net_cleanup);
	/* lo is down in a new namespace. */
	if (system("ip link set lo up") != 0)
		t_diag("ip link set lo up failed");
}

static inline int t_host_open(struct net_host *h, const char *bridge)
{
	struct net_host_opts o = { .root = t_root, .bridge = bridge, .resolv_conf = "/dev/null" };
	struct err e = { 0 };
	int r = net_host_open(h, &o, &e);

	if (r < 0)
		t_diag("net_host_open: %s", err_msg(&e));
	return r;
}

static inline int t_vm_create(struct net_host *h, const char *owner, const char *policy,
		       const char *ip, struct net_vm *v)
{
	struct net_policy p;
	struct net_vm_opts o = { .owner = owner, .ip = ip, .policy = &p };
	struct err e = { 0 };
	int r = net_policy_parse(policy, &p, &e);

	if (r == 0)
		r = net_vm_create(h, &o, v, &e);
	if (r < 0)
		t_diag("net_vm_create %s: %s", owner, err_msg(&e));
	return r;
}

static inline void t_ifmac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		memset(mac, 0, 6);
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (s >= 0)
		close(s);
}

/* ---- frames ---- */

struct t_frame {
	uint8_t b[1600];
	size_t len;
};

static inline void t_eth(struct t_frame *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->b, dst, 6);
	memcpy(f->b + 6, src, 6);
	f->b[12] = (uint8_t)(type >> 8);
	f->b[13] = (uint8_t)type;
	f->len = 14;
}

static inline uint16_t t_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* ARP request "who has tpa, tell spa" from sha. */
static inline void t_arp(struct t_frame *f, const uint8_t src_mac[6], const uint8_t sha[6],
		  struct in_addr spa, struct in_addr tpa)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *a;

	t_eth(f, bcast, src_mac, ETH_P_ARP);
	a = f->b + 14;
	a[1] = 1;		/* Ethernet */
	a[2] = 0x08;		/* IPv4 */
	a[4] = 6;
	a[5] = 4;
	a[7] = 1;		/* request */
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, &spa, 4);
	memcpy(a + 24, &tpa, 4);
	f->len += 28;
}

/* IPv4/UDP datagram; the UDP checksum is left 0 (allowed for IPv4). */
static inline void t_udp(struct t_frame *f, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		  struct in_addr src, struct in_addr dst, uint16_t sport, uint16_t dport,
		  const char *payload)
{
	size_t plen = strlen(payload);
	uint8_t *ip, *udp;

	t_eth(f, dst_mac, src_mac, ETH_P_IP);
	ip = f->b + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + 8 + plen) >> 8);
	ip[3] = (uint8_t)(20 + 8 + plen);
	ip[6] = 0x40;		/* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	uint16_t c = t_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp = ip + 20;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[4] = (uint8_t)((8 + plen) >> 8);
	udp[5] = (uint8_t)(8 + plen);
	memcpy(udp + 8, payload, plen);
	f->len += 20 + 8 + plen;
}

static inline int t_tap_write(const struct net_vm *v, const struct t_frame *f)
{
	uint8_t buf[T_VNET_HDR_LEN + sizeof(f->b)];
	size_t off = v->vnet_hdr ? T_VNET_HDR_LEN : 0;

	memset(buf, 0, off);
	memcpy(buf + off, f->b, f->len);
	return write(v->tap_fd, buf, off + f->len) == (ssize_t)(off + f->len) ? 0 : -errno;
}

/* Read frames from the tap for up to ms; return 1 when one with ethertype
 * type (and, when want_op, ARP opcode 2 / UDP to port) came. */
static inline int t_tap_wait(const struct net_vm *v, uint16_t type, uint16_t udp_dport, int ms,
		      struct t_frame *out)
{
	size_t off = v->vnet_hdr ? T_VNET_HDR_LEN : 0;
	uint8_t buf[T_VNET_HDR_LEN + 1600];

	for (int waited = 0; waited < ms; waited += 20) {
		struct pollfd p = { .fd = v->tap_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(v->tap_fd, buf, sizeof(buf));
		if (n < (ssize_t)(off + 14))
			continue;
		uint8_t *e = buf + off;
		uint16_t t = (uint16_t)(e[12] << 8 | e[13]);

		if (t != type)
			continue;
		if (type == ETH_P_ARP && e[14 + 7] != 2)
			continue;
		if (type == ETH_P_IP) {
			unsigned ihl = (e[14] & 15u) * 4u;

			if (e[14 + 9] != IPPROTO_UDP ||
			    (uint16_t)(e[14 + ihl + 2] << 8 | e[14 + ihl + 3]) != udp_dport)
				continue;
		}
		if (out) {
			out->len = (size_t)n - off;
			memcpy(out->b, e, out->len);
		}
		return 1;
	}
	return 0;
}

/* A UDP socket on addr:port in the test's namespace. */
static inline int t_udp_listen(struct in_addr addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		t_diag("udp bind: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* 1 when a datagram with this payload arrives within ms. */
static inline int t_udp_got(int fd, const char *payload, int ms)
{
	char buf[256];

	for (int waited = 0; waited < ms; waited += 20) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			continue;
		buf[n] = 0;
		if (strcmp(buf, payload) == 0)
			return 1;
	}
	return 0;
}

static inline struct in_addr t_ip(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a;
}

#endif
