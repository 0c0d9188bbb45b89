/* Layout shared by the per-VM tc filter (filter.bpf.c) and its loader
 * (modules/net/filter.c). Plain fixed-width types only: this header is
 * compiled both for -target bpf and for the host. */
#ifndef UCRT_NET_FILTER_COMMON_H
#define UCRT_NET_FILTER_COMMON_H

#define NET_BPF_MAX_RULES 32

/* Egress policy modes (rodata policy_mode). */
#define NET_BPF_ALLOW_ALL 0
#define NET_BPF_DENY_ALL 1
#define NET_BPF_ALLOW_LIST 2

/* One allow rule: daddr & mask == net (network byte order), and when port
 * is non-zero, a TCP or UDP destination port (host order). */
struct net_bpf_rule {
	__u32 net;
	__u32 mask;
	__u16 port;
	__u16 pad;
};

/* Per-CPU counters, index 0 of the "stats" map. tx = from the VM (the tap's
 * ingress hook), rx = to the VM (the tap's egress hook). */
struct net_bpf_stats {
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 drop_spoof;	/* wrong source MAC or IP, ARP included */
	__u64 drop_policy;	/* refused by the egress policy */
	__u64 drop_proto;	/* ethertype the VM may not send (IPv6, VLAN...) */
	__u64 drop_rx;		/* frames for another MAC (bridge flooding) */
};

/* Reply tracking: a flow seen going TO the VM lets the VM answer it under a
 * restrictive policy. Key from the VM's point of view on the way out. */
struct net_bpf_flow {
	__u32 peer;		/* remote address */
	__u16 peer_port;	/* remote port (0 for ICMP) */
	__u16 local_port;	/* the VM's port (0 for ICMP) */
	__u8 proto;
	__u8 pad[3];
};

#endif
