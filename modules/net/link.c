/* Links, addresses and routes through libnl-route-3, and tap devices
 * through /dev/net/tun. All calls are synchronous rtnetlink round trips to
 * the local kernel (see net.h: setup work, not reactor work). libnl returns
 * its own NLE_* codes; nle_errno() maps them to -errno for the rest of ucrt. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>

#include "str.h"
#include "util.h"
#include "net/net-internal.h"

static int nle_errno(int nle)
{
	static const struct { int nle, err; } map[] = {
		{ NLE_INTR, EINTR }, { NLE_AGAIN, EAGAIN }, { NLE_NOMEM, ENOMEM },
		{ NLE_EXIST, EEXIST }, { NLE_INVAL, EINVAL }, { NLE_RANGE, ERANGE },
		{ NLE_MSGSIZE, EMSGSIZE }, { NLE_OPNOTSUPP, EOPNOTSUPP },
		{ NLE_AF_NOSUPPORT, EAFNOSUPPORT }, { NLE_OBJ_NOTFOUND, ENOENT },
		{ NLE_NOADDR, EADDRNOTAVAIL }, { NLE_BUSY, EBUSY }, { NLE_NOACCESS, EACCES },
		{ NLE_PERM, EPERM }, { NLE_NODEV, ENODEV },
	};

	if (nle >= 0)
		return nle;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (map[i].nle == -nle)
			return -map[i].err;
	return -EIO;
}

int netl_open(struct nl_sock **out)
{
	struct nl_sock *nl = nl_socket_alloc();
	int r;

	if (!nl)
		return -ENOMEM;
	r = nl_connect(nl, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(nl);
		return nle_errno(r);
	}
	*out = nl;
	return 0;
}

int netl_ifindex(struct nl_sock *nl, const char *name)
{
	struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(nl, 0, name, &l);

	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;
	if (r < 0)
		return nle_errno(r);
	r = rtnl_link_get_ifindex(l);
	rtnl_link_put(l);
	return r;
}

/* A bridge without a fixed MAC takes the lowest MAC of its ports, so its
 * address would change as taps come and go and the guests' ARP entries
 * for the gateway would go stale: give it one for good. */
int netl_bridge_create(struct nl_sock *nl, const char *name, unsigned mtu, const uint8_t mac[6])
{
	struct rtnl_link *l = rtnl_link_bridge_alloc();
	struct nl_addr *a = nl_addr_build(AF_LLC, mac, 6);
	int r = -ENOMEM;

	if (l && a) {
		rtnl_link_set_name(l, name);
		rtnl_link_set_mtu(l, mtu);
		rtnl_link_set_addr(l, a);
		r = nle_errno(rtnl_link_add(nl, l, NLM_F_CREATE | NLM_F_EXCL));
	}
	if (a)
		nl_addr_put(a);
	if (l)
		rtnl_link_put(l);
	return r;
}

int netl_addr4_get(struct nl_sock *nl, int ifindex, struct in_addr *a, unsigned *prefix)
{
	struct nl_cache *cache = NULL;
	int r = rtnl_addr_alloc_cache(nl, &cache), found = 0;

	if (r < 0)
		return nle_errno(r);
	for (struct nl_object *o = nl_cache_get_first(cache); o && !found; o = nl_cache_get_next(o)) {
		struct rtnl_addr *ad = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(ad);

		if (rtnl_addr_get_ifindex(ad) != ifindex || rtnl_addr_get_family(ad) != AF_INET ||
		    !local || nl_addr_get_len(local) != 4)
			continue;
		memcpy(a, nl_addr_get_binary_addr(local), 4);
		*prefix = (unsigned)rtnl_addr_get_prefixlen(ad);
		found = 1;
	}
	nl_cache_free(cache);
	return found;
}

