/* The network module's orchestration: the host side (bridge, subnet, NAT,
 * DNS defaults, garbage collection) and one VM's network (lease, tap,
 * filter, published ports). The pieces live in link.c, ipam.c, nat.c,
 * ports.c and filter.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <netlink/socket.h>

#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "net/net-internal.h"

static void host_dns_defaults(struct net_host *h, const char *path)
{
	static const char *const fallbacks[] = { "/etc/resolv.conf",
		/* systemd-resolved's upstream list, when /etc has only its stub */
		"/run/systemd/resolve/resolv.conf" };
	size_t tries = path ? 1 : ARRAY_SIZE(fallbacks);

	h->ndns = 0;
	for (size_t i = 0; i < tries && h->ndns == 0; i++) {
		_cleanup_free_ char *text = NULL;
		const char *p = path ? path : fallbacks[i];

		if (read_file_at(AT_FDCWD, p, 1 << 16, &text, NULL) == 0)
			h->ndns = net_resolv_parse(text, h->dns, NET_MAX_DNS);
	}
	if (h->ndns == 0)
		log_debug("net: no usable nameserver on the host; guests get no DNS by default");
}

/* 10.88.0.0/16 unless some route or address on the host overlaps it, then
 * 10.89.0.0/16 and so on. */
static int pick_subnet(struct net_host *h, int skip_ifindex, struct err *err)
{
	for (unsigned b = 88; b < 256; b++) {
		struct in_addr net = { .s_addr = htonl(10u << 24 | b << 16) };
		int r = netl_subnet_in_use(h->nl, net, 16, skip_ifindex);

		if (r < 0)
			return err_setx(err, -r, "reading the host's routes");
		if (r == 0) {
			h->subnet = net;
			h->prefix = 16;
			return 0;
		}
	}
	return err_set(err, EADDRINUSE, "no free 10.X.0.0/16 subnet for %s; pass one", h->bridge);
}

static int host_subnet(struct net_host *h, const struct net_host_opts *o, int ifindex,
		       struct err *err)
{
	struct in_addr cur, want;
	unsigned cur_prefix, want_prefix = 0;
	int r;

	if (o->subnet && (net_parse_cidr(o->subnet, &want, &want_prefix) < 0 ||
			  want_prefix < 8 || want_prefix > 30))
		return err_set(err, EINVAL, "subnet \"%.60s\": want a.b.c.d/8../30 with host bits zero",
			       o->subnet);
	r = ifindex ? netl_addr4_get(h->nl, ifindex, &cur, &cur_prefix) : 0;
	if (r < 0)
		return err_setx(err, -r, "reading %s's addresses", h->bridge);
	if (r > 0) {
		/* The bridge already carries a subnet: it is the truth. */
		uint32_t m;

		if (cur_prefix < 8 || cur_prefix > 30)
			return err_set(err, EINVAL, "bridge %s has a /%u address; want /8../30",
				       h->bridge, cur_prefix);
		m = net_mask(cur_prefix);

		h->gateway = cur;
		h->prefix = cur_prefix;
		h->subnet.s_addr = cur.s_addr & m;
		if (o->subnet && (want.s_addr != h->subnet.s_addr || want_prefix != cur_prefix))
			return err_set(err, EEXIST, "bridge %s already has another subnet than %s",
				       h->bridge, o->subnet);
		return 0;
	}
	if (o->subnet) {
		r = netl_subnet_in_use(h->nl, want, want_prefix, ifindex);
		if (r < 0)
			return err_setx(err, -r, "reading the host's routes");
		if (r > 0)
			return err_set(err, EADDRINUSE, "subnet %s is already used on this host",
				       o->subnet);
		h->subnet = want;
		h->prefix = want_prefix;
	} else if ((r = pick_subnet(h, ifindex, err)) < 0) {
		return r;
	}
	h->gateway.s_addr = htonl(ntohl(h->subnet.s_addr) + 1);
	return 1;	/* the bridge needs its gateway address */
}

/* Under the state lock, so that concurrent first runs agree on one bridge. */
static int host_bridge(struct net_host *h, const struct net_host_opts *o, struct err *err)
{
	int ifindex = netl_ifindex(h->nl, h->bridge), r;

	if (ifindex < 0)
		return err_setx(err, -ifindex, "looking up %s", h->bridge);
	int need_addr = host_subnet(h, o, ifindex, err);

	if (need_addr < 0)
		return need_addr;
	if (o->existing) {
		if (need_addr)
			return err_set(err, EADDRNOTAVAIL, "bridge %s has no IPv4 address", h->bridge);
		h->bridge_ifindex = ifindex;
		return 0;
	}
	if (!ifindex) {
		uint8_t mac[6];

		net_mac_for(h->gateway, mac);
		r = netl_bridge_create(h->nl, h->bridge, h->mtu, mac);
		if (r < 0)
			return err_setx(err, -r, "creating bridge %s", h->bridge);
		ifindex = netl_ifindex(h->nl, h->bridge);
		if (ifindex <= 0)
			return err_set(err, ENODEV, "bridge %s vanished after creation", h->bridge);
	}
	if (need_addr) {
		r = netl_addr4_add(h->nl, ifindex, h->gateway, h->prefix);
		if (r < 0)
			return err_setx(err, -r, "adding the gateway address to %s", h->bridge);
	}
	r = netl_link_up(h->nl, ifindex, 0, h->mtu);
	if (r < 0)
		return err_setx(err, -r, "bringing %s up", h->bridge);
	h->bridge_ifindex = ifindex;
	return 0;
}

