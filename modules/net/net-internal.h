/* Private to modules/net. */
#ifndef UCRT_NET_INTERNAL_H
#define UCRT_NET_INTERNAL_H

#include "net/net.h"

struct nl_sock;

/* Netmask of a /prefix, in network byte order (/0 -> 0). */
static inline uint32_t net_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : htonl(~(uint32_t)0 << (32 - prefix));
}

/* ---- link.c: rtnetlink through libnl-route-3 ---- */
int netl_open(struct nl_sock **out);
/* ifindex of name, 0 when absent, -errno on failure. */
int netl_ifindex(struct nl_sock *nl, const char *name);
int netl_bridge_create(struct nl_sock *nl, const char *name, unsigned mtu, const uint8_t mac[6]);
/* First IPv4 address on ifindex: 1 and fills, 0 when none. */
int netl_addr4_get(struct nl_sock *nl, int ifindex, struct in_addr *a, unsigned *prefix);
int netl_addr4_add(struct nl_sock *nl, int ifindex, struct in_addr a, unsigned prefix);
int netl_link_up(struct nl_sock *nl, int ifindex, int master, unsigned mtu);
int netl_link_del(struct nl_sock *nl, const char *name);
/* Is net/prefix overlapping any IPv4 route or address on the host
 * (default routes aside), not counting interface skip_ifindex? */
int netl_subnet_in_use(struct nl_sock *nl, struct in_addr net, unsigned prefix, int skip_ifindex);
/* Names of links starting with prefix (NULL-terminated strv). */
int netl_links_with_prefix(struct nl_sock *nl, const char *prefix, char ***out);
/* Open /dev/net/tun as a (non-persistent) tap named name. */
int netl_tap_open(const char *name, bool *vnet_hdr);

/* ---- ipam.c: leases in <root>/net/leases, guarded by <root>/net/lock ---- */
/* flock <root>/net/lock; returns the fd to close for unlocking. */
int ipam_lock(int state_fd);
/* Take a lease for owner (this process): want==0 means the lowest free. */
int ipam_acquire(struct net_host *h, const char *owner, struct in_addr want,
		 struct net_lease *out, struct err *err);
/* Read the leases (no lock needed: the file is replaced whole). */
int ipam_load(int state_fd, struct net_lease **v, size_t *n);
/* ipam_lock() then ipam_load(): *lock is the fd to close (>= 0 once
 * locked, also on a read error), err says which step failed. */
int ipam_lock_load(int state_fd, int *lock, struct net_lease **v, size_t *n, struct err *err);
int ipam_release(struct net_host *h, struct in_addr addr);
/* Drop leases of dead owners; fills *live (strv of ifnames still owned).
 * The caller holds ipam_lock(), and keeps holding it while it acts on
 * *live: a lease taken after the list was made would not be in it. */
int ipam_gc(struct net_host *h, unsigned *removed, char ***live);
/* Parse / format the leases file (exposed for the fuzz target). */
int ipam_parse(const char *text, struct net_lease **out, size_t *n);
char *ipam_format(const struct net_lease *l, size_t n);
void net_tap_name(struct in_addr a, char out[NET_IFNAMSIZ]);
void net_mac_for(struct in_addr a, uint8_t mac[6]);

/* ---- ports.c: <root>/net/ports, guarded by <root>/net/lock ---- */
/* One line per published port: "tcp|udp HOSTIP HOSTPORT CTRIP CTRPORT OWNER". */
int ports_parse(const char *text, struct net_port_entry **out, size_t *n);
char *ports_format(const struct net_port_entry *v, size_t n);
int ports_load(int state_fd, struct net_port_entry **v, size_t *n);
/* Under ipam_lock: keep only ports whose (owner, address) has a lease in
 * leases[0..nl); rewrite the file and the nft table when some went. */
int ports_gc(struct net_host *h, const struct net_lease *leases, size_t nl, unsigned *removed);
/* Bind (reserve) / record (+ DNAT) / forget (- DNAT) one VM's ports. */
int ports_reserve(struct net_vm *v, const struct net_port *p, size_t n, struct err *err);
int ports_record(struct net_vm *v, struct err *err);
void ports_release(struct net_vm *v);

/* ---- nat.c: nftables masquerade, ip_forward, published ports ---- */
/* The whole table, with the DNAT rules of ports[0..n), in one transaction. */
int nat_setup(const struct net_host *h, const struct net_port_entry *ports, size_t n,
	      struct err *err);
int nat_remove(const struct net_host *h, struct err *err);
/* Is the bridge's table there (an adopted bridge: may gc rewrite it)? */
bool nat_present(const struct net_host *h);
/* "ucrt_<bridge>" with what nft names refuse replaced by '_'. */
void nat_table_name(const char *bridge, char *out, size_t len);

/* ---- filter.c: the per-VM eBPF program ---- */
int filter_attach(int ifindex, const uint8_t mac[6], struct in_addr ip,
		  const struct net_policy *p, struct net_filter_handle **out, struct err *err);
void filter_detach(struct net_filter_handle *f);
int filter_stats(const struct net_filter_handle *f, struct net_stats *s);

#endif