int netl_addr4_add(struct nl_sock *nl, int ifindex, struct in_addr a, unsigned prefix)
{
	struct rtnl_addr *ad = rtnl_addr_alloc();
	struct nl_addr *local = nl_addr_build(AF_INET, &a, 4);
	struct nl_addr *bcast;
	uint32_t host = prefix >= 32 ? 0 : ~(uint32_t)0 >> prefix;
	struct in_addr b = { .s_addr = a.s_addr | htonl(host) };
	int r;

	bcast = nl_addr_build(AF_INET, &b, 4);
	if (!ad || !local || !bcast) {
		r = -ENOMEM;
		goto out;
	}
	nl_addr_set_prefixlen(local, (int)prefix);
	rtnl_addr_set_ifindex(ad, ifindex);
	rtnl_addr_set_local(ad, local);
	rtnl_addr_set_broadcast(ad, bcast);
	r = nle_errno(rtnl_addr_add(nl, ad, 0));
out:
	if (local)
		nl_addr_put(local);
	if (bcast)
		nl_addr_put(bcast);
	if (ad)
		rtnl_addr_put(ad);
	return r;
}

/* Bring ifindex up, with a master (0: none) and an MTU (0: unchanged). */
int netl_link_up(struct nl_sock *nl, int ifindex, int master, unsigned mtu)
{
	struct rtnl_link *orig = NULL, *chg;
	int r = rtnl_link_get_kernel(nl, ifindex, NULL, &orig);

	if (r < 0)
		return nle_errno(r);
	chg = rtnl_link_alloc();
	if (!chg) {
		rtnl_link_put(orig);
		return -ENOMEM;
	}
	rtnl_link_set_flags(chg, IFF_UP);
	if (master)
		rtnl_link_set_master(chg, master);
	if (mtu)
		rtnl_link_set_mtu(chg, mtu);
	r = nle_errno(rtnl_link_change(nl, orig, chg, 0));
	rtnl_link_put(chg);
	rtnl_link_put(orig);
	return r;
}

int netl_link_del(struct nl_sock *nl, const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int r;

	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	r = nle_errno(rtnl_link_delete(nl, l));
	rtnl_link_put(l);
	return r == -ENOENT ? -ENODEV : r;
}

static bool overlaps(uint32_t a, unsigned alen, uint32_t b, unsigned blen)
{
	uint32_t mask = net_mask(MIN(alen, blen));

	return (a & mask) == (b & mask);
}

int netl_subnet_in_use(struct nl_sock *nl, struct in_addr net, unsigned prefix, int skip_ifindex)
{
	struct nl_cache *cache = NULL;
	int r = rtnl_route_alloc_cache(nl, AF_INET, 0, &cache), used = 0;

	if (r < 0)
		return nle_errno(r);
	for (struct nl_object *o = nl_cache_get_first(cache); o && !used; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(rt);
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
		uint32_t d;

		/* The default route covers everything; it does not claim a subnet. */
		if (!dst || nl_addr_get_prefixlen(dst) == 0 || nl_addr_get_len(dst) != 4)
			continue;
		if (nh && skip_ifindex && rtnl_route_nh_get_ifindex(nh) == skip_ifindex)
			continue;
		memcpy(&d, nl_addr_get_binary_addr(dst), 4);
		used = overlaps(d, (unsigned)nl_addr_get_prefixlen(dst), net.s_addr, prefix);
	}
	nl_cache_free(cache);
	return used;
}

int netl_links_with_prefix(struct nl_sock *nl, const char *prefix, char ***out)
{
	struct nl_cache *cache = NULL;
	int r = rtnl_link_alloc_cache(nl, AF_UNSPEC, &cache);

	*out = NULL;
	if (r < 0)
		return nle_errno(r);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		const char *name = rtnl_link_get_name((struct rtnl_link *)o);

		if (name && str_startswith(name, prefix))
			strv_push(out, name);
	}
	nl_cache_free(cache);
	return 0;
}

/* Without TUNSETPERSIST the tap lives exactly as long as an fd on it:
 * when ucrt and QEMU are gone (even by SIGKILL) the kernel removes it. */
int netl_tap_open(const char *name, bool *vnet_hdr)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	/* The virtio-net header lets QEMU pass checksum and GSO offloads. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	*vnet_hdr = true;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		if (errno != EINVAL)
			return -errno;
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		*vnet_hdr = false;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0)
			return -errno;
	}
	return TAKE_FD(fd);
}
