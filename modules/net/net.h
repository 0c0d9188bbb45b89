/* modules/net: a dedicated IPv4 address per VM on a host bridge.
 *
 * The host side (net_host_open) owns a bridge (default "ucrt0", gateway
 * .1 of its subnet), outbound NAT through nftables and IP forwarding. Each
 * VM (net_vm_create) gets a lease from the IPAM file under
 * <root>/net/, a tap device "ucrt-<hex ip>" enslaved to the bridge whose fd
 * goes to QEMU, a MAC derived from its address, and an eBPF filter on the
 * tap's tc hooks: anti-spoofing, the egress policy, counters.
 *
 * These calls are blocking setup steps (netlink round trips to the local
 * kernel, a short flock, loading a BPF program): run them before a VM is
 * launched or from a fiber, not from a reactor callback. docs/network.md
 * describes the model. */
#ifndef UCRT_NET_H
#define UCRT_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct check_report;
struct err;
struct nl_sock;
struct net_filter_handle;

#define NET_DEFAULT_BRIDGE "ucrt0"
#define NET_DEFAULT_SUBNET "10.88.0.0/16"
#define NET_TAP_PREFIX "ucrt-"
#define NET_MAX_DNS 3
#define NET_IFNAMSIZ 16

/* ---- addresses and parsers (no privileges needed) ---- */

/* "a.b.c.d/len" -> network address (host bits must be zero) and length. */
int net_parse_cidr(const char *s, struct in_addr *net, unsigned *prefix);
/* Dotted quad only (no shorthand forms like "10.1"). */
int net_parse_ip4(const char *s, struct in_addr *out);

enum net_policy_mode { NET_POLICY_ALLOW_ALL, NET_POLICY_DENY_ALL, NET_POLICY_ALLOW_LIST };
#define NET_POLICY_MAX_RULES 32

struct net_rule {
	struct in_addr net;	/* network order, host bits zero */
	unsigned prefix;	/* 0..32 */
	uint16_t port;		/* TCP/UDP destination port; 0 = any protocol and port */
};

struct net_policy {
	enum net_policy_mode mode;
	unsigned nrules;
	struct net_rule rules[NET_POLICY_MAX_RULES];
};

/* "allow-all", "deny-all" or "allow=CIDR[:PORT],..." (a bare address means
 * /32). Fills err with the offending item. */
int net_policy_parse(const char *s, struct net_policy *p, struct err *err);
/* Canonical text of p (the grammar above), for inspect. */
void net_policy_format(const struct net_policy *p, char *buf, size_t len);

/* A published port (-p): host address:port -> the VM's port. */
struct net_port {
	struct in_addr host_ip;	/* network order; 0: every address of the host */
	uint16_t host_port;	/* 0: a free one, picked when published */
	uint16_t ctr_port;	/* 1..65535 */
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
};

/* docker's -p grammar: "[IP:][HOSTPORT:]CTRPORT[/tcp|udp]" ("IP::CTRPORT"
 * and "CTRPORT" pick a free host port). IPv4 only, no port ranges. */
int net_port_parse(const char *s, struct net_port *p, struct err *err);
/* Canonical text of p, parsed back by net_port_parse ("[IP:]HOST:CTR/proto",
 * "CTR/proto" for a free port on every address). len >= 40 always fits. */
void net_port_format(const struct net_port *p, char *buf, size_t len);
const char *net_proto_name(uint8_t proto);

/* Nameservers of a resolv.conf text, skipping loopback stub resolvers
 * (127.0.0.0/8, ::1). Returns how many were stored (at most max). */
unsigned net_resolv_parse(const char *text, char out[][INET6_ADDRSTRLEN], unsigned max);

/* ---- the host side ---- */

