/* CONFIG request: hostname, interface addresses and default route,
 * /etc/hostname, /etc/resolv.conf and /etc/hosts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gi.h"

#define GI_MAX_ADDRS 8

struct gi_config {
	char hostname[PROTO_MAX_HOSTNAME + 1];
	char ifname[16];
	struct gi_addr addrs[GI_MAX_ADDRS];
	unsigned naddrs;
	struct gi_addr gw[2];
	unsigned ngw;
	uint32_t mtu;
	uint8_t mac[6];
	bool have_mac;
	char resolv[4096];
	size_t resolv_len;
	char hosts[8192];
	size_t hosts_len;
	bool have_dns;
	struct gi_mount mounts[PROTO_MAX_MOUNTS];
	unsigned nmounts;
};

/* Replace dirfd/name through a temp file and rename, which also replaces a
 * symlink (images often link resolv.conf elsewhere) instead of following it. */
int gi_write_file_at(int dirfd, const char *name, const char *data, size_t len)
{
	char tmp[64];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), ".%s.ucrt-tmp", name);
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r)
		unlinkat(dirfd, tmp, 0);
	return r;
}

/* /etc/NAME, or on a read-only root (--read-only) a file in /run bound
 * over it, as docker does for hosts and resolv.conf; a read-only image
 * without that file simply goes without. A full root filesystem (a
 * container that filled its disk, started again) takes the same way: the
 * container still starts and can free its space. */
