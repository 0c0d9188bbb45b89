/* IPAM and cleanup across processes: 16 concurrent ucrt-like processes
 * each take a lease, a tap and a filter; all addresses differ; leases are
 * released on a normal exit, and what SIGKILLed owners leave behind is
 * cleaned by the next net_host_open. Runs in a private network namespace. */
#include <linux/if_tun.h>
#include <signal.h>
#include <sys/wait.h>

#include "t-net.h"

#define NPROC 16

struct child {
	pid_t pid;
	int to, from;		/* pipes: command to the child, its report */
	char addr[INET_ADDRSTRLEN];
	char ifname[NET_IFNAMSIZ];
};

/* Child: open the host side, take a VM network, report, then wait for a
 * command: 'r' = release and exit 0. SIGKILL is the other way out. */
static void child_main(int in, int out, int i)
{
	struct net_host h;
	struct net_vm v;
	char owner[32], msg[64], cmd;

	snprintf(owner, sizeof(owner), "c%d", i);
	if (t_host_open(&h, NULL) < 0 || t_vm_create(&h, owner, "allow-all", NULL, &v) < 0) {
		fflush(stdout);	/* the t_diag saying why; _exit skips stdio */
		_exit(2);
	}
	snprintf(msg, sizeof(msg), "%s %s\n", v.addr_str, v.ifname);
	if (write(out, msg, strlen(msg)) < 0)
		_exit(3);
	if (read(in, &cmd, 1) == 1 && cmd == 'r') {
		net_vm_destroy(&v);
		net_host_close(&h);
		_exit(0);
	}
	_exit(4);
}

static int start_children(struct child *c)
{
	for (int i = 0; i < NPROC; i++) {
		int a[2], b[2];

		if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
			return -1;
		fflush(stdout);
		c[i].pid = fork();
		if (c[i].pid < 0)
			return -1;
		if (c[i].pid == 0)
			child_main(a[0], b[1], i);
		close(a[0]);
		close(b[1]);
		c[i].to = a[1];
		c[i].from = b[0];
	}
	for (int i = 0; i < NPROC; i++) {
		char buf[64] = { 0 };
		ssize_t n = read(c[i].from, buf, sizeof(buf) - 1);

		if (n <= 0 || sscanf(buf, "%15s %15s", c[i].addr, c[i].ifname) != 2)
			return -1;
	}
	return 0;
}

static size_t count_leases(void)
{
	struct net_lease *l = NULL;
	size_t n = 0;

	if (net_lease_list(t_root, &l, &n) < 0)
		n = (size_t)-1;
	free(l);
	return n;
}

static unsigned count_taps(struct child *c)
{
	unsigned n = 0;

	for (int i = 0; i < NPROC; i++)
		n += if_nametoindex(c[i].ifname) != 0;
	return n;
}

/* A tap left by a crashed run that made it persistent (or whose fd leaked
 * to a surviving process): no lease owns it. */
static int make_stale_tap(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), r = -1;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0 && ioctl(fd, TUNSETPERSIST, 1) == 0)
		r = 0;
	if (fd >= 0)
		close(fd);
	return r;
}

int main(void)
{
	struct child c[NPROC];
	struct net_host h;
	struct err e = { 0 };
	bool distinct = true;
	int ok = 0, st, r;

	t_net_enter();
	r = t_host_open(&h, NULL);
	if (r == -ENOTSUP)
		t_skip_all("cannot set up the bridge here");
	if (!t_ok(r == 0, "host network opened"))
		return t_done();
	{
		struct net_vm v;
		struct net_vm_opts o = { .owner = "probe" };

		r = net_vm_create(&h, &o, &v, &e);
		if (r == -ENOTSUP || r == -EPERM)
			t_skip_all(err_msg(&e));
		if (r == 0)
			net_vm_destroy(&v);
	}
	if (!t_ok(start_children(c) == 0, "%d processes took a network concurrently", NPROC)) {
		net_host_close(&h);
		return t_done();
	}
	for (int i = 0; i < NPROC; i++)
		for (int j = i + 1; j < NPROC; j++)
			if (strcmp(c[i].addr, c[j].addr) == 0)
				distinct = false;
	t_ok(distinct, "%d distinct addresses", NPROC);
	t_is(count_leases(), NPROC, "one lease each in the lease file");
	t_is(count_taps(c), NPROC, "one tap each");

	/* gc while everyone lives must not touch them. */
	unsigned removed = 99;
	t_is(net_gc(&h, &removed, &e), 0, "gc with live owners");
	t_is(removed, 0, "gc removed nothing of live owners");

	/* Half exit properly, half are killed. */
	for (int i = 0; i < NPROC; i++) {
		if (i < NPROC / 2) {
			if (write(c[i].to, "r", 1) != 1)
				t_diag("write to child failed");
		} else {
			kill(c[i].pid, SIGKILL);
		}
	}
	for (int i = 0; i < NPROC; i++) {
		waitpid(c[i].pid, &st, 0);
		if (i < NPROC / 2 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		close(c[i].to);
		close(c[i].from);
	}
	t_is(ok, NPROC / 2, "released children exited cleanly");
	t_is(count_leases(), NPROC / 2, "released leases gone, killed owners' leases remain");
	t_is(count_taps(c), 0, "every tap vanished with its holders (non-persistent)");

	t_ok(make_stale_tap(NET_TAP_PREFIX "0a5800fe") == 0, "a stale persistent tap exists");
	t_ok(make_stale_tap(NET_TAP_PREFIX "0b0000fe") == 0, "a tap outside our subnet exists");
	net_host_close(&h);

	/* The next start cleans up. */
	if (t_host_open(&h, NULL) < 0)
		return t_done();
	t_is(count_leases(), 0, "next start dropped the dead owners' leases");
	t_is(if_nametoindex(NET_TAP_PREFIX "0a5800fe"), 0, "and deleted the stale tap");
	t_ok(if_nametoindex(NET_TAP_PREFIX "0b0000fe") != 0, "a tap of another subnet is left alone");

	/* Addresses are reused from the lowest once free. */
	struct net_vm v;
	if (t_vm_create(&h, "again", "allow-all", NULL, &v) == 0) {
		t_streq(v.addr_str, "10.88.0.2", "lowest address handed out again");
		net_vm_destroy(&v);
	}
	t_is(count_leases(), 0, "no lease left");
	net_host_close(&h);
	return t_done();
}
