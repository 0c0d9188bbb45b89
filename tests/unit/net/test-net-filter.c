/* The per-VM eBPF filter, for real: in a private network namespace, a
 * bridge and taps made by the net module; the test plays the VM by writing
 * raw Ethernet frames into the tap fd (what QEMU does) and watches what
 * reaches a UDP socket on the bridge address and what the counters say. */
#include "t-net.h"

static struct net_host host;
static uint8_t br_mac[6];

static void get_stats(const struct net_vm *v, struct net_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (net_vm_stats(v, s) < 0)
		t_diag("net_vm_stats failed");
}

/* Let the VM ARP for the gateway; the host learns its MAC on the way. */
static int vm_arp_gateway(const struct net_vm *v)
{
	struct t_frame f;

	t_arp(&f, v->mac, v->mac, v->addr, host.gateway);
	if (t_tap_write(v, &f) < 0)
		return 0;
	return t_tap_wait(v, ETH_P_ARP, 0, 2000, NULL);
}

static int vm_send_udp(const struct net_vm *v, const uint8_t mac[6], struct in_addr src,
		       uint16_t sport, uint16_t dport, const char *msg)
{
	struct t_frame f;

	t_udp(&f, br_mac, mac, src, host.gateway, sport, dport, msg);
	return t_tap_write(v, &f);
}

static void test_spoofing(int sock)
{
	struct net_vm v;
	struct net_stats s;
	struct t_frame f;
	uint8_t other_mac[6] = { 0x02, 0x75, 10, 88, 0, 99 };

	if (t_vm_create(&host, "spoof", "allow-all", NULL, &v) < 0) {
		t_ok(0, "vm created");
		return;
	}
	t_streq(v.addr_str, "10.88.0.2", "first lease is 10.88.0.2");
	t_streq(v.mac_str, "02:75:0a:58:00:02", "MAC derived from the address");
	t_ok(v.vnet_hdr, "tap carries the virtio-net header");
	t_ok(vm_arp_gateway(&v), "ARP for the gateway is answered");

	vm_send_udp(&v, v.mac, v.addr, 7000, 5000, "honest");
	t_ok(t_udp_got(sock, "honest", 2000), "datagram from the VM's own MAC+IP arrives");

	vm_send_udp(&v, other_mac, v.addr, 7000, 5000, "forged-mac");
	t_ok(!t_udp_got(sock, "forged-mac", 300), "forged source MAC is dropped");
	vm_send_udp(&v, v.mac, t_ip("10.88.0.99"), 7000, 5000, "forged-ip");
	t_ok(!t_udp_got(sock, "forged-ip", 300), "forged source IP is dropped");
	/* ARP claiming the gateway's address (cache poisoning). */
	t_arp(&f, v.mac, v.mac, host.gateway, t_ip("10.88.0.3"));
	t_tap_write(&v, &f);
	/* ARP whose sender MAC differs from the frame's. */
	t_arp(&f, v.mac, other_mac, v.addr, host.gateway);
	t_tap_write(&v, &f);
	/* IPv6 is not offered to VMs. */
	t_eth(&f, br_mac, v.mac, ETH_P_IPV6);
	f.len = 60;
	t_tap_write(&v, &f);
	usleep(100 * 1000);

	get_stats(&v, &s);
	t_is(s.drop_spoof, 4, "4 spoofed frames counted");
	t_is(s.drop_proto, 1, "1 IPv6 frame counted as a refused protocol");
	t_is(s.drop_policy, 0, "no policy drops under allow-all");
	t_is(s.tx_packets, 2, "2 frames passed (ARP + datagram)");
	t_ok(s.tx_bytes >= 42 + 48, "tx bytes counted");
	t_ok(s.rx_packets >= 1, "the ARP reply counted as received");

	struct net_stats s2;
	t_is(net_stats_read(v.ifname, &s2), 0, "counters readable through the tap from anywhere");
	t_is(s2.drop_spoof, s.drop_spoof, "same counters both ways");

	char ifname[NET_IFNAMSIZ];
	snprintf(ifname, sizeof(ifname), "%s", v.ifname);
	net_vm_destroy(&v);
	t_is(if_nametoindex(ifname), 0, "tap deleted by net_vm_destroy");
}

static void test_deny_all(int sock)
{
	struct net_vm v;
	struct net_stats s;
	struct t_frame f;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(7001) };

	if (t_vm_create(&host, "deny", "deny-all", NULL, &v) < 0) {
		t_ok(0, "vm created");
		return;
	}
	t_ok(vm_arp_gateway(&v), "deny-all: ARP still works");
	vm_send_udp(&v, v.mac, v.addr, 7001, 5000, "denied");
	t_ok(!t_udp_got(sock, "denied", 300), "deny-all: new outbound datagram dropped");

	/* The host talks first: the VM may answer that flow. */
	to.sin_addr = v.addr;
	sendto(sock, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to));
	t_ok(t_tap_wait(&v, ETH_P_IP, 7001, 2000, &f), "deny-all: inbound datagram delivered");
	vm_send_udp(&v, v.mac, v.addr, 7001, 5000, "reply");
	t_ok(t_udp_got(sock, "reply", 2000), "deny-all: reply to an inbound flow passes");
	vm_send_udp(&v, v.mac, v.addr, 7002, 5000, "other-port");
	t_ok(!t_udp_got(sock, "other-port", 300), "deny-all: another source port is not a reply");

	get_stats(&v, &s);
	t_is(s.drop_policy, 2, "deny-all: 2 policy drops counted");
	t_is(s.drop_spoof, 0, "deny-all: no spoof drops");
	net_vm_destroy(&v);
}

