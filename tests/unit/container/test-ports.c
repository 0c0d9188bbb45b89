/* A container's published ports: -p through ctr_net_opt_set (canonical),
 * refused with --network none and for several instances; -P from an
 * image's ExposedPorts; the early check; `ucrt port`'s lines and
 * inspect's Ports from a record and lease file written by hand for this
 * process. No privileges, no VM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static void test_opts(void)
{
	struct ctr_net_opts o = { .mode = CTR_NET_BRIDGE };
	struct err e = { 0 };
	char *exposed[] = { "80/tcp", "53/udp", "8080", "1000-1010/tcp", "x/tcp", NULL };

	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_PUBLISH, "127.0.0.1:8080:80", &e), 0, "-p IP:HOST:CTR");
	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_PUBLISH, "9000", &e), 0, "-p CTR");
	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_PUBLISH, "80/sctp", &e), -EINVAL, "-p with a bad protocol");
	t_ok(strstr(err_msg(&e), "-p: ") == err_msg(&e), "the message names -p (%s)", err_msg(&e));
	t_is(strv_len(o.ports), 2, "two specs kept");
	t_streq(o.ports[0], "127.0.0.1:8080:80/tcp", "canonical spec");
	ctr_ports_expose(&o, exposed);
	/* 80/tcp has its -p already: docker's -P leaves such a port alone. */
	t_is(strv_len(o.ports), 4, "-P adds 53/udp and 8080; skips 80 (-p), a range and junk");
	t_streq(o.ports[2], "53/udp", "exposed 53/udp on a free port");
	t_streq(o.ports[3], "8080/tcp", "a bare exposed port is tcp");
	ctr_ports_expose(&o, exposed);
	t_is(strv_len(o.ports), 4, "-P twice adds nothing (already published)");
	t_is(ctr_net_opts_finish(&o, 2, &e), -EINVAL, "-p for two instances refused");
	o.mode = CTR_NET_NONE;
	t_is(ctr_net_opts_finish(&o, 1, &e), -EINVAL, "-p with --network none refused");
	t_ok(strstr(err_msg(&e), "--network bridge") != NULL, "says what it needs");
	ctr_net_opts_free(&o);
}

static void test_check(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct ctr_net_opts o = { .mode = CTR_NET_BRIDGE };
	struct err e = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char spec[32];

	t_ok(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	     getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "a udp socket holds a port");
	snprintf(spec, sizeof(spec), "%u:53/udp", ntohs(sa.sin_port));
	ctr_net_opt_set(&o, CTR_NET_OPT_PUBLISH, "53/udp", &e);
	t_is(ctr_ports_check(&o, &e), 0, "a free host port passes");
	ctr_net_opt_set(&o, CTR_NET_OPT_PUBLISH, spec, &e);
	t_is(ctr_ports_check(&o, &e), -EADDRINUSE, "the held one does not");
	close(fd);
	ctr_net_opts_free(&o);
}

static void test_describe(void)
{
	char root[] = "/tmp/ucrt-t-cports.XXXXXX", id[] = "c1";
	_cleanup_free_ char *net = NULL, *leases = NULL;
	_cleanup_buf_ struct buf out = BUF_INIT, js = BUF_INIT;
	struct json_writer w;
	struct err e = { 0 };
	char stat[512];
	unsigned long long st = 0;
	FILE *f = fopen("/proc/self/stat", "r");

	t_ok(f && fgets(stat, sizeof(stat), f), "read /proc/self/stat");
	fclose(f);
	sscanf(strrchr(stat, ')') + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
	       "%*d %*d %*d %*d %*d %*d %llu", &st);
	t_ok(mkdtemp(root) != NULL, "temp root");
	net = xasprintf("%s/net", root);
	mkdir(net, 0700);
	_cleanup_close_ int dfd = open(net, O_RDONLY | O_DIRECTORY);
	leases = xasprintf("10.88.0.2 c1 %d %llu ucrt-0a580002\n", (int)getpid(), st);
	write_file_atomic_at(dfd, "leases", leases, strlen(leases), 0644);
	const char *rec = "tcp 0.0.0.0 8080 10.88.0.2 80 c1\ntcp 127.0.0.1 9090 10.88.0.2 80 c1\n"
			  "udp 0.0.0.0 5353 10.88.0.2 53 c1\ntcp 0.0.0.0 7070 10.88.0.3 80 c2\n";
	write_file_atomic_at(dfd, "ports", rec, strlen(rec), 0644);

	t_is(ctr_ports_describe(root, id, NULL, &out, &e), 3, "three ports");
	t_streq(out.data, "80/tcp -> 0.0.0.0:8080\n80/tcp -> 127.0.0.1:9090\n53/udp -> 0.0.0.0:5353\n",
		"docker port's lines");
	buf_reset(&out);
	t_is(ctr_ports_describe(root, id, "80", &out, &e), 2, "filter 80 (tcp)");
	t_streq(out.data, "0.0.0.0:8080\n127.0.0.1:9090\n", "host addresses only");
	buf_reset(&out);
	t_is(ctr_ports_describe(root, id, "80/udp", &out, &e), 0, "80/udp: none");
	t_is(ctr_ports_describe(root, id, "x", &out, &e), -EINVAL, "a bad filter is an error");
	t_is(ctr_ports_describe(root, "c2", NULL, &out, &e), 0, "a container without a lease: none");

	buf_reset(&out);
	ctr_ports_summary(root, id, &out);
	t_streq(out.data, "0.0.0.0:8080->80/tcp, 127.0.0.1:9090->80/tcp, 0.0.0.0:5353->53/udp",
		"ps's PORTS");
	jw_init(&w, &js, false);
	ctr_ports_inspect_json(&w, root, id);
	t_streq(js.data, "{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"},"
		"{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"9090\"}],"
		"\"53/udp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"5353\"}]}", "inspect's Ports");
	unlinkat(dfd, "leases", 0);
	unlinkat(dfd, "ports", 0);
	rmdir(net);
	rmdir(root);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	test_opts();
	test_check();
	test_describe();
	return t_done();
}
