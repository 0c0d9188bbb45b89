/* A bundle's network namespace as the VM's network (Kata's "tcfilter"
 * model). podman (netavark or CNI) and containerd's CNI have already put
 * an interface in the namespace, with addresses, routes and firewall
 * rules on the host side. The per-container process enters the namespace
 * (QEMU inherits it), makes a tap there and joins it to that interface
 * with two tc rules: everything arriving on the interface leaves on the
 * tap and the reverse (ingress qdisc, u32 match-all, mirred egress
 * redirect). The guest's eth0 takes the interface's MAC, IPv4 addresses,
 * default route and MTU, so from outside the VM is the namespace: the
 * networks podman and CNI built work unchanged. The namespace's own IP
 * stack sees no packets any more; its addresses stay where podman put
 * them (it reads them back). Blocking setup (netlink), once, before QEMU.
 *
 * libnl is used directly here rather than through modules/net, whose
 * bridge/NAT model this does not share; the tap is opened the same way
 * (no TUNSETPERSIST: it goes when the last fd does). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>

#include "agent/agent.h"
#include "bundle-internal.h"
#include "container/container.h"
#include "err.h"
#include "log.h"
#include "util.h"
#include "vm/vm.h"

#define BNET_TAP "ucrt0"
#define BNET_MAX_ADDRS 8
/* ffff:, the ingress qdisc's handle (libnl's TC_HANDLE(0xffff, 0) shifts an int
 * into its sign bit) */
#define BNET_INGRESS_HANDLE 0xffff0000u

struct ctr_bundle_net {
	int tap_fd;
	char ifname[IFNAMSIZ];
	char mac[18];
	uint32_t mtu;
	struct agent_addr addrs[BNET_MAX_ADDRS];
	size_t naddrs;
	struct agent_addr gw;
	bool has_gw;
};

/* The interface podman or CNI made: the first Ethernet link that is
 * neither loopback nor ours. */
static struct rtnl_link *bnet_find_link(struct nl_cache *links)
{
	for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(l);

		if (rtnl_link_get_arptype(l) == ARPHRD_ETHER && name && strcmp(name, BNET_TAP) != 0)
			return l;
	}
	return NULL;
}

static void bnet_addr_cb(struct nl_object *o, void *arg)
{
	struct ctr_bundle_net *n = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)o;
	struct nl_addr *local = rtnl_addr_get_local(a);

	if (n->naddrs >= BNET_MAX_ADDRS || !local || nl_addr_get_family(local) != AF_INET ||
	    nl_addr_get_len(local) != 4)
		return;
	n->addrs[n->naddrs] = (struct agent_addr){ .family = AF_INET,
						    .prefix = (uint8_t)rtnl_addr_get_prefixlen(a) };
	memcpy(n->addrs[n->naddrs].addr, nl_addr_get_binary_addr(local), 4);
	n->naddrs++;
}

static void bnet_route_cb(struct nl_object *o, void *arg)
{
	struct ctr_bundle_net *n = arg;
	struct rtnl_route *r = (struct rtnl_route *)o;
	struct rtnl_nexthop *nh;
	struct nl_addr *dst = rtnl_route_get_dst(r), *gw;

	if (n->has_gw || rtnl_route_get_table(r) != RT_TABLE_MAIN || (dst && nl_addr_get_prefixlen(dst) != 0) ||
	    rtnl_route_get_nnexthops(r) < 1)
		return;
	nh = rtnl_route_nexthop_n(r, 0);
	gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
	if (!gw || nl_addr_get_family(gw) != AF_INET || nl_addr_get_len(gw) != 4)
		return;
	n->gw = (struct agent_addr){ .family = AF_INET };
	memcpy(n->gw.addr, nl_addr_get_binary_addr(gw), 4);
	n->has_gw = true;
}

static int bnet_tap_open(void)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", BNET_TAP);
	/* The virtio-net header lets QEMU pass checksum and GSO offloads. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	return fd;
}

static int bnet_link_up(struct nl_sock *nl, int ifindex, uint32_t mtu)
{
	struct rtnl_link *orig = NULL, *chg = rtnl_link_alloc();
	int r = rtnl_link_get_kernel(nl, ifindex, NULL, &orig);

	if (r == 0) {
		rtnl_link_set_flags(chg, IFF_UP);
		if (mtu)
			rtnl_link_set_mtu(chg, mtu);
		r = rtnl_link_change(nl, orig, chg, 0);
	}
	rtnl_link_put(chg);
	if (orig)
		rtnl_link_put(orig);
	return r;
}

/* ingress qdisc on from, and a rule sending every frame that arrives
 * there out of to. */
static int bnet_redirect(struct nl_sock *nl, int from, int to)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	struct rtnl_cls *cls = NULL;
	struct rtnl_act *act = NULL;
	int r;

	rtnl_tc_set_ifindex(TC_CAST(q), from);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), BNET_INGRESS_HANDLE);
	r = rtnl_tc_set_kind(TC_CAST(q), "ingress");
	if (r == 0)
		r = rtnl_qdisc_add(nl, q, NLM_F_CREATE);
	rtnl_qdisc_put(q);
	if (r < 0 && r != -NLE_EXIST)
		return r;
	cls = rtnl_cls_alloc();
	act = rtnl_act_alloc();
	rtnl_tc_set_ifindex(TC_CAST(cls), from);
	rtnl_tc_set_parent(TC_CAST(cls), BNET_INGRESS_HANDLE);
	rtnl_cls_set_protocol(cls, ETH_P_ALL);
	rtnl_cls_set_prio(cls, 1);
	if ((r = rtnl_tc_set_kind(TC_CAST(cls), "u32")) == 0 &&
	    (r = rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0)) == 0 &&
	    /* without it a matching key leads nowhere: the action never runs */
	    (r = rtnl_u32_set_cls_terminal(cls)) == 0 &&
	    (r = rtnl_tc_set_kind(TC_CAST(act), "mirred")) == 0) {
		rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
		rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
		rtnl_mirred_set_ifindex(act, (uint32_t)to);
		if ((r = rtnl_u32_add_action(cls, act)) == 0)
			r = rtnl_cls_add(nl, cls, NLM_F_CREATE | NLM_F_EXCL);
	}
	rtnl_act_put(act);
	rtnl_cls_put(cls);
	return r;
}