struct net_host_opts {
	const char *root;	/* store root; state lives in <root>/net (required) */
	const char *bridge;	/* NULL: NET_DEFAULT_BRIDGE */
	const char *subnet;	/* NULL: the bridge's current one, else
				 * 10.88.0.0/16 or the first free 10.X.0.0/16 */
	unsigned mtu;		/* 0: 1500 */
	bool no_nat;		/* skip masquerade and ip_forward */
	bool existing;		/* only adopt an existing bridge (-ENODEV when
				 * missing); change nothing, collect nothing */
	const char *resolv_conf;	/* NULL: /etc/resolv.conf (DNS defaults) */
};

struct net_host {
	char bridge[NET_IFNAMSIZ];
	int bridge_ifindex;
	struct in_addr subnet;	/* network address */
	unsigned prefix;
	struct in_addr gateway;	/* the bridge's address: first host of the subnet */
	unsigned mtu;
	unsigned ndns;		/* default DNS servers for guests */
	char dns[NET_MAX_DNS][INET6_ADDRSTRLEN];
	int state_fd;		/* <root>/net */
	struct nl_sock *nl;
	bool nat;		/* ucrt's nftables table is in place (ports need it) */
};

/* Ensure the bridge (created if missing, addressed, up), NAT, forwarding;
 * then clean leftovers of dead ucrt processes (net_gc). With
 * o->existing, only adopt the bridge as it is. */
int net_host_open(struct net_host *h, const struct net_host_opts *o, struct err *err);
void net_host_close(struct net_host *h);

/* Drop leases whose owner process is gone, published ports whose lease
 * is gone (and their DNAT rules), and delete "ucrt-*" taps that no live
 * lease owns. *removed (may be NULL) counts them all. */
int net_gc(struct net_host *h, unsigned *removed, struct err *err);

/* Delete the bridge and the NAT table (e.g. `ucrt system reset`); leases
 * of live owners make it fail with -EBUSY. */
int net_host_remove(struct net_host *h, struct err *err);

/* ---- one VM ---- */

struct net_vm_opts {
	const char *owner;	/* container id, recorded with the lease (required) */
	const char *ip;		/* NULL: the lowest free address; else this one */
	const struct net_policy *policy;	/* NULL: allow-all */
	unsigned ndns;		/* >0: these DNS servers instead of the host's */
	const char *const *dns;
	const struct net_port *ports;	/* published to the VM's address (-p) */
	size_t nports;
};

/* Counters of one VM's filter. tx = sent by the VM, rx = sent to it. */
struct net_stats {
	uint64_t tx_packets, tx_bytes;
	uint64_t rx_packets, rx_bytes;
	uint64_t drop_spoof;	/* forged source MAC/IP (ARP included) */
	uint64_t drop_policy;	/* refused by the egress policy */
	uint64_t drop_proto;	/* protocols the VM may not send (IPv6, VLAN...) */
	uint64_t drop_rx;	/* frames for other MACs, not delivered */
};

/* What the VM and its guest need. QEMU takes the tap as
 *   -netdev tap,id=n0,fd=<tap_fd>   (QEMU probes IFF_VNET_HDR itself)
 *   -device virtio-net-device,netdev=n0,mac=<mac_str>
 * (the fd must be inherited: it is O_CLOEXEC here). The guest's CONFIG
 * message carries addr/prefix, gateway, mtu and dns. */
struct net_vm {
	char ifname[NET_IFNAMSIZ];
	int tap_fd;		/* owned; the tap vanishes when every holder closes it */
	bool vnet_hdr;		/* frames on tap_fd carry a virtio_net_hdr */
	uint8_t mac[6];
	char mac_str[18];
	struct in_addr addr;
	char addr_str[INET_ADDRSTRLEN];
	struct in_addr gateway;
	char gateway_str[INET_ADDRSTRLEN];
	unsigned prefix;
	unsigned mtu;
	unsigned ndns;
	char dns[NET_MAX_DNS][INET6_ADDRSTRLEN];
	struct net_policy policy;
	char *owner;
	struct net_host *host;
	struct net_filter_handle *filter;
	/* Published ports (host_port filled in) and the sockets that hold
	 * them on the host while the VM lives (docs/network.md). */
	struct net_port *ports;
	size_t nports;
	int *port_fds;
};

