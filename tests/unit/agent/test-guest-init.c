/* guest-init's protocol server, the real static binary, driven over a
 * socketpair with the host codec: processes, stdio, exit codes 0/1/42/126/
 * 127, env/cwd/uid, signals, a pty with a resize, flow control, stats,
 * CONFIG (in fresh UTS/net namespaces when root). No VM needed. */
#include <sys/stat.h>
#include <time.h>

#include "tests/lib/tap.h"
#include "t-guest.h"

static struct t_guest g;

static void t_spec_send(uint16_t type, uint32_t stream, uint32_t ref, const struct agent_proc_spec *s)
{
	_cleanup_buf_ struct buf b = BUF_INIT;

	if (agent_encode_proc(&b, type, stream, ref, s) < 0)
		abort();
	t_send_buf(&g, &b);
}

/* EXEC argv in the running guest and collect everything. */
static void t_run(uint32_t stream, char *const *argv, char *const *env, const char *cwd, uint32_t uid,
		  struct t_proc *p)
{
	struct agent_proc_spec s = { .argv = argv, .env = env, .cwd = cwd, .uid = uid, .gid = uid };

	memset(p, 0, sizeof(*p));
	t_spec_send(PROTO_T_EXEC, stream, stream, &s);
	t_proc_wait(&g, stream, p, 5000);
}

