/* Parsers of the network module: addresses, CIDRs, --network-policy,
 * resolv.conf, the lease file. No privileges needed. */
#include "tests/lib/tap.h"

#include <arpa/inet.h>
#include <errno.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "net/net-internal.h"

static void test_cidr(void)
{
	struct in_addr a;
	unsigned p;

	t_is(net_parse_cidr("10.88.0.0/16", &a, &p), 0, "cidr 10.88.0.0/16");
	t_is(p, 16, "prefix 16");
	t_is(ntohl(a.s_addr), 0x0a580000, "network address");
	t_is(net_parse_cidr("10.88.0.1/16", &a, &p), -EINVAL, "host bits set refused");
	t_is(net_parse_cidr("10.88.0.0/33", &a, &p), -EINVAL, "prefix 33 refused");
	t_is(net_parse_cidr("10.88.0.0/", &a, &p), -EINVAL, "empty prefix refused");
	t_is(net_parse_cidr("10.88.0.0", &a, &p), -EINVAL, "missing prefix refused");
	t_is(net_parse_cidr("0.0.0.0/0", &a, &p), 0, "0.0.0.0/0 accepted");
	t_is(net_parse_ip4("10.1", &a), -EINVAL, "shorthand address refused");
	t_is(net_parse_ip4("10.0.0.256", &a), -EINVAL, "octet > 255 refused");
}

static void test_policy(void)
{
	struct net_policy p;
	struct err e = { 0 };
	char buf[256];

	t_is(net_policy_parse("allow-all", &p, &e), 0, "allow-all");
	t_is(p.mode, NET_POLICY_ALLOW_ALL, "mode allow-all");
	t_is(net_policy_parse(NULL, &p, &e), 0, "default");
	t_is(p.mode, NET_POLICY_ALLOW_ALL, "default is allow-all");
	t_is(net_policy_parse("deny-all", &p, &e), 0, "deny-all");
	t_is(p.mode, NET_POLICY_DENY_ALL, "mode deny-all");
	t_is(net_policy_parse("allow=10.0.0.0/8:443,192.168.1.5,1.1.1.1:53", &p, &e), 0, "list");
	t_is(p.mode, NET_POLICY_ALLOW_LIST, "mode allow list");
	t_is(p.nrules, 3, "3 rules");
	t_is(p.rules[0].prefix, 8, "rule 0 /8");
	t_is(p.rules[0].port, 443, "rule 0 port");
	t_is(p.rules[1].prefix, 32, "bare address is /32");
	t_is(p.rules[1].port, 0, "no port: any");
	net_policy_format(&p, buf, sizeof(buf));
	t_streq(buf, "allow=10.0.0.0/8:443,192.168.1.5/32,1.1.1.1/32:53", "canonical text");

	t_is(net_policy_parse("allow=", &p, &e), -EINVAL, "empty rule refused");
	t_is(net_policy_parse("allow=10.0.0.0/8,", &p, &e), -EINVAL, "trailing comma refused");
	t_ok(strstr(err_msg(&e), "bad rule") != NULL, "message names the bad rule");
	t_is(net_policy_parse("allow=10.0.0.1/8", &p, &e), -EINVAL, "host bits refused");
	t_is(net_policy_parse("allow=10.0.0.0/8:0", &p, &e), -EINVAL, "port 0 refused");
	t_is(net_policy_parse("allow=10.0.0.0/8:65536", &p, &e), -EINVAL, "port 65536 refused");
	t_is(net_policy_parse("allow=10.0.0.0/8:", &p, &e), -EINVAL, "empty port refused");
	t_is(net_policy_parse("deny=1.2.3.4", &p, &e), -EINVAL, "unknown mode refused");

	char many[2048] = "allow=";
	for (int i = 0; i < NET_POLICY_MAX_RULES + 1; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.0.%d.0/24",
			 i ? "," : "", i);
	t_is(net_policy_parse(many, &p, &e), -E2BIG, "too many rules refused");
}

static void test_resolv(void)
{
	char ns[NET_MAX_DNS][INET6_ADDRSTRLEN];
	const char *text =
		"# generated\n"
		"nameserver 127.0.0.53\n"
		"  nameserver\t192.0.2.1 # primary\n"
		"nameserver ::1\n"
		"nameservers 9.9.9.9\n"
		"nameserver fe80::1%eth0\n"
		"nameserver 2001:db8::53\n"
		"search example.org\n"
		"nameserver 198.51.100.7\n"
		"nameserver 203.0.113.9\n";

	t_is(net_resolv_parse(text, ns, NET_MAX_DNS), 3, "3 usable nameservers (max)");
	t_streq(ns[0], "192.0.2.1", "stub 127.0.0.53 skipped, comment cut");
	t_streq(ns[1], "2001:db8::53", "::1 and zoned link-local skipped");
	t_streq(ns[2], "198.51.100.7", "third");
	t_is(net_resolv_parse("nameserver 127.0.0.1\n", ns, NET_MAX_DNS), 0, "only a stub: none");
	t_is(net_resolv_parse("", ns, NET_MAX_DNS), 0, "empty file");
}

static void test_leases(void)
{
	struct net_lease *l = NULL;
	size_t n = 0;
	_cleanup_free_ char *out = NULL;
	const char *text =
		"10.88.0.2 c1 123 4567 ucrt-0a580002\n"
		"garbage line\n"
		"10.88.0.3 bad/owner 1 1 ucrt-0a580003\n"
		"10.88.0.4 c2 0 1 ucrt-0a580004\n"
		"10.88.0.5 c3 77 88 ucrt-0a580005 extra\n"
		"10.88.0.6 c4 99 100 ucrt-0a580006\n";

	t_is(ipam_parse(text, &l, &n), 0, "lease file parsed");
	t_is(n, 2, "malformed lines skipped");
	t_streq(l[0].owner, "c1", "owner");
	t_is(l[0].pid, 123, "pid");
	t_is(l[0].pid_start, 4567, "start time");
	t_streq(l[1].ifname, "ucrt-0a580006", "ifname");
	out = ipam_format(l, n);
	t_streq(out, "10.88.0.2 c1 123 4567 ucrt-0a580002\n10.88.0.6 c4 99 100 ucrt-0a580006\n",
		"round trip");
	free(l);

	struct net_lease me = { .pid = getpid() };
	t_ok(!net_lease_alive(&me), "wrong start time: not alive (pid reuse guard)");

	char name[NET_IFNAMSIZ];
	uint8_t mac[6];
	struct in_addr a = { .s_addr = htonl(0x0a580a0b) };
	net_tap_name(a, name);
	t_streq(name, "ucrt-0a580a0b", "tap name from the address");
	net_mac_for(a, mac);
	t_ok(memcmp(mac, "\x02\x75\x0a\x58\x0a\x0b", 6) == 0, "MAC from the address");
}

int main(void)
{
	log_set_level(LOG_ERROR);	/* the malformed-lease warnings are expected */
	test_cidr();
	test_policy();
	test_resolv();
	test_leases();
	return t_done();
}