static int gi_write_etc(int etc_fd, const char *name, const char *data, size_t len)
{
	char src[64], dst[64];
	int r = gi_write_file_at(etc_fd, name, data, len), dir;

	if (r != -EROFS && r != -ENOSPC && r != -EDQUOT)
		return r;
	mkdir("/run/ucrt-etc", 0755);
	dir = open("/run/ucrt-etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	r = gi_write_file_at(dir, name, data, len);
	close(dir);
	if (r < 0)
		return r;
	snprintf(src, sizeof(src), "/run/ucrt-etc/%s", name);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", etc_fd, name);
	if (faccessat(etc_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return mount(src, dst, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
}

/* A string attribute fit for a config file line: no NUL, no newline. */
static int gi_line(const uint8_t *v, size_t len, char *out, size_t cap)
{
	if (len >= cap || !proto_str_ok(v, len) || memchr(v, '\n', len) || memchr(v, '\r', len))
		return -EINVAL;
	memcpy(out, v, len);
	out[len] = 0;
	return 0;
}

static int gi_append(char *buf, size_t cap, size_t *len, const char *a, const char *b)
{
	int n = snprintf(buf + *len, cap - *len, "%s%s\n", a, b);

	if (n < 0 || (size_t)n >= cap - *len)
		return -E2BIG;
	*len += (size_t)n;
	return 0;
}

static int gi_addr_attr(const uint8_t *v, size_t len, bool with_prefix, struct gi_addr *a)
{
	size_t extra = with_prefix ? 1 : 0;

	memset(a, 0, sizeof(*a));
	if (len == 4 + extra)
		a->family = AF_INET;
	else if (len == 16 + extra)
		a->family = AF_INET6;
	else
		return -EINVAL;
	memcpy(a->addr, v, len - extra);
	a->prefix = with_prefix ? v[len - 1] : 0;
	if (a->prefix > (a->family == AF_INET ? 32 : 128))
		return -EINVAL;
	return 0;
}

static int gi_config_parse(struct gi_config *c, const uint8_t *p, size_t plen, char *msg, size_t msglen)
{
	struct proto_tlv_iter it;
	const uint8_t *v;
	uint16_t tag, len;
	char line[1024];
	int r, k;

	proto_tlv_init(&it, p, plen);
	while ((k = proto_tlv_next(&it, &tag, &v, &len)) > 0) {
		r = 0;
		switch (tag) {
		case PROTO_A_HOSTNAME:
			r = gi_line(v, len, c->hostname, sizeof(c->hostname));
			break;
		case PROTO_A_IFNAME:
			r = gi_line(v, len, c->ifname, sizeof(c->ifname));
			break;
		case PROTO_A_ADDR:
			r = c->naddrs < GI_MAX_ADDRS ? gi_addr_attr(v, len, true, &c->addrs[c->naddrs++]) : -E2BIG;
			break;
		case PROTO_A_GATEWAY:
			r = c->ngw < 2 ? gi_addr_attr(v, len, false, &c->gw[c->ngw++]) : -E2BIG;
			break;
		case PROTO_A_MTU:
			r = len == 4 ? 0 : -EINVAL;
			if (!r)
				c->mtu = proto_get32(v);
			break;
		case PROTO_A_MAC:
			r = len == 6 && !(v[0] & 1) ? 0 : -EINVAL;	/* unicast */
			if (!r) {
				memcpy(c->mac, v, 6);
				c->have_mac = true;
			}
			break;
		case PROTO_A_DNS:
		case PROTO_A_SEARCH:
			r = gi_line(v, len, line, sizeof(line));
			if (!r)
				r = gi_append(c->resolv, sizeof(c->resolv), &c->resolv_len,
					      tag == PROTO_A_DNS ? "nameserver " : "search ", line);
			c->have_dns = true;
			break;
		case PROTO_A_HOSTS:
			r = gi_line(v, len, line, sizeof(line));
			if (!r)
				r = gi_append(c->hosts, sizeof(c->hosts), &c->hosts_len, "", line);
			break;
		case PROTO_A_MOUNT:
			r = c->nmounts < PROTO_MAX_MOUNTS ? gi_mount_parse(v, len, &c->mounts[c->nmounts++]) : -E2BIG;
			break;
		default:
			break;	/* newer host: ignore what we do not know */
		}
		if (r < 0) {
			snprintf(msg, msglen, "config attribute %u: %s", tag, strerror(-r));
			return r;
		}
	}
	if (k < 0) {
		snprintf(msg, msglen, "config: truncated attribute");
		return -EBADMSG;
	}
	return 0;
}

static int gi_config_net(const struct gi_config *c, char *msg, size_t msglen)
{
	const char *ifn = c->ifname[0] ? c->ifname : "eth0";
	char abuf[INET6_ADDRSTRLEN];
	int r;

	if (c->have_mac && (r = gi_net_set_mac(ifn, c->mac)) < 0) {
		snprintf(msg, msglen, "setting the address of %s: %s", ifn, strerror(-r));
		return r;
	}
	r = gi_net_link_up(ifn, c->mtu);
	if (r < 0) {
		snprintf(msg, msglen, "bringing %s up: %s", ifn, strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < c->naddrs; i++) {
		r = gi_net_add_addr(ifn, &c->addrs[i]);
		if (r < 0) {
			inet_ntop(c->addrs[i].family, c->addrs[i].addr, abuf, sizeof(abuf));
			snprintf(msg, msglen, "adding %s/%u to %s: %s", abuf, c->addrs[i].prefix, ifn, strerror(-r));
			return r;
		}
	}
	for (unsigned i = 0; i < c->ngw; i++) {
		r = gi_net_default_route(ifn, &c->gw[i]);
		if (r < 0) {
			inet_ntop(c->gw[i].family, c->gw[i].addr, abuf, sizeof(abuf));
			snprintf(msg, msglen, "default route via %s: %s", abuf, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* /etc/hosts: localhost, our own name on our first address, then the
 * host's entries. */
static int gi_config_hosts(const struct gi_config *c, int etc_fd)
{
	char buf[sizeof(c->hosts) + 512], abuf[INET6_ADDRSTRLEN];
	size_t len = 0;
	int n;

	n = snprintf(buf, sizeof(buf), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	len = (size_t)n;
	if (c->hostname[0] && c->naddrs) {
		inet_ntop(c->addrs[0].family, c->addrs[0].addr, abuf, sizeof(abuf));
		n = snprintf(buf + len, sizeof(buf) - len, "%s\t%s\n", abuf, c->hostname);
		len += (size_t)n;
	}
	memcpy(buf + len, c->hosts, c->hosts_len);
	len += c->hosts_len;
	return gi_write_etc(etc_fd, "hosts", buf, len);
}

int gi_config_apply(const uint8_t *p, size_t plen, int etc_fd, char *msg, size_t msglen)
{
	struct gi_config *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	r = gi_config_parse(c, p, plen, msg, msglen);
	if (r < 0)
		goto out;
	if (c->hostname[0]) {
		r = sethostname(c->hostname, strlen(c->hostname)) < 0 ? -errno : 0;
		if (r < 0) {
			snprintf(msg, msglen, "sethostname: %s", strerror(-r));
			goto out;
		}
		if (etc_fd >= 0) {
			char line[PROTO_MAX_HOSTNAME + 2];
			int n = snprintf(line, sizeof(line), "%s\n", c->hostname);
			gi_write_etc(etc_fd, "hostname", line, (size_t)n);
		}
	}
	gi_net_lo_up();
	if (c->naddrs || c->ngw || c->mtu || c->ifname[0] || c->have_mac) {
		r = gi_config_net(c, msg, msglen);
		if (r < 0)
			goto out;
	}
	if (etc_fd >= 0 && c->have_dns) {
		r = gi_write_etc(etc_fd, "resolv.conf", c->resolv, c->resolv_len);
		if (r < 0) {
			snprintf(msg, msglen, "writing /etc/resolv.conf: %s", strerror(-r));
			goto out;
		}
	}
	if (etc_fd >= 0 && (c->naddrs || c->hosts_len || c->hostname[0])) {
		r = gi_config_hosts(c, etc_fd);
		if (r < 0) {
			snprintf(msg, msglen, "writing /etc/hosts: %s", strerror(-r));
			goto out;
		}
	}
	r = gi_mount_data(c->mounts, c->nmounts, msg, msglen);
out:
	free(c);
	return r;
}