int net_host_open(struct net_host *h, const struct net_host_opts *o, struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	const char *br = o->bridge ? o->bridge : NET_DEFAULT_BRIDGE;
	int r, lock;

	memset(h, 0, sizeof(*h));
	h->state_fd = -1;
	if (!br[0] || strlen(br) >= NET_IFNAMSIZ || str_startswith(br, NET_TAP_PREFIX))
		return err_set(err, EINVAL, "bridge name \"%.40s\": 1-15 characters, not %s*",
			       br, NET_TAP_PREFIX);
	snprintf(h->bridge, sizeof(h->bridge), "%s", br);
	h->mtu = o->mtu ? o->mtu : 1500;
	dir = xasprintf("%s/net", o->root);
	r = mkdir_p_at(AT_FDCWD, dir, 0700);
	if (r < 0)
		return err_setx(err, -r, "creating %s", dir);
	h->state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->state_fd < 0)
		return err_setx(err, errno, "opening %s", dir);
	r = netl_open(&h->nl);
	if (r < 0) {
		net_host_close(h);
		return err_setx(err, -r, "opening rtnetlink");
	}
	lock = ipam_lock(h->state_fd);
	if (lock < 0) {
		net_host_close(h);
		return err_setx(err, -lock, "locking %s", dir);
	}
	r = host_bridge(h, o, err);
	if (r == 0 && !o->no_nat && !o->existing) {
		_cleanup_free_ struct net_port_entry *ports = NULL;
		size_t np = 0;

		/* The recorded ports stay published (net_gc below drops the
		 * dead ones); a bad record must not block the network. */
		if (ports_load(h->state_fd, &ports, &np) < 0)
			np = 0;
		r = nat_setup(h, ports, np, err);
		h->nat = r == 0;
	} else if (r == 0 && o->existing && !o->no_nat) {
		/* network prune adopts the bridge: its gc may still take dead
		 * containers' ports out of the table. */
		h->nat = nat_present(h);
	}
	close(lock);
	if (r == 0 && !o->existing)
		r = net_gc(h, NULL, err);
	if (r < 0) {
		net_host_close(h);
		return r;
	}
	host_dns_defaults(h, o->resolv_conf);
	return 0;
}

void net_host_close(struct net_host *h)
{
	if (h->nl)
		nl_socket_free(h->nl);
	h->nl = NULL;
	if (h->state_fd >= 0)
		close(h->state_fd);
	h->state_fd = -1;
}

/* "ucrt-0a580002" -> 10.88.0.2; 0 when the name is not one of ours. */
static uint32_t tap_addr(const char *name)
{
	const char *hex = name + strlen(NET_TAP_PREFIX);
	uint32_t v = 0;

	if (!str_startswith(name, NET_TAP_PREFIX) || strlen(hex) != 8 || !str_is_hex(hex, 8))
		return 0;
	sscanf(hex, "%8x", &v);
	return htonl(v);
}

int net_gc(struct net_host *h, unsigned *removed, struct err *err)
{
	_cleanup_strv_ char **live = NULL, **links = NULL;
	/* Held until the taps are judged: a process taking a lease between
	 * the lease scan and the link scan would otherwise lose its new tap. */
	_cleanup_close_ int lock = ipam_lock(h->state_fd);
	unsigned n = 0;
	uint32_t m = net_mask(h->prefix);
	int r;

	if (lock < 0)
		return err_setx(err, -lock, "locking the lease file");
	r = ipam_gc(h, &n, &live);
	if (r < 0)
		return err_setx(err, -r, "cleaning stale leases");
	{
		_cleanup_free_ struct net_lease *leases = NULL;
		size_t nl = 0;

		r = ipam_load(h->state_fd, &leases, &nl);
		if (r == 0)
			r = ports_gc(h, leases, nl, &n);
		if (r < 0)
			log_warn("net: cleaning stale published ports: %s", strerror(-r));
	}
	r = netl_links_with_prefix(h->nl, NET_TAP_PREFIX, &links);
	if (r < 0)
		return err_setx(err, -r, "listing links");
	for (size_t i = 0; links && links[i]; i++) {
		uint32_t a = tap_addr(links[i]);
		bool owned = false;

		/* Only taps of this bridge's subnet are ours to judge. */
		if (!a || (a & m) != h->subnet.s_addr)
			continue;
		for (size_t j = 0; live && live[j] && !owned; j++)
			owned = strcmp(live[j], links[i]) == 0;
		if (owned)
			continue;
		r = netl_link_del(h->nl, links[i]);
		if (r < 0 && r != -ENODEV)
			log_warn("net: cannot delete stale tap %s: %s", links[i], strerror(-r));
		else
			n++;
	}
	if (n)
		log_debug("net: cleaned %u leftovers of earlier runs", n);
	if (removed)
		*removed = n;
	return 0;
}

int net_host_remove(struct net_host *h, struct err *err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	_cleanup_close_ int lock = -1;
	size_t n;
	int r = net_gc(h, NULL, err);

	if (r < 0)
		return r;
	r = ipam_lock_load(h->state_fd, &lock, &v, &n, err);
	if (r < 0)
		return r;
	if (n)
		return err_set(err, EBUSY, "%zu containers still use %s", n, h->bridge);
	r = netl_link_del(h->nl, h->bridge);
	if (r < 0 && r != -ENODEV)
		return err_setx(err, -r, "deleting %s", h->bridge);
	r = nat_remove(h, err);
	return r == -ENOTSUP ? 0 : r;
}