static int bnet_setup(struct nl_sock *nl, struct ctr_bundle_net *n, struct err *err)
{
	struct nl_cache *links = NULL, *addrs = NULL, *routes = NULL;
	struct rtnl_link *l;
	struct nl_addr *mac;
	int r, eth, tap;

	if ((r = rtnl_link_alloc_cache(nl, AF_UNSPEC, &links)) < 0) {
		err_set(err, EIO, "listing links: %s", nl_geterror(r));
		goto out;
	}
	if (!(l = bnet_find_link(links))) {
		r = -ENODEV;	/* only loopback (podman --network none): no network */
		goto out;
	}
	eth = rtnl_link_get_ifindex(l);
	snprintf(n->ifname, sizeof(n->ifname), "%s", rtnl_link_get_name(l));
	n->mtu = rtnl_link_get_mtu(l);
	mac = rtnl_link_get_addr(l);
	if (!mac || nl_addr_get_len(mac) != 6) {
		r = err_set(err, EINVAL, "%s has no MAC address", n->ifname);
		goto out;
	}
	const uint8_t *m = nl_addr_get_binary_addr(mac);
	snprintf(n->mac, sizeof(n->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	if ((r = rtnl_addr_alloc_cache(nl, &addrs)) < 0 || (r = rtnl_route_alloc_cache(nl, AF_INET, 0, &routes)) < 0) {
		err_set(err, EIO, "listing addresses and routes: %s", nl_geterror(r));
		goto out;
	}
	struct rtnl_addr *want_a = rtnl_addr_alloc();
	rtnl_addr_set_ifindex(want_a, eth);
	nl_cache_foreach_filter(addrs, OBJ_CAST(want_a), bnet_addr_cb, n);
	rtnl_addr_put(want_a);
	nl_cache_foreach(routes, bnet_route_cb, n);
	n->tap_fd = bnet_tap_open();
	if (n->tap_fd < 0) {
		r = err_setx(err, n->tap_fd, "creating tap " BNET_TAP);
		goto out;
	}
	tap = (int)if_nametoindex(BNET_TAP);
	if (!tap || (r = bnet_link_up(nl, tap, n->mtu)) < 0 || (r = bnet_redirect(nl, eth, tap)) < 0 ||
	    (r = bnet_redirect(nl, tap, eth)) < 0) {
		r = err_set(err, EIO, "joining " BNET_TAP " to %s with tc redirect: %s", n->ifname,
			    tap ? nl_geterror(r) : "tap vanished");
		goto out;
	}
	log_debug("network namespace: %s (%s, %zu addresses%s) joined to the VM's tap", n->ifname, n->mac,
		  n->naddrs, n->has_gw ? ", default route" : "");
	r = 0;
out:
	if (routes)
		nl_cache_free(routes);
	if (addrs)
		nl_cache_free(addrs);
	if (links)
		nl_cache_free(links);
	return r;
}

int ctr_bundle_net_open(const char *netns, struct ctr_bundle_net **out, struct err *err)
{
	struct ctr_bundle_net *n = xcalloc(1, sizeof(*n));
	struct nl_sock *nl = NULL;
	int fd, r;

	n->tap_fd = -1;
	fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = err_setx(err, errno, "network namespace %s", netns);
		goto fail;
	}
	/* This whole process moves: QEMU, spawned later, inherits it, and
	 * nothing here uses the host's network afterwards. */
	r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		err_setx(err, r, "entering network namespace %s", netns);
		goto fail;
	}
	nl = nl_socket_alloc();
	if (!nl || nl_connect(nl, NETLINK_ROUTE) < 0) {
		r = err_set(err, EIO, "netlink in %s", netns);
		goto fail;
	}
	*out = NULL;
	r = bnet_setup(nl, n, err);
	nl_socket_free(TAKE_PTR(nl));
	if (r == -ENODEV) {
		ctr_bundle_net_close(n);
		return 0;
	}
	if (r < 0) {
		err_wrap(err, "network namespace %s", netns);
		goto fail;
	}
	*out = n;
	return 0;
fail:
	if (nl)
		nl_socket_free(nl);
	ctr_bundle_net_close(n);
	return r < 0 ? r : -EIO;
}

void ctr_bundle_net_close(struct ctr_bundle_net *n)
{
	if (!n)
		return;
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	free(n);
}

void ctr_bundle_net_vm(const struct ctr_bundle_net *n, struct vm_config *vc)
{
	if (!n)
		return;
	vc->mac = n->mac;
	vc->tap_fd = n->tap_fd;
}

void ctr_bundle_net_agent(const struct ctr_bundle_net *n, struct agent_config *ac)
{
	if (!n)
		return;
	ac->ifname = "eth0";
	ac->addrs = n->addrs;
	ac->naddrs = n->naddrs;
	ac->gateway = n->has_gw ? &n->gw : NULL;
	ac->mtu = n->mtu;
}
