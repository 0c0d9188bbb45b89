/* net_passt_start: no passt when told so, a clear error for a passt that
 * is not there, and the real passt on the other end of the socketpair:
 * the test plays QEMU (4-byte big-endian length, then an Ethernet frame)
 * and sends an ARP request for the gateway, which passt answers; closing
 * QEMU's end makes passt exit. */
#include <poll.h>

#include "tests/lib/tap.h"
#include "err.h"
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
#include <unistd.h>

static const uint8_t t_mac[6] = { 0x02, 0x75, 0x0a, 0x00, 0x02, 0x0f };

/* passt processes whose fd 3 is a socket (ours, the --fd ones). */
static int t_passt_count(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char p[300], comm[32] = "";
		FILE *f;
		snprintf(p, sizeof(p), "/proc/%s/comm", e->d_name);
		if (!(f = fopen(p, "r")))
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, "passt", 5) == 0)
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
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

	t_is(net_passt_start("none", NULL, &fd, &e), 0, "\"none\": no passt (the caller uses slirp)");
	t_is(fd, -1, "... and no fd");
	t_is(net_passt_start("/nonexistent/passt", NULL, &fd, &e), -ENOENT, "a passt that is not there fails");
	t_ok(strstr(err_msg(&e), "/nonexistent/passt") != NULL, "... naming it: %s", err_msg(&e));
	if (access("/usr/bin/passt", X_OK) < 0) {
		t_diag("passt not installed: the rest skipped");
		return t_done();
	}
	int before = t_passt_count();
	r = net_passt_start(NULL, NULL, &fd, &e);
	t_is(r, 1, "passt on PATH starts");
	if (r != 1)
		return t_done();
	int type = 0;
	socklen_t tl = sizeof(type);
	t_ok(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM,
	     "QEMU's end is a stream socket");
	t_ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "... close-on-exec in ucrt");
	t_ok(t_arp_reply(fd), "passt answers an ARP request for " NET_USER_GATEWAY " from " NET_USER_ADDR);
	t_ok(t_passt_count() > before, "a passt process runs");
	close(fd);
	for (int i = 0; i < 100 && t_passt_count() > before; i++)
		usleep(20000);
	t_ok(t_passt_count() <= before, "closing QEMU's end makes it exit");
	return t_done();
}
