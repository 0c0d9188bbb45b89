/* One VM's network: a lease, a tap enslaved to the bridge, the filter.
 * net_vm_create undoes its own steps on failure; net_vm_destroy undoes
 * them all and tolerates a half-built or zeroed net_vm. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "net/net-internal.h"

static int vm_dns(struct net_vm *v, const struct net_host *h, const struct net_vm_opts *o,
		  struct err *err)
{
	if (o->ndns == 0) {
		v->ndns = h->ndns;
		memcpy(v->dns, h->dns, sizeof(v->dns));
		return 0;
	}
	if (o->ndns > NET_MAX_DNS)
		return err_set(err, E2BIG, "at most %d DNS servers", NET_MAX_DNS);
	for (unsigned i = 0; i < o->ndns; i++) {
		struct in6_addr a6;
		struct in_addr a4;

		if (inet_pton(AF_INET, o->dns[i], &a4) != 1 &&
		    inet_pton(AF_INET6, o->dns[i], &a6) != 1)
			return err_set(err, EINVAL, "DNS server \"%.60s\" is not an IP address",
				       o->dns[i]);
		snprintf(v->dns[i], sizeof(v->dns[i]), "%s", o->dns[i]);
	}
	v->ndns = o->ndns;
	return 0;
}

static int vm_tap(struct net_vm *v, const struct net_host *h, struct err *err)
{
	int ifindex, r;

	v->tap_fd = netl_tap_open(v->ifname, &v->vnet_hdr);
	if (v->tap_fd < 0)
		return err_setx(err, -v->tap_fd, "creating tap %s", v->ifname);
	ifindex = (int)if_nametoindex(v->ifname);
	if (ifindex == 0)
		return err_setx(err, errno, "looking up tap %s", v->ifname);
	r = netl_link_up(h->nl, ifindex, h->bridge_ifindex, h->mtu);
	if (r < 0)
		return err_setx(err, -r, "attaching %s to %s", v->ifname, h->bridge);
	return filter_attach(ifindex, v->mac, v->addr, &v->policy, &v->filter, err);
}

int net_vm_create(struct net_host *h, const struct net_vm_opts *o, struct net_vm *v,
		  struct err *err)
{
	struct in_addr want = { 0 };
	struct net_lease lease;
	int r;

	memset(v, 0, sizeof(*v));
	v->tap_fd = -1;
	if (o->ip && net_parse_ip4(o->ip, &want) < 0)
		return err_set(err, EINVAL, "--ip \"%.60s\" is not an IPv4 address", o->ip);
	if (o->policy)
		v->policy = *o->policy;
	r = vm_dns(v, h, o, err);
	if (r < 0)
		return r;
	/* Ports first: a port already taken fails before anything else is
	 * made, and before the VM boots. */
	r = ports_reserve(v, o->ports, o->nports, err);
	if (r < 0) {
		ports_release(v);
		return r;
	}
	r = ipam_acquire(h, o->owner, want, &lease, err);
	if (r < 0) {
		ports_release(v);
		return r;
	}
	v->host = h;
	v->owner = xstrdup(o->owner);
	v->addr = lease.addr;
	v->gateway = h->gateway;
	v->prefix = h->prefix;
	v->mtu = h->mtu;
	snprintf(v->ifname, sizeof(v->ifname), "%s", lease.ifname);
	inet_ntop(AF_INET, &v->addr, v->addr_str, sizeof(v->addr_str));
	inet_ntop(AF_INET, &v->gateway, v->gateway_str, sizeof(v->gateway_str));
	net_mac_for(v->addr, v->mac);
	snprintf(v->mac_str, sizeof(v->mac_str), "%02x:%02x:%02x:%02x:%02x:%02x", v->mac[0],
		 v->mac[1], v->mac[2], v->mac[3], v->mac[4], v->mac[5]);
	r = vm_tap(v, h, err);
	if (r == 0)
		r = ports_record(v, err);
	if (r < 0) {
		net_vm_destroy(v);
		return err_wrap(err, "network of %s", o->owner);
	}
	log_debug("net: %s gets %s/%u on %s (%s)", o->owner, v->addr_str, v->prefix, v->ifname,
		  v->mac_str);
	return 0;
}

void net_vm_destroy(struct net_vm *v)
{
	int r;

	if (!v->host)
		return;
	ports_release(v);
	filter_detach(v->filter);
	v->filter = NULL;
	if (v->tap_fd >= 0)
		close(v->tap_fd);
	v->tap_fd = -1;
	/* QEMU may still hold the tap: delete it by name so it goes now. */
	r = netl_link_del(v->host->nl, v->ifname);
	if (r < 0 && r != -ENODEV)
		log_warn("net: deleting %s: %s", v->ifname, strerror(-r));
	r = ipam_release(v->host, v->addr);
	if (r < 0)
		log_warn("net: releasing %s: %s", v->addr_str, strerror(-r));
	free(v->owner);
	v->owner = NULL;
	v->host = NULL;
}

int net_vm_stats(const struct net_vm *v, struct net_stats *s)
{
	if (!v->filter)
		return -ENOENT;
	return filter_stats(v->filter, s);
}
