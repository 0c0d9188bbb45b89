/* Per-VM packet filter on the VM's tap device (tc clsact).
 *
 * On a tap, frames the VM sends arrive on the tap's INGRESS hook
 * (net_from_vm) and frames for the VM leave through its EGRESS hook
 * (net_to_vm). The loader (modules/net/filter.c) fills the read-only
 * globals before loading, so the verifier sees them as constants.
 *
 * from the VM:  source MAC and IP must be the VM's own (ARP sender fields
 *               too); only ARP and IPv4 may pass; IPv4 then meets the
 *               egress policy, except replies to flows the VM was sent.
 * to the VM:    only frames for its MAC or broadcast/multicast (the bridge
 *               floods unknown unicast to every port), and inbound IPv4
 *               flows are remembered so a restricted VM may answer them.
 * docs/network.md describes the model. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "filter-common.h"

const volatile __u8 vm_mac[ETH_ALEN] = { 0 };
const volatile __u32 vm_ip = 0;		/* network byte order */
const volatile __u32 policy_mode = NET_BPF_ALLOW_ALL;
const volatile __u32 nrules = 0;
const volatile struct net_bpf_rule rules[NET_BPF_MAX_RULES] = { };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_bpf_stats);
} stats SEC(".maps");

/* Bounded: an LRU map forgets the oldest flows instead of failing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct net_bpf_flow);
	__type(value, __u64);
} flows SEC(".maps");

/* ARP for Ethernet/IPv4, fields as bytes: the sender IP is not aligned. */
struct arp_eth4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
} __attribute__((packed));

/* What an IPv4 packet carries, for the policy and the flow table. */
struct pkt4 {
	__u32 saddr, daddr;
	__u16 sport, dport;	/* host order; 0 when unknown */
	__u8 proto;
	__u8 has_ports;
};

enum verdict { V_PASS, V_SPOOF, V_POLICY, V_PROTO };

static __always_inline int mac_is_vm(const __u8 *m)
{
	for (int i = 0; i < ETH_ALEN; i++)
		if (m[i] != vm_mac[i])
			return 0;
	return 1;
}

static __always_inline enum verdict check_arp(struct __sk_buff *skb)
{
	struct arp_eth4 a;
	__u32 spa;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &a, sizeof(a)) < 0)
		return V_PROTO;
	if (a.htype != bpf_htons(1) || a.ptype != bpf_htons(ETH_P_IP) ||
	    a.hlen != ETH_ALEN || a.plen != 4)
		return V_PROTO;
	__builtin_memcpy(&spa, a.spa, 4);
	if (!mac_is_vm(a.sha) || spa != vm_ip)
		return V_SPOOF;
	return V_PASS;
}

/* Parse the IPv4 header and, for the first fragment of TCP/UDP, the ports. */
static __always_inline int load_pkt4(struct __sk_buff *skb, struct pkt4 *p)
{
	struct iphdr ip;
	__be16 ports[2];
	__u32 l4;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return -1;
	if (ip.version != 4 || ip.ihl < 5)
		return -1;
	p->saddr = ip.saddr;
	p->daddr = ip.daddr;
	p->proto = ip.protocol;
	p->sport = p->dport = 0;
	p->has_ports = 0;
	/* Later fragments carry no transport header. */
	if (ip.frag_off & bpf_htons(0x1fff))
		return 0;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return 0;
	l4 = ETH_HLEN + ip.ihl * 4;
	if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) < 0)
		return -1;
	p->sport = bpf_ntohs(ports[0]);
	p->dport = bpf_ntohs(ports[1]);
	p->has_ports = 1;
	return 0;
}

static __always_inline int rule_allows(const struct pkt4 *p)
{
	for (__u32 i = 0; i < NET_BPF_MAX_RULES; i++) {
		if (i >= nrules)
			break;
		if ((p->daddr & rules[i].mask) != rules[i].net)
			continue;
		if (rules[i].port == 0)
			return 1;
		if (p->has_ports && p->dport == rules[i].port)
			return 1;
	}
	return 0;
}

static __always_inline int is_reply(const struct pkt4 *p)
{
	struct net_bpf_flow k = {
		.peer = p->daddr,
		.peer_port = p->dport,
		.local_port = p->sport,
		.proto = p->proto,
	};

	return bpf_map_lookup_elem(&flows, &k) != NULL;
}

static __always_inline enum verdict check_ip4(struct __sk_buff *skb)
{
	struct pkt4 p;

	if (load_pkt4(skb, &p) < 0)
		return V_PROTO;
	if (p.saddr != vm_ip)
		return V_SPOOF;
	if (policy_mode == NET_BPF_ALLOW_ALL)
		return V_PASS;
	if (policy_mode == NET_BPF_ALLOW_LIST && rule_allows(&p))
		return V_PASS;
	return is_reply(&p) ? V_PASS : V_POLICY;
}

SEC("tc")
int net_from_vm(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct net_bpf_stats *st = bpf_map_lookup_elem(&stats, &zero);
	struct ethhdr eth;
	enum verdict v;

	if (!st)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		v = V_PROTO;
	else if (!mac_is_vm(eth.h_source))
		v = V_SPOOF;
	else if (eth.h_proto == bpf_htons(ETH_P_ARP))
		v = check_arp(skb);
	else if (eth.h_proto == bpf_htons(ETH_P_IP))
		v = check_ip4(skb);
	else
		v = V_PROTO;

	switch (v) {
	case V_PASS:
		st->tx_packets++;
		st->tx_bytes += skb->len;
		return TC_ACT_OK;
	case V_SPOOF:
		st->drop_spoof++;
		break;
	case V_POLICY:
		st->drop_policy++;
		break;
	default:
		st->drop_proto++;
		break;
	}
	return TC_ACT_SHOT;
}

/* Remember an inbound flow so the VM may answer it (restrictive policies). */
static __always_inline void track_inbound(struct __sk_buff *skb)
{
	struct net_bpf_flow k = { };
	struct pkt4 p;
	__u64 now;

	if (load_pkt4(skb, &p) < 0 || p.daddr != vm_ip)
		return;
	k.peer = p.saddr;
	k.peer_port = p.sport;
	k.local_port = p.dport;
	k.proto = p.proto;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&flows, &k, &now, BPF_ANY);
}

SEC("tc")
int net_to_vm(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct net_bpf_stats *st = bpf_map_lookup_elem(&stats, &zero);
	struct ethhdr eth;

	if (!st)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return TC_ACT_SHOT;
	/* Group bit set: broadcast or multicast, which the VM may see. */
	if (!(eth.h_dest[0] & 1) && !mac_is_vm(eth.h_dest)) {
		st->drop_rx++;
		return TC_ACT_SHOT;
	}
	if (policy_mode != NET_BPF_ALLOW_ALL && eth.h_proto == bpf_htons(ETH_P_IP))
		track_inbound(skb);
	st->rx_packets++;
	st->rx_bytes += skb->len;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
