/* Published ports in the network module: the -p parser and its canonical
 * text, the record's lines, the early port check against a socket that
 * holds a port, and the listing of a live owner's ports (a record and a
 * lease file written by hand for this very process). No privileges. */
#include "tests/lib/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "net/net-internal.h"

static void spec_ok(const char *s, const char *canon, uint32_t ip, unsigned hp, unsigned cp, uint8_t proto)
{
	struct net_port p;
	struct err e = { 0 };
	char buf[64];

	t_ok(net_port_parse(s, &p, &e) == 0, "parse %s", s);
	t_ok(ntohl(p.host_ip.s_addr) == ip && p.host_port == hp && p.ctr_port == cp && p.proto == proto,
	     "%s: fields", s);
	net_port_format(&p, buf, sizeof(buf));
	t_ok(strcmp(buf, canon) == 0, "canonical text of %s: %s", s, buf);
}

static void spec_bad(const char *s, const char *why)
{
	struct net_port p;
	struct err e = { 0 };

	t_ok(net_port_parse(s, &p, &e) == -EINVAL, "refused: %s", s);
	t_ok(strstr(err_msg(&e), why) != NULL, "%s: message says \"%s\" (%s)", s, why, err_msg(&e));
}

static void test_parse(void)
{
	spec_ok("80", "80/tcp", 0, 0, 80, IPPROTO_TCP);
	spec_ok("8080:80", "8080:80/tcp", 0, 8080, 80, IPPROTO_TCP);
	spec_ok("127.0.0.1:8080:80", "127.0.0.1:8080:80/tcp", 0x7f000001, 8080, 80, IPPROTO_TCP);
	spec_ok("192.0.2.1::53/udp", "192.0.2.1::53/udp", 0xc0000201, 0, 53, IPPROTO_UDP);
	spec_ok("5353:53/udp", "5353:53/udp", 0, 5353, 53, IPPROTO_UDP);
	spec_ok("65535:1/tcp", "65535:1/tcp", 0, 65535, 1, IPPROTO_TCP);
	spec_bad("", "invalid port");
	spec_bad("0", "container port");
	spec_bad("65536", "container port");
	spec_bad("8080:", "container port");
	spec_bad(":80", "empty host port");
	spec_bad("0:80", "host port");
	spec_bad("x:80", "host port");
	spec_bad("80/sctp", "protocol");
	spec_bad("8000-8010:80", "ranges");
	spec_bad("10.0.0:80:80", "host address");
	spec_bad("[::1]:80:80", "IPv6");
	spec_bad("1.2.3.4:1:2:3", "want");
	t_streq(net_proto_name(IPPROTO_UDP), "udp", "proto name udp");
	t_streq(net_proto_name(IPPROTO_TCP), "tcp", "proto name tcp");
}

static void test_record(void)
{
	const char *text = "tcp 0.0.0.0 8080 10.88.0.2 80 abc\n"
			   "bogus line\n"
			   "udp 127.0.0.1 53 10.88.0.3 5353 x-1\n"
			   "tcp 0.0.0.0 0 10.88.0.2 80 abc\n";
	struct net_port_entry *v;
	size_t n;
	char *back;

	t_is(ports_parse(text, &v, &n), 0, "record parses");
	t_is(n, 2, "malformed lines (and port 0) skipped");
	t_ok(v[1].port.proto == IPPROTO_UDP && v[1].port.host_port == 53 && v[1].port.ctr_port == 5353 &&
	     ntohl(v[1].ctr_ip.s_addr) == 0x0a580003 && strcmp(v[1].owner, "x-1") == 0, "udp line fields");
	back = ports_format(v, n);
	t_streq(back, "tcp 0.0.0.0 8080 10.88.0.2 80 abc\nudp 127.0.0.1 53 10.88.0.3 5353 x-1\n",
		"formats back");
	free(back);
	free(v);
}

static void test_check(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct net_port p = { .proto = IPPROTO_TCP, .ctr_port = 80 };
	struct err e = { 0 };
	char want[64];

	t_ok(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0 &&
	     getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "a listener holds a loopback port");
	p.host_port = ntohs(sa.sin_port);
	t_is(net_ports_check(&p, 1, &e), -EADDRINUSE, "that port is refused");
	snprintf(want, sizeof(want), "port 0.0.0.0:%u/tcp is already in use", p.host_port);
	t_ok(strstr(err_msg(&e), want) != NULL, "message names it: %s", err_msg(&e));
	p.proto = IPPROTO_UDP;
	t_is(net_ports_check(&p, 1, &e), 0, "the same number over udp is free");
	p.proto = IPPROTO_TCP;
	p.host_port = 0;
	t_is(net_ports_check(&p, 1, &e), 0, "a free port needs no check");
	p.host_ip.s_addr = htonl(0xc0000201);	/* TEST-NET-1: not ours */
	p.host_port = 8080;
	t_is(net_ports_check(&p, 1, &e), -EADDRNOTAVAIL, "an address of another host is refused");
	close(fd);
}

static void test_list(void)
{
	char root[] = "/tmp/ucrt-t-ports.XXXXXX";
	_cleanup_free_ char *net = NULL, *leases = NULL;
	struct net_port_entry *v;
	size_t n;
	char stat[512];
	unsigned long long st = 0;
	FILE *f = fopen("/proc/self/stat", "r");

	t_ok(f && fgets(stat, sizeof(stat), f), "read /proc/self/stat");
	fclose(f);
	sscanf(strrchr(stat, ')') + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
	       "%*d %*d %*d %*d %*d %*d %llu", &st);
	t_ok(mkdtemp(root) != NULL, "temp root");
	t_is(net_ports_list(root, "a", &v, &n), 0, "no net dir: no ports");
	t_is(n, 0, "none");
	free(v);
	net = xasprintf("%s/net", root);
	mkdir(net, 0700);
	/* Owner a's lease is this process (alive), b's a pid that is not. */
	leases = xasprintf("10.88.0.2 a %d %llu ucrt-0a580002\n10.88.0.3 b 999999999 1 ucrt-0a580003\n",
			   (int)getpid(), st);
	_cleanup_close_ int dfd = open(net, O_RDONLY | O_DIRECTORY);
	t_is(write_file_atomic_at(dfd, "leases", leases, strlen(leases), 0644), 0, "lease file");
	const char *rec = "tcp 0.0.0.0 8080 10.88.0.2 80 a\nudp 0.0.0.0 53 10.88.0.2 53 a\n"
			  "tcp 0.0.0.0 9090 10.88.0.3 80 b\ntcp 0.0.0.0 7070 10.88.0.9 80 a\n";
	t_is(write_file_atomic_at(dfd, "ports", rec, strlen(rec), 0644), 0, "port record");
	t_is(net_ports_list(root, "a", &v, &n), 0, "list a");
	t_is(n, 2, "a's two ports on its leased address (not the stale 10.88.0.9 one)");
	t_ok(n == 2 && v[0].port.host_port == 8080 && v[1].port.proto == IPPROTO_UDP, "in record order");
	free(v);
	t_is(net_ports_list(root, "b", &v, &n), 0, "list b");
	t_is(n, 0, "b's lease is dead: nothing");
	free(v);
	t_is(net_ports_list(root, NULL, &v, &n), 0, "list all");
	t_is(n, 2, "all live ports");
	free(v);
	unlinkat(dfd, "leases", 0);
	unlinkat(dfd, "ports", 0);
	rmdir(net);
	rmdir(root);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	test_parse();
	test_record();
	test_check();
	test_list();
	return t_done();
}