static void test_allow_list(int sock, int sock2)
{
	struct net_vm v;
	struct net_stats s;

	if (t_vm_create(&host, "allow", "allow=10.88.0.1/32:5001,192.0.2.0/24", "10.88.3.7", &v) < 0) {
		t_ok(0, "vm created");
		return;
	}
	t_streq(v.addr_str, "10.88.3.7", "--ip honoured");
	t_ok(vm_arp_gateway(&v), "allow-list: ARP works");
	vm_send_udp(&v, v.mac, v.addr, 7003, 5001, "listed");
	t_ok(t_udp_got(sock2, "listed", 2000), "allow-list: listed address:port passes");
	vm_send_udp(&v, v.mac, v.addr, 7003, 5000, "unlisted");
	t_ok(!t_udp_got(sock, "unlisted", 300), "allow-list: other port dropped");
	get_stats(&v, &s);
	t_is(s.drop_policy, 1, "allow-list: 1 policy drop counted");

	struct net_vm dup;
	struct net_vm_opts o = { .owner = "dup", .ip = "10.88.3.7" };
	struct err e = { 0 };
	t_is(net_vm_create(&host, &o, &dup, &e), -EADDRINUSE, "a leased --ip is refused");
	o.ip = "10.88.0.1";
	t_ok(net_vm_create(&host, &o, &dup, &e) < 0, "the gateway address is refused");
	o.ip = "10.99.0.5";
	t_is(net_vm_create(&host, &o, &dup, &e), -EINVAL, "an address outside the subnet is refused");
	net_vm_destroy(&v);
}

/* The bridge floods unknown unicast to every port: the other VM must not
 * see a frame that is not for its MAC. */
static void test_isolation(void)
{
	static const uint8_t nobody[6] = { 0x02, 0x75, 10, 88, 0, 0x77 };
	struct net_vm a, b;
	struct net_stats s;
	struct t_frame f;

	if (t_vm_create(&host, "iso-a", "allow-all", NULL, &a) < 0 ||
	    t_vm_create(&host, "iso-b", "allow-all", NULL, &b) < 0) {
		t_ok(0, "vms created");
		return;
	}
	t_ok(strcmp(a.addr_str, b.addr_str) != 0, "two VMs, two addresses");
	t_udp(&f, nobody, a.mac, a.addr, t_ip("10.88.0.119"), 7004, 7004, "flooded");
	t_tap_write(&a, &f);
	t_ok(!t_tap_wait(&b, ETH_P_IP, 7004, 300, NULL), "another VM does not see flooded unicast");
	get_stats(&b, &s);
	t_ok(s.drop_rx >= 1, "and its filter counted it (drop_rx)");
	net_vm_destroy(&a);
	net_vm_destroy(&b);
}

int main(void)
{
	int sock, sock2, r;
	struct err e = { 0 };

	t_net_enter();
	r = t_host_open(&host, NULL);
	if (r == -ENOTSUP)
		t_skip_all("cannot set up the bridge here");
	if (!t_ok(r == 0, "host network opened"))
		return t_done();
	t_streq(host.bridge, "ucrt0", "default bridge name");
	t_is(host.prefix, 16, "default /16");
	t_is(host.gateway.s_addr, t_ip("10.88.0.1").s_addr, "gateway 10.88.0.1");
	t_ifmac("ucrt0", br_mac);
	t_ok(memcmp(br_mac, "\x02\x75\x0a\x58\x00\x01", 6) == 0, "bridge MAC fixed (02:75:<gateway>)");

	sock = t_udp_listen(host.gateway, 5000);
	sock2 = t_udp_listen(host.gateway, 5001);
	if (!t_ok(sock >= 0 && sock2 >= 0, "UDP listeners on the gateway"))
		return t_done();

	/* Probe the BPF side once, to skip cleanly where it cannot load. */
	{
		struct net_vm v;
		struct net_vm_opts o = { .owner = "probe" };
		r = net_vm_create(&host, &o, &v, &e);
		if (r == -ENOTSUP || r == -EPERM)
			t_skip_all(err_msg(&e));
		if (r == 0)
			net_vm_destroy(&v);
	}
	test_spoofing(sock);
	test_deny_all(sock);
	test_allow_list(sock, sock2);
	test_isolation();

	struct net_lease *l = NULL;
	size_t n = 99;
	t_is(net_lease_list(t_root, &l, &n), 0, "lease list readable");
	t_is(n, 0, "every lease released");
	free(l);
	t_is(net_host_remove(&host, &e), 0, "bridge and NAT removed");
	t_is(if_nametoindex("ucrt0"), 0, "bridge gone");
	net_host_close(&host);
	close(sock);
	close(sock2);
	return t_done();
}
