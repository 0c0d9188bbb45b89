/* Interface setup with raw rtnetlink (no libnl in the guest). musl ships no
 * <linux/rtnetlink.h>, so the few ABI structs and constants are spelled out
 * here; they are stable kernel UAPI. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gi.h"

struct gi_nlmsghdr { uint32_t len; uint16_t type, flags; uint32_t seq, pid; };
struct gi_ifinfomsg { uint8_t family, pad; uint16_t type; int32_t index; uint32_t flags, change; };
struct gi_ifaddrmsg { uint8_t family, prefixlen, flags, scope; uint32_t index; };
struct gi_rtmsg { uint8_t family, dst_len, src_len, tos, table, protocol, scope, type; uint32_t flags; };
struct gi_sockaddr_nl { uint16_t family, pad; uint32_t pid, groups; };

enum {
	GI_NLMSG_ERROR = 2, GI_RTM_NEWLINK = 16, GI_RTM_NEWADDR = 20, GI_RTM_NEWROUTE = 24,
	GI_NLM_F_REQUEST = 1, GI_NLM_F_ACK = 4, GI_NLM_F_REPLACE = 0x100, GI_NLM_F_CREATE = 0x400,
	GI_IFLA_ADDRESS = 1, GI_IFLA_MTU = 4, GI_IFA_ADDRESS = 1, GI_IFA_LOCAL = 2, GI_IFA_FLAGS = 8, GI_IFA_F_NODAD = 0x2,
	GI_RTA_OIF = 4, GI_RTA_GATEWAY = 5, GI_RT_TABLE_MAIN = 254, GI_RTPROT_BOOT = 3,
	GI_RTN_UNICAST = 1, GI_RTNH_F_ONLINK = 4,
};

#define GI_NLA(n) (((n) + 3u) & ~3u)

struct gi_nlreq {
	union {
		uint8_t buf[512];
		struct gi_nlmsghdr align;
	};
	size_t len;
};

static void *gi_nl_start(struct gi_nlreq *q, uint16_t type, uint16_t flags, size_t body)
{
	struct gi_nlmsghdr *h = (struct gi_nlmsghdr *)q->buf;

	memset(q, 0, sizeof(*q));
	h->type = type;
	h->flags = (uint16_t)(GI_NLM_F_REQUEST | GI_NLM_F_ACK | flags);
	h->seq = 1;
	q->len = sizeof(*h) + GI_NLA(body);
	return q->buf + sizeof(*h);
}

static void gi_nl_attr(struct gi_nlreq *q, uint16_t type, const void *data, size_t len)
{
	uint16_t rta[2] = { (uint16_t)(4 + len), type };

	if (q->len + GI_NLA(4 + len) > sizeof(q->buf))
		return;		/* our own attributes are fixed and small */
	memcpy(q->buf + q->len, rta, 4);
	memcpy(q->buf + q->len + 4, data, len);
	q->len += GI_NLA(4 + len);
}