static void t_hello(void)
{
	struct agent_hello h;
	uint8_t hello[PROTO_HELLO_FIXED];

	t_ok(t_recv(&g, 5000) == 1 && g.f.h.type == PROTO_T_HELLO, "guest says hello first");
	int r = agent_decode_hello(&g.f, &h);
	t_ok(r == 0 && h.version == PROTO_VERSION, "hello decodes, version %u", h.version);
	t_ok(h.features & PROTO_FEAT_PTY, "guest announces pty support");
	t_ok(h.guest_start_ns > 0 && h.guest_sent_ns >= h.guest_start_ns, "hello carries guest-init's clock");
	proto_put32(hello, PROTO_MAGIC);
	proto_put32(hello + 4, PROTO_VERSION);
	proto_put32(hello + 8, 0);
	t_send(&g, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
}

static void t_exit_codes(void)
{
	char *ok[] = { "sh", "-c", "echo out; echo err >&2; exit 42", NULL };
	char *one[] = { "false", NULL };
	char *nf[] = { "/no/such/cmd", NULL };
	char *na[] = { "/tmp/ucrt-t-noexec", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct t_proc p;
	int fd;

	t_run(10, ok, env, NULL, 0, &p);
	t_ok(p.started && p.res.err == 0 && p.res.pid > 0, "exec result ok with a pid");
	t_ok(p.out.len == 4 && memcmp(p.out.data, "out\n", 4) == 0, "stdout captured");
	t_ok(p.err.len == 4 && memcmp(p.err.data, "err\n", 4) == 0, "stderr captured separately");
	t_ok(p.out_eof && p.err_eof, "both channels ended before exit");
	t_is(p.ex.code, 42, "exit code 42");
	t_proc_free(&p);

	t_run(11, one, env, NULL, 0, &p);
	t_is(p.ex.code, 1, "exit code 1");
	t_proc_free(&p);

	t_run(12, nf, env, NULL, 0, &p);
	t_is(p.ex.code, 127, "not found: 127");
	t_ok(p.err.len && strstr(p.err.data, "/no/such/cmd"), "not found: message on stderr");
	t_proc_free(&p);

	fd = open("/tmp/ucrt-t-noexec", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	close(fd);
	t_run(13, na, env, NULL, 0, &p);
	t_is(p.ex.code, 126, "not executable: 126");
	unlink("/tmp/ucrt-t-noexec");
	t_proc_free(&p);
}

static void t_env_cwd_uid(void)
{
	char *argv[] = { "sh", "-c", "echo $FOO; pwd; id -u; id -G", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "FOO=bar baz", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env, .cwd = "/tmp/ucrt-t-cwd/sub",
				     .uid = 65534, .gid = 65534, .groups = (uint32_t[]){ 65534, 100 },
				     .ngroups = 2 };
	struct t_proc p = { 0 };

	if (getuid() != 0) {
		t_ok(1, "# SKIP uid change needs root");
		return;
	}
	t_spec_send(PROTO_T_EXEC, 20, 20, &s);
	t_proc_wait(&g, 20, &p, 5000);
	t_streq(p.out.data, "bar baz\n/tmp/ucrt-t-cwd/sub\n65534\n65534 100\n", "env, created cwd, uid and groups");
	rmdir("/tmp/ucrt-t-cwd/sub");
	rmdir("/tmp/ucrt-t-cwd");
	t_proc_free(&p);
}

static void t_stdin_and_signal(void)
{
	char *cat[] = { "cat", NULL };
	char *slp[] = { "sleep", "100", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct agent_proc_spec s = { .argv = cat, .env = env, .stdin_open = true };
	struct t_proc p = { 0 }, q = { 0 };
	uint8_t sig[4];

	t_spec_send(PROTO_T_EXEC, 30, 30, &s);
	t_send(&g, PROTO_T_STDIN, 0, 30, 0, "hello ", 6);
	t_send(&g, PROTO_T_STDIN, PROTO_F_EOF, 30, 0, "world", 5);
	t_proc_wait(&g, 30, &p, 5000);
	t_streq(p.out.data, "hello world", "stdin reaches the process, EOF ends it");
	t_is(p.ex.code, 0, "cat exits 0");

	s.argv = slp;
	s.stdin_open = false;
	t_spec_send(PROTO_T_EXEC, 31, 31, &s);
	while (!q.started && t_recv(&g, 5000) == 1)
		t_proc_frame(&g, 31, &q, false);
	proto_put32(sig, 15);
	t_send(&g, PROTO_T_SIGNAL, 0, 31, 0, sig, 4);
	t_proc_wait(&g, 31, &q, 5000);
	t_ok(q.exited && q.ex.code == 143 && q.ex.signal == 15, "SIGTERM delivered: 143 (got %u)", q.ex.code);
	t_proc_free(&p);
	t_proc_free(&q);
}

static void t_pty(void)
{
	char *argv[] = { "sh", "-c", "stty size; read x; stty size; test -t 0 && echo tty", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env, .tty = true, .stdin_open = true,
				     .rows = 24, .cols = 80 };
	struct t_proc p = { 0 };
	uint8_t rs[PROTO_RESIZE_SIZE] = { 0 };

	t_spec_send(PROTO_T_EXEC, 40, 40, &s);
	while (!strstr(p.out.data ? p.out.data : "", "24 80") && t_recv(&g, 5000) == 1)
		t_proc_frame(&g, 40, &p, false);
	t_ok(p.out.data && strstr(p.out.data, "24 80\r\n"), "pty with initial size 24x80");
	proto_put16(rs, 30);
	proto_put16(rs + 2, 100);
	t_send(&g, PROTO_T_RESIZE, 0, 40, 0, rs, sizeof(rs));
	t_send(&g, PROTO_T_STDIN, 0, 40, 0, "\n", 1);
	t_proc_wait(&g, 40, &p, 5000);
	t_ok(p.out.data && strstr(p.out.data, "30 100\r\n"), "resize reaches the pty");
	t_ok(p.out.data && strstr(p.out.data, "tty\r\n"), "stdin is a terminal");
	t_ok(p.err.len == 0 && p.ex.code == 0, "no stderr channel with a pty, exit 0");
	t_proc_free(&p);
}

/* 1 MiB with a reader that grants nothing after the initial window: the
 * guest must stop at the window, then resume as credit comes. */
static void t_flow_control(void)
{
	char *argv[] = { "head", "-c", "1048576", "/dev/zero", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env };
	struct t_proc p = { 0 };
	uint8_t c[PROTO_CREDIT_SIZE];
	int r;

	t_spec_send(PROTO_T_EXEC, 50, 50, &s);
	/* Until the window is used up (head may start seconds late on a loaded
	 * machine, and a pause in its output is no end), then half a second
	 * more for anything sent beyond it. */
	while (p.out.len < PROTO_INITIAL_CREDIT && !p.exited && t_recv(&g, 5000) == 1)
		t_proc_frame(&g, 50, &p, true);
	while ((r = t_recv(&g, 500)) == 1)
		t_proc_frame(&g, 50, &p, true);
	t_is(p.out.len, PROTO_INITIAL_CREDIT, "output stops at the initial credit");
	t_ok(!p.exited, "the writer is blocked, not finished");
	while (!p.exited && p.out.len < 1048576) {
		proto_put32(c, PROTO_CHAN_STDOUT);
		proto_put32(c + 4, 64 * 1024);
		t_send(&g, PROTO_T_CREDIT, 0, 50, 0, c, sizeof(c));
		size_t before = p.out.len;
		while (p.out.len < before + 64 * 1024 && !p.exited && t_recv(&g, 5000) == 1)
			t_proc_frame(&g, 50, &p, true);
		if (p.out.len > before + 64 * 1024)
			break;
	}
	t_proc_wait(&g, 50, &p, 5000);
	t_is(p.out.len, 1048576, "all 1 MiB arrived, never beyond the credit");
	t_is(p.ex.code, 0, "writer exits 0");
	t_proc_free(&p);
}

static void t_stats(void)
{
	struct agent_stats st;

	t_send(&g, PROTO_T_STATS_REQ, 0, 0, 77, NULL, 0);
	t_ok(t_recv(&g, 5000) == 1 && g.f.h.type == PROTO_T_STATS && g.f.h.ref == 77, "stats reply");
	int r = agent_decode_stats(&g.f, &st);
	t_ok(r == 0 && st.mem_total > 0 && st.nprocs > 0 && st.mem_available <= st.mem_total,
	     "stats decode: mem %llu MiB, avail %llu MiB", (unsigned long long)st.mem_total >> 20,
	     (unsigned long long)st.mem_available >> 20);
}

static int t_result_of(uint16_t type, uint32_t stream, const void *p, size_t len, char *msg, size_t cap)
{
	struct agent_result r = { .err = -1 };

	t_send(&g, type, 0, stream, 900 + stream, p, len);
	while (t_recv(&g, 5000) == 1)
		if (g.f.h.type == PROTO_T_RESULT && g.f.h.ref == 900 + stream) {
			agent_decode_result(&g.f, &r);
			break;
		}
	snprintf(msg, cap, "%s", r.msg);
	return r.err;
}

/* Requests the guest must refuse with a reason, staying up. */
static void t_bad_requests(void)
{
	uint8_t p[64];
	size_t off = 0;
	char msg[256];
	int e;

	proto_tlv_putstr(p, sizeof(p), &off, PROTO_A_ENV, "A=1");
	e = t_result_of(PROTO_T_EXEC, 60, p, off, msg, sizeof(msg));
	t_ok(e == EINVAL && *msg, "no argv: EINVAL (%s)", msg);
	off = 0;
	proto_tlv_putstr(p, sizeof(p), &off, PROTO_A_ARG, "true");
	proto_tlv_putstr(p, sizeof(p), &off, PROTO_A_CWD, "rel");
	e = t_result_of(PROTO_T_EXEC, 61, p, off, msg, sizeof(msg));
	t_ok(e == EINVAL && strstr(msg, "absolute"), "relative cwd: EINVAL (%s)", msg);
	off = 0;
	proto_tlv_putstr(p, sizeof(p), &off, PROTO_A_ARG, "true");
	proto_tlv_put(p, sizeof(p), &off, PROTO_A_UID, "\1", 1);
	e = t_result_of(PROTO_T_EXEC, 62, p, off, msg, sizeof(msg));
	t_ok(e == EINVAL, "short uid attribute: EINVAL (%s)", msg);
	e = t_result_of(PROTO_T_EXEC, 63, p, off - 2, msg, sizeof(msg));
	t_ok(e == EBADMSG, "truncated TLV: EBADMSG (%s)", msg);
	e = t_result_of(PROTO_T_EXEC, 0, p, off, msg, sizeof(msg));
	t_ok(e == EINVAL, "stream id 0: EINVAL (%s)", msg);
}

/* A broken header makes the guest hang up, not crash. */
static void t_garbage(void)
{
	struct t_guest *b = xcalloc(1, sizeof(*b));
	uint8_t junk[PROTO_HDR_SIZE];
	int ws;

	memset(junk, 0xff, sizeof(junk));
	if (t_guest_spawn(b, NULL) < 0)
		abort();
	t_recv(b, 5000);	/* hello */
	write_all(b->fd, junk, sizeof(junk));
	t_ok(t_recv(b, 5000) == -1, "garbage header: guest closes the channel");
	ws = t_guest_end(b);
	t_ok(WIFEXITED(ws) && WEXITSTATUS(ws) == 1, "and exits 1");
	free(b);
}

/* The main process: SIGTERM to ucrt-init is forwarded to it; its end ends
 * the guest. */
static void t_main_exit(void)
{
	char *argv[] = { "sh", "-c", "trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.05; done", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env };
	struct t_proc p = { 0 };
	int ws;

	t_spec_send(PROTO_T_START, 1, 1, &s);
	while (!(p.out.data && strstr(p.out.data, "ready")) && t_recv(&g, 5000) == 1)
		t_proc_frame(&g, 1, &p, false);
	kill(g.pid, SIGTERM);
	t_proc_wait(&g, 1, &p, 5000);
	t_ok(p.exited && p.ex.code == 7, "SIGTERM to init reaches the main process (exit %u)", p.ex.code);
	t_streq(p.out.data, "ready\nbye\n", "main process output complete");
	t_ok(t_recv(&g, 5000) == -1, "guest ends after the main process");
	ws = t_guest_end(&g);
	t_ok(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "ucrt-init exited cleanly");
	t_proc_free(&p);
}

/* PROTO_A_ROOT (a pod's container): chrooted into root, with /proc,
 * /sys and /dev of its own mount namespace there; refused when not
 * absolute. Needs root (unshare, mount, chroot). */
static void t_pod_root(void)
{
	char dir[] = "/tmp/ucrt-t-podroot.XXXXXX", path[256], cmd[600];
	char *argv[] = { "/bin/sh", "-c", "cat /marker; test -r /proc/self/status && test -d /sys/kernel && "
			 "test -c /dev/null && echo kernel-fs; pwd", NULL };
	char *env[] = { "PATH=/bin", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env, .cwd = "/work" };
	struct t_proc p;

	if (geteuid() != 0 || !mkdtemp(dir)) {
		t_ok(1, "# SKIP a pod root needs root");
		return;
	}
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/bin && cp /bin/busybox %s/bin/ && ln -s busybox %s/bin/sh && "
		 "ln -s busybox %s/bin/cat && ln -s busybox %s/bin/test && ln -s busybox %s/bin/pwd && "
		 "echo in-pod-root >%s/marker", dir, dir, dir, dir, dir, dir, dir);
	if (system(cmd) != 0) {
		t_ok(1, "# SKIP no /bin/busybox");
		return;
	}
	s.root = dir;
	memset(&p, 0, sizeof(p));
	t_spec_send(PROTO_T_EXEC, 60, 60, &s);
	t_proc_wait(&g, 60, &p, 5000);
	buf_putc(&p.out, 0);
	t_streq((char *)p.out.data, "in-pod-root\nkernel-fs\n/work\n", "chrooted into root, kernel fs there, cwd made inside");
	t_ok(p.exited && p.ex.code == 0, "exit 0");
	t_proc_free(&p);
	snprintf(path, sizeof(path), "%s/proc/self", dir);
	t_ok(access(path, F_OK) < 0, "its /proc went with its mount namespace");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	t_ok(system(cmd) == 0, "cleanup");
}

int main(void)
{
	if (t_guest_spawn(&g, NULL) < 0)
		t_skip_all("build/ucrt-init not built");
	t_hello();
	t_exit_codes();
	t_env_cwd_uid();
	t_stdin_and_signal();
	t_pty();
	t_flow_control();
	t_stats();
	t_bad_requests();
	t_garbage();
	t_pod_root();
	t_main_exit();
	return t_done();
}
