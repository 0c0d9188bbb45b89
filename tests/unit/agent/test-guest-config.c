/* guest-init's CONFIG request against the real binary, in fresh UTS and
 * network namespaces (--unshare; needs root): hostname, an address and a
 * default route through raw rtnetlink, resolv.conf and hosts files. */
#include <sys/stat.h>

#include "tests/lib/tap.h"
#include "t-guest.h"

static struct t_guest g;

static char *t_slurp(const char *dir, const char *name)
{
	char path[512], *data = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (read_file_at(AT_FDCWD, path, 1 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static void t_config(const struct agent_config *c, struct agent_result *r)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	static uint32_t ref = 100;

	memset(r, 0, sizeof(*r));
	r->err = -1;
	agent_encode_config(&b, ++ref, c);
	t_send_buf(&g, &b);
	while (t_recv(&g, 5000) == 1)
		if (g.f.h.type == PROTO_T_RESULT && g.f.h.ref == ref) {
			agent_decode_result(&g.f, r);
			return;
		}
}

static void t_exec_out(uint32_t stream, char *const *argv, struct t_proc *p)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	char *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env };

	memset(p, 0, sizeof(*p));
	agent_encode_proc(&b, PROTO_T_EXEC, stream, stream, &s);
	t_send_buf(&g, &b);
	t_proc_wait(&g, stream, p, 5000);
}

int main(void)
{
	char dir[] = "/tmp/ucrt-t-etc-XXXXXX";
	const char *extra[] = { "--unshare", "--etc-dir", dir, NULL };
	struct agent_addr addr = { .family = AF_INET, .addr = { 10, 9, 8, 7 }, .prefix = 8 };
	struct agent_addr gw = { .family = AF_INET, .addr = { 10, 0, 0, 1 } };
	char *dns[] = { "192.0.2.53", NULL }, *search[] = { "example.com", NULL };
	char *hosts[] = { "192.0.2.10 registry.local", NULL };
	struct agent_config c = { .hostname = "ctr1", .addrs = &addr, .naddrs = 1, .mtu = 1400,
				  .gateway = &gw, .dns = dns, .search = search, .hosts = hosts };
	char *veth[] = { "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1", NULL };
	char *mtu[] = { "cat", "/sys/class/net/eth0/mtu", NULL };
	char *hn[] = { "cat", "/proc/sys/kernel/hostname", NULL };
	char *route[] = { "cat", "/proc/net/route", NULL };
	char *trie[] = { "cat", "/proc/net/fib_trie", NULL };
	struct agent_result r;
	struct t_proc p;
	char *f;

	if (getuid() != 0)
		t_skip_all("namespaces need root");
	if (!mkdtemp(dir) || t_guest_spawn(&g, extra) < 0)
		t_skip_all("build/ucrt-init not built");
	t_ok(t_recv(&g, 5000) == 1 && g.f.h.type == PROTO_T_HELLO, "hello");

	/* the guest's eth0: a veth made inside its network namespace */
	t_exec_out(1, veth, &p);
	if (p.ex.code != 0)
		t_diag("cannot make a veth: %s", p.err.data ? p.err.data : "");
	t_proc_free(&p);
	t_config(&c, &r);
	t_ok(r.err == 0, "config applied (%s)", r.msg);
	t_exec_out(2, hn, &p);
	t_streq(p.out.data, "ctr1\n", "hostname set in the guest's UTS namespace");
	t_proc_free(&p);
	t_exec_out(3, trie, &p);
	t_ok(p.out.data && strstr(p.out.data, "10.9.8.7"), "address added with RTM_NEWADDR");
	t_proc_free(&p);
	t_exec_out(4, route, &p);
	/* default route: destination 00000000, gateway 10.0.0.1 = 0100000A */
	t_ok(p.out.data && strstr(p.out.data, "eth0\t00000000\t0100000A"), "default route via the gateway");
	t_proc_free(&p);
	t_exec_out(5, mtu, &p);
	t_streq(p.out.data, "1400\n", "mtu set with RTM_NEWLINK");
	t_proc_free(&p);

	f = t_slurp(dir, "resolv.conf");
	t_streq(f, "nameserver 192.0.2.53\nsearch example.com\n", "resolv.conf written");
	free(f);
	f = t_slurp(dir, "hosts");
	t_ok(f && strstr(f, "127.0.0.1\tlocalhost\n") && strstr(f, "10.9.8.7\tctr1\n") &&
	     strstr(f, "192.0.2.10 registry.local\n"), "hosts: localhost, own name, extra entries");
	free(f);
	f = t_slurp(dir, "hostname");
	t_streq(f, "ctr1\n", "hostname file");
	free(f);

	struct agent_config bad = { .ifname = "nosuch0", .naddrs = 1, .addrs = &addr };
	t_config(&bad, &r);
	t_ok(r.err == ENODEV && strstr(r.msg, "nosuch0"), "missing interface reported: %s", r.msg);

	t_send(&g, PROTO_T_SHUTDOWN, 0, 0, 0, NULL, 0);
	t_ok(t_recv(&g, 5000) == -1, "shutdown ends the guest");
	t_guest_end(&g);
	for (const char *n = "resolv.conf\0hosts\0hostname\0"; *n; n += strlen(n) + 1) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, n);
		unlink(path);
	}
	rmdir(dir);
	return t_done();
}