/* Send one request and wait for its ACK; returns 0 or -errno. */
static int gi_nl_talk(struct gi_nlreq *q)
{
	struct gi_sockaddr_nl sa = { .family = AF_NETLINK };
	union { uint8_t b[4096]; struct gi_nlmsghdr a; } resp;
	int fd, r = -EIO;
	ssize_t n;

	((struct gi_nlmsghdr *)q->buf)->len = (uint32_t)q->len;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 /* NETLINK_ROUTE */);
	if (fd < 0)
		return -errno;
	if (sendto(fd, q->buf, q->len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out;
	}
	n = recv(fd, resp.b, sizeof(resp.b), 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if ((size_t)n >= sizeof(struct gi_nlmsghdr) + sizeof(int32_t) && resp.a.type == GI_NLMSG_ERROR) {
		int32_t e;
		memcpy(&e, resp.b + sizeof(struct gi_nlmsghdr), sizeof(e));
		r = e;	/* 0 is the ACK, else -errno */
	}
out:
	close(fd);
	return r;
}

int gi_net_link_up(const char *ifname, uint32_t mtu)
{
	struct gi_nlreq q;
	struct gi_ifinfomsg *ifi;
	unsigned idx = if_nametoindex(ifname);

	if (!idx)
		return -ENODEV;
	ifi = gi_nl_start(&q, GI_RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->family = AF_UNSPEC;
	ifi->index = (int32_t)idx;
	ifi->flags = IFF_UP;
	ifi->change = IFF_UP;
	if (mtu)
		gi_nl_attr(&q, GI_IFLA_MTU, &mtu, sizeof(mtu));
	return gi_nl_talk(&q);
}

/* Once per boot: PID 1 brings lo up before a template is saved, so no
 * clone runs (and, under TCG, translates) the netlink path again; CONFIG
 * asks too, for the --serve-fd test mode that has no PID 1 step. */
int gi_net_lo_up(void)
{
	static bool up;
	int r;

	if (up)
		return 0;
	r = gi_net_link_up("lo", 0);
	up = r == 0;
	return r;
}

/* A clone's own address: the template's device state carries the
 * template's, and the driver passes a new one on to QEMU's filter. */
int gi_net_set_mac(const char *ifname, const uint8_t mac[6])
{
	struct gi_nlreq q;
	struct gi_ifinfomsg *ifi;
	unsigned idx = if_nametoindex(ifname);

	if (!idx)
		return -ENODEV;
	ifi = gi_nl_start(&q, GI_RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->family = AF_UNSPEC;
	ifi->index = (int32_t)idx;
	gi_nl_attr(&q, GI_IFLA_ADDRESS, mac, 6);
	return gi_nl_talk(&q);
}

int gi_net_add_addr(const char *ifname, const struct gi_addr *a)
{
	struct gi_nlreq q;
	struct gi_ifaddrmsg *ifa;
	unsigned idx = if_nametoindex(ifname);
	size_t alen = a->family == AF_INET ? 4 : 16;
	uint32_t fl = GI_IFA_F_NODAD;	/* usable at once, no DAD wait */

	if (!idx)
		return -ENODEV;
	ifa = gi_nl_start(&q, GI_RTM_NEWADDR, GI_NLM_F_CREATE | GI_NLM_F_REPLACE, sizeof(*ifa));
	ifa->family = (uint8_t)a->family;
	ifa->prefixlen = a->prefix;
	ifa->index = idx;
	gi_nl_attr(&q, GI_IFA_LOCAL, a->addr, alen);
	gi_nl_attr(&q, GI_IFA_ADDRESS, a->addr, alen);
	if (a->family == AF_INET6)
		gi_nl_attr(&q, GI_IFA_FLAGS, &fl, sizeof(fl));
	return gi_nl_talk(&q);
}

int gi_net_default_route(const char *ifname, const struct gi_addr *gw)
{
	struct gi_nlreq q;
	struct gi_rtmsg *rt;
	unsigned idx = if_nametoindex(ifname);
	uint32_t oif = idx;

	if (!idx)
		return -ENODEV;
	rt = gi_nl_start(&q, GI_RTM_NEWROUTE, GI_NLM_F_CREATE | GI_NLM_F_REPLACE, sizeof(*rt));
	rt->family = (uint8_t)gw->family;
	rt->table = GI_RT_TABLE_MAIN;
	rt->protocol = GI_RTPROT_BOOT;
	rt->type = GI_RTN_UNICAST;
	/* on-link: the gateway need not sit inside the address's prefix */
	rt->flags = GI_RTNH_F_ONLINK;
	gi_nl_attr(&q, GI_RTA_GATEWAY, gw->addr, gw->family == AF_INET ? 4 : 16);
	gi_nl_attr(&q, GI_RTA_OIF, &oif, sizeof(oif));
	return gi_nl_talk(&q);
}
