/* The host side in a private network namespace: bridge creation, subnet
 * choice around addresses already in use, NAT rules and forwarding, DNS
 * defaults, removal. */
#include "t-net.h"

static int sh(const char *cmd)
{
	int r = system(cmd);

	return r == 0 ? 0 : -1;
}

static int file_has(const char *path, const char *needle)
{
	char buf[4096] = { 0 };
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return strstr(buf, needle) != NULL;
}

int main(void)
{
	struct net_host h;
	struct net_host_opts o = { 0 };
	struct err e = { 0 };
	char resolv[300];
	FILE *f;

	t_net_enter();
	/* Something on the host already uses part of 10.88.0.0/16. */
	if (sh("ip link add tdummy0 type bridge && ip addr add 10.88.5.1/24 dev tdummy0 && "
	       "ip link set tdummy0 up") < 0)
		t_skip_all("cannot create a test interface");

	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", t_root);
	f = fopen(resolv, "w");
	if (!f)
		return 1;
	fputs("nameserver 127.0.0.53\nnameserver 192.0.2.53\n", f);
	fclose(f);

	o.root = t_root;
	o.resolv_conf = resolv;
	o.bridge = "ucrtb0";
	if (net_host_open(&h, &o, &e) < 0) {
		t_diag("%s", err_msg(&e));
		if (e.code == ENOTSUP)
			t_skip_all(err_msg(&e));
		t_ok(0, "host opened");
		return t_done();
	}
	t_ok(h.bridge_ifindex > 0, "bridge ucrtb0 created");
	t_is(ntohl(h.subnet.s_addr), 0x0a590000, "10.88/16 in use: 10.89.0.0/16 chosen");
	t_is(h.prefix, 16, "prefix 16");
	t_is(ntohl(h.gateway.s_addr), 0x0a590001, "gateway .1");
	t_is(h.ndns, 1, "one usable DNS server");
	t_streq(h.dns[0], "192.0.2.53", "stub resolver skipped");
	t_ok(file_has("/proc/sys/net/ipv4/ip_forward", "1"), "ip_forward on");
	t_is(sh("nft list table ip ucrt_ucrtb0 | grep -q 'ip saddr 10.89.0.0/16 ip daddr != "
		"10.89.0.0/16 masquerade'"), 0, "masquerade rule for the subnet");
	t_is(sh("ip -4 addr show dev ucrtb0 | grep -q 'inet 10.89.0.1/16'"), 0,
	     "gateway address on the bridge");
	t_is(sh("ip link show ucrtb0 | grep -q 'state UP\\|,UP'"), 0, "bridge up");
	net_host_close(&h);

	/* Reopening adopts the bridge's subnet; a different one is refused. */
	o.resolv_conf = "/dev/null";
	t_is(net_host_open(&h, &o, &e), 0, "reopen");
	t_is(ntohl(h.subnet.s_addr), 0x0a590000, "reopen keeps the bridge's subnet");
	t_is(h.ndns, 0, "no DNS from an empty resolv.conf");
	t_is(sh("test $(nft list table ip ucrt_ucrtb0 | grep -c 'daddr != 10.89.0.0/16 masquerade') = 1"), 0,
	     "NAT table replaced, not duplicated");
	t_is(sh("nft list chain ip ucrt_ucrtb0 output | grep -q 'jump ports' && "
		"nft list chain ip ucrt_ucrtb0 prerouting | grep -q 'jump ports'"), 0,
	     "published ports' chain hooked for other hosts and this one");
	t_ok(file_has("/proc/sys/net/ipv4/conf/ucrtb0/route_localnet", "1"),
	     "route_localnet on the bridge (DNAT from 127.0.0.1)");
	net_host_close(&h);
	o.subnet = "172.30.0.0/16";
	t_is(net_host_open(&h, &o, &e), -EEXIST, "another subnet for the existing bridge refused");

	/* An explicit subnet on a new bridge; one in use is refused. */
	o.bridge = "ucrtb1";
	o.subnet = "10.88.5.0/24";
	t_is(net_host_open(&h, &o, &e), -EADDRINUSE, "subnet in use refused");
	o.subnet = "172.30.0.0/24";
	o.no_nat = true;
	t_is(net_host_open(&h, &o, &e), 0, "explicit subnet");
	t_is(ntohl(h.gateway.s_addr), 0xac1e0001, "gateway 172.30.0.1");
	t_ok(sh("nft list table ip ucrt_ucrtb1 >/dev/null 2>&1") != 0, "no NAT table with no_nat");
	t_is(net_host_remove(&h, &e), 0, "remove ucrtb1");
	t_is(if_nametoindex("ucrtb1"), 0, "ucrtb1 gone");
	net_host_close(&h);

	o.bridge = "ucrt-bad";
	t_is(net_host_open(&h, &o, &e), -EINVAL, "bridge named like a tap refused");
	o.bridge = "ucrtb0";
	o.subnet = NULL;
	o.no_nat = false;
	t_is(net_host_open(&h, &o, &e), 0, "open ucrtb0 for removal");
	t_is(net_host_remove(&h, &e), 0, "remove ucrtb0");
	t_ok(sh("nft list table ip ucrt_ucrtb0 >/dev/null 2>&1") != 0, "NAT table gone");
	net_host_close(&h);
	return t_done();
}