/* Reserve the published ports (a port already taken fails here, naming
 * it), lease an address, create the tap, enslave it, attach the filter,
 * add the ports' DNAT rules. On failure nothing is left behind. h must
 * outlive v. */
int net_vm_create(struct net_host *h, const struct net_vm_opts *o, struct net_vm *v,
		  struct err *err);
/* Detach, delete the tap, release the lease. Safe on a zeroed/failed vm. */
void net_vm_destroy(struct net_vm *v);

int net_vm_stats(const struct net_vm *v, struct net_stats *s);
/* The same, from any process: finds the filter attached to ifname's tc
 * hooks (in the caller's network namespace) and reads its counters. */
int net_stats_read(const char *ifname, struct net_stats *s);

/* Can ports be published now? Binds each (host_port 0 skipped) and lets
 * go at once: the CLI's early answer before a detached container starts
 * (the container's owner binds them again for real). */
int net_ports_check(const struct net_port *p, size_t n, struct err *err);

/* A published port as recorded under <root>/net/ports. */
struct net_port_entry {
	struct net_port port;
	struct in_addr ctr_ip;
	char owner[65];
};
/* The ports owner publishes while its lease is alive (for `ucrt port`,
 * inspect). *out is malloc'ed. */
int net_ports_list(const char *root, const char *owner, struct net_port_entry **out, size_t *n);

/* ---- leases (for ps/inspect) ---- */

struct net_lease {
	struct in_addr addr;
	char owner[65];
	pid_t pid;		/* process holding it */
	uint64_t pid_start;	/* its start time (ticks since boot): pid reuse guard */
	char ifname[NET_IFNAMSIZ];
};

/* All leases recorded under root, live or not. *out is malloc'ed. */
int net_lease_list(const char *root, struct net_lease **out, size_t *n);
/* Is the lease's owner process still the one that took it? */
bool net_lease_alive(const struct net_lease *l);

/* ---- consistency check (check.c, `ucrt system check`) ---- */
struct net_check_stats {
	unsigned leases, tables;	/* checked */
};
/* Leases under root whose owner died and the taps they name, and NAT
 * tables of bridges that are gone. With repair: drop, delete. Each
 * problem goes to rep (core/check.h) and adds to its counts. */
int net_check(const char *root, bool repair, struct check_report *rep, struct net_check_stats *st, struct err *err);

/* ---- user-mode networking (user.c; no privileges needed) ---- */

/* What the guest is told with --network user, whichever backend: passt
 * or QEMU's slirp (vm.h VM_NETDEV_USER uses the same numbers). */
#define NET_USER_ADDR "10.0.2.15"
#define NET_USER_PREFIX 24
#define NET_USER_GATEWAY "10.0.2.2"	/* connections to it reach the host's loopback */
#define NET_USER_DNS "10.0.2.3"		/* forwarded to the host's resolver */
#define NET_USER_MAC "02:75:0a:00:02:0f"
#define NET_USER_MTU 1500

/* Start passt for one VM on a socketpair: *qemu_fd is QEMU's end (-netdev
 * stream), passt exits when it closes. extra: more arguments (forwards). passt: a name or path; NULL:
 * $UCRT_PASST, else passt on PATH; "none": no passt. log (may be NULL):
 * passt's errors are appended there. Returns 1 when passt runs, 0 when
 * there is none (the caller falls back to QEMU's slirp), -errno with err
 * set when a passt that was asked for is missing or does not start. */
int net_passt_start(const char *passt, const char *log, char *const *extra, int *qemu_fd, struct err *err);
/* The -p forwards of user mode, each with its host port given: passt's
 * "-t"/"-u" arguments (argv) or slirp's ",hostfwd=..." options (one
 * string). -EINVAL with err set for a port without a host port. */
int net_user_forwards(const struct net_port *p, size_t n, char ***passt_args, char **slirp,
		      struct err *err);

#endif
