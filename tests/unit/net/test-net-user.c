/* net_passt_start: no passt when told so, a clear error for a passt that
 * is not there, and the real passt on the other end of the socketpair:
 * the test plays QEMU (4-byte big-endian length, then an Ethernet frame)
 * and sends an ARP request for the gateway, which passt answers; closing
 * QEMU's end makes passt exit. */
#include <poll.h>

#include "tests/lib/tap.h"
#include "err.h"
#include "str.h"
#include "util.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

static const uint8_t t_mac[6] = { 0x02, 0x75, 0x0a, 0x00, 0x02, 0x0f };

/* The passt whose stderr is log (each test run has its own), or 0. */
static pid_t t_passt_pid(const char *log)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t pid = 0;

	while (d && !pid && (e = readdir(d))) {
		char p[300], link[300];
		ssize_t n;
		snprintf(p, sizeof(p), "/proc/%s/fd/2", e->d_name);
		n = readlink(p, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = 0, strcmp(link, log) == 0))
			pid = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return pid;
}

static bool t_arp_reply(int fd)
{
	uint8_t f[4 + 42] = { 0 }, *eth = f + 4, in[4096];
	struct in_addr me, gw;
	uint32_t len = htonl(42);

	inet_pton(AF_INET, NET_USER_ADDR, &me);
	inet_pton(AF_INET, NET_USER_GATEWAY, &gw);
	memcpy(f, &len, 4);
	memset(eth, 0xff, 6);
	memcpy(eth + 6, t_mac, 6);
	eth[12] = 0x08, eth[13] = 0x06;			/* ARP */
	uint8_t *a = eth + 14;
	a[1] = 1, a[2] = 0x08, a[4] = 6, a[5] = 4, a[7] = 1;	/* Ethernet/IPv4, request */
	memcpy(a + 8, t_mac, 6);
	memcpy(a + 14, &me, 4);
	memcpy(a + 24, &gw, 4);
	if (write_all(fd, f, sizeof(f)) < 0)
		return false;
	/* passt may send other frames first (none expected): look at a few. */
	for (int tries = 0; tries < 8; tries++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint32_t flen;
		if (poll(&p, 1, 5000) != 1 || read_full(fd, &flen, 4) != 4)
			return false;
		flen = ntohl(flen);
		if (flen < 42 || flen > sizeof(in) || read_full(fd, in, flen) != (ssize_t)flen)
			return false;
		if (in[12] == 0x08 && in[13] == 0x06 && in[21] == 2 && memcmp(in + 28, &gw, 4) == 0 &&
		    memcmp(in + 38, &me, 4) == 0)
			return true;
	}
	return false;
}

int main(void)
{
	struct err e = { 0 };
	int fd = 7, r;

	t_is(net_passt_start("none", NULL, NULL, &fd, &e), 0, "\"none\": no passt (the caller uses slirp)");
	t_is(fd, -1, "... and no fd");
	t_is(net_passt_start("/nonexistent/passt", NULL, NULL, &fd, &e), -ENOENT, "a passt that is not there fails");
	t_ok(strstr(err_msg(&e), "/nonexistent/passt") != NULL, "... naming it: %s", err_msg(&e));
	struct net_port p[2] = { { .host_port = 8080, .ctr_port = 80, .proto = IPPROTO_TCP },
				 { .host_port = 5353, .ctr_port = 53, .proto = IPPROTO_UDP } };
	inet_pton(AF_INET, "127.0.0.1", &p[1].host_ip);
	char **args = NULL, *slirp = NULL;
	t_is(net_user_forwards(p, 2, &args, &slirp, &e), 0, "-p forwards for user mode");
	t_ok(args && strv_len(args) == 4 && strcmp(args[0], "-t") == 0 && strcmp(args[1], "8080:80") == 0 &&
	     strcmp(args[2], "-u") == 0 && strcmp(args[3], "127.0.0.1/5353:53") == 0, "... passt's -t 8080:80 -u 127.0.0.1/5353:53");
	t_streq(slirp, ",hostfwd=tcp::8080-10.0.2.15:80,hostfwd=udp:127.0.0.1:5353-10.0.2.15:53", "... slirp's hostfwd");
	strv_free(args);
	free(slirp);
	p[0].host_port = 0;
	t_is(net_user_forwards(p, 2, &args, &slirp, &e), -EINVAL, "a free host port (-p 80, -P) is refused");
	t_ok(strstr(err_msg(&e), "HOST:80") != NULL, "... saying what to give: %s", err_msg(&e));
	if (access("/usr/bin/passt", X_OK) < 0) {
		t_diag("passt not installed: the rest skipped");
		return t_done();
	}
	char log[64];
	snprintf(log, sizeof(log), "/tmp/t-net-user-%d.log", (int)getpid());
	r = net_passt_start(NULL, log, NULL, &fd, &e);
	t_is(r, 1, "passt on PATH starts");
	if (r != 1)
		return t_done();
	int type = 0;
	socklen_t tl = sizeof(type);
	t_ok(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM,
	     "QEMU's end is a stream socket");
	t_ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "... close-on-exec in ucrt");
	t_ok(t_arp_reply(fd), "passt answers an ARP request for " NET_USER_GATEWAY " from " NET_USER_ADDR);
	pid_t pid = t_passt_pid(log);
	t_ok(pid > 0, "a passt process runs (pid %d), its errors going to the log given", (int)pid);
	close(fd);
	for (int i = 0; i < 1500 && pid > 0 && kill(pid, 0) == 0; i++)	/* up to 30 s: a loaded machine */
		usleep(20000);
	t_ok(pid > 0 && kill(pid, 0) < 0, "closing QEMU's end makes it exit");
	unlink(log);
	return t_done();
}
