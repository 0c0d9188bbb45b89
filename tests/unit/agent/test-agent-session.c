/* The agent session on the reactor, against the real ucrt-init over a
 * socketpair (no VM), and against a hostile fake guest. */
#include <linux/time_types.h>	/* loop.h uses __kernel_timespec */

#include "tests/lib/tap.h"
#include "t-guest.h"
#include "err.h"
#include "loop.h"

struct t_ctx {
	struct loop *loop;
	struct agent *a;
	uint32_t main_id, exec_id, flood_id;
	struct buf out[8][3];
	int code[8];
	bool ready, got_stats;
	struct agent_stats st;
	int closed_err;
	char closed_msg[256];
	bool closed;
	uint64_t flood_bytes, flood_granted;
	struct loop_timer grant;
	char *flood_argv[5];
	bool hostile, overshoot, shut;
	unsigned ticks;
};

static void t_on_ready(struct agent *a, const struct agent_hello *h, void *ud)
{
	struct t_ctx *c = ud;
	static char *env[] = { "PATH=/usr/bin:/bin", NULL };
	static char *mainv[] = { "sh", "-c", "echo out; echo err >&2; cat; exit 5", NULL };
	static char *execv_[] = { "echo", "from exec", NULL };
	static char *floodv[] = { "head", "-c", "1048576", "/dev/zero", NULL };
	struct agent_proc_spec s = { .argv = mainv, .env = env, .stdin_open = true };

	c->ready = true;
	if (c->shut) {
		t_is(agent_shutdown(a), 0, "shutdown queued");
		return;
	}
	if (c->hostile) {
		agent_set_auto_credit(a, false);	/* a reader that grants nothing */
		agent_start(a, &s, &c->main_id);
		return;
	}
	s.argv = execv_;
	s.stdin_open = false;
	int r = agent_exec(a, &s, &c->exec_id);
	t_ok(r == 0, "exec queued, stream %u", c->exec_id);
	s.argv = floodv;
	t_ok(agent_exec(a, &s, &c->flood_id) == 0, "flood exec queued");
	t_ok(agent_request_stats(a) == 0, "stats requested");
}

static void t_on_result(struct agent *a, uint32_t stream, const struct agent_result *r, void *ud)
{
	if (r->err)
		t_diag("stream %u failed: %s", stream, r->msg);
}

static void t_on_output(struct agent *a, uint32_t stream, int chan, const uint8_t *d, size_t len, bool eof,
			void *ud)
{
	struct t_ctx *c = ud;

	if (c->hostile)
		return;
	if (stream == c->flood_id) {
		c->flood_bytes += len;
		return;		/* credit comes from the slow timer below */
	}
	if (stream < 8)
		buf_append(&c->out[stream][chan], d, len);
	if (len)
		agent_credit(a, stream, chan, (uint32_t)len);
}

static void t_start_main(struct t_ctx *c)
{
	static char *env[] = { "PATH=/usr/bin:/bin", NULL };
	static char *mainv[] = { "sh", "-c", "echo out; echo err >&2; cat; exit 5", NULL };
	struct agent_proc_spec s = { .argv = mainv, .env = env, .stdin_open = true };

	t_ok(agent_start(c->a, &s, &c->main_id) == 0, "main process queued");
	t_ok(agent_stdin(c->a, c->main_id, "typed\n", 6) == 6, "stdin within credit taken");
	t_ok(agent_stdin_eof(c->a, c->main_id) == 0, "stdin EOF queued");
}

static void t_on_exit(struct agent *a, uint32_t stream, const struct agent_exit *e, void *ud)
{
	struct t_ctx *c = ud;

	if (stream < 8)
		c->code[stream] = (int)e->code;
	if (stream == c->flood_id)
		t_start_main(c);	/* the main process ends the guest: last */
}

static void t_on_stats(struct agent *a, const struct agent_stats *st, void *ud)
{
	struct t_ctx *c = ud;

	c->got_stats = true;
	c->st = *st;
}

static void t_on_closed(struct agent *a, int err, const char *msg, void *ud)
{
	struct t_ctx *c = ud;

	c->closed = true;
	c->closed_err = err;
	snprintf(c->closed_msg, sizeof(c->closed_msg), "%s", msg);
	loop_stop(c->loop);
}

/* A slow reader: 64 KiB more credit every 5 ms. */
static void t_grant(struct loop_timer *t)
{
	struct t_ctx *c = t->data;

	if (c->closed)
		return;
	if (c->flood_id && c->flood_bytes < 1048576 && agent_is_open(c->a)) {
		if (c->flood_bytes > c->flood_granted + PROTO_INITIAL_CREDIT)
			c->overshoot = true;
		agent_credit(c->a, c->flood_id, PROTO_CHAN_STDOUT, 64 * 1024);
		c->flood_granted += 64 * 1024;
		c->ticks++;
	}
	loop_timer_start(c->loop, t, 5 * 1000 * 1000);
}

static const struct agent_ops t_ops = {
	.ready = t_on_ready,
	.result = t_on_result,
	.output = t_on_output,
	.exit = t_on_exit,
	.stats = t_on_stats,
	.closed = t_on_closed,
};

/* Let cancelled ops complete so the freed session's memory goes too. */
static void t_drain(struct loop *l)
{
	while (loop_pending(l) && loop_run_once(l, true) >= 0)
		;
}

static void t_real_guest(struct loop *l)
{
	struct t_ctx c = { .loop = l };
	struct t_guest *g = xcalloc(1, sizeof(*g));

	if (t_guest_spawn(g, NULL) < 0) {
		t_ok(1, "# SKIP ucrt-init not built");
		free(g);
		return;
	}
	t_is(agent_new(&c.a, l, g->fd, &t_ops, &c), 0, "session started");
	agent_set_auto_credit(c.a, false);
	loop_timer_init(&c.grant, t_grant, &c);
	loop_timer_start(l, &c.grant, 5 * 1000 * 1000);
	loop_run(l);
	loop_timer_stop(l, &c.grant);
	t_ok(c.ready, "guest hello seen");
	t_streq(c.out[c.exec_id][1].data, "from exec\n", "exec output");
	t_is(c.code[c.exec_id], 0, "exec exit 0");
	t_is(c.flood_bytes, 1048576, "1 MiB through a slow reader");
	t_ok(!c.overshoot && c.ticks >= 12, "never beyond the credit, paced by the reader (%u grants)", c.ticks);
	t_ok(c.got_stats && c.st.mem_total > 0, "stats arrived");
	t_streq(c.out[c.main_id][1].data, "out\ntyped\n", "main stdout with echoed stdin");
	t_streq(c.out[c.main_id][2].data, "err\n", "main stderr");
	t_is(c.code[c.main_id], 5, "main exit 5");
	t_ok(c.closed && c.closed_err == 0, "guest closed after main exit (%s)", c.closed_msg);
	agent_free(c.a);	/* closes the fd */
	t_drain(l);
	int ws = t_guest_end(g);
	(void)ws;
	for (int i = 0; i < 8; i++)
		for (int k = 0; k < 3; k++)
			buf_free(&c.out[i][k]);
	free(g);
}

/* SHUTDOWN with no process started: the real guest-init ends its session
 * (in a VM it then syncs and powers off). */
static void t_shutdown(struct loop *l)
{
	struct t_ctx c = { .loop = l, .shut = true };
	struct t_guest *g = xcalloc(1, sizeof(*g));

	if (t_guest_spawn(g, NULL) < 0) {
		t_ok(1, "# SKIP ucrt-init not built");
		free(g);
		return;
	}
	agent_new(&c.a, l, g->fd, &t_ops, &c);
	loop_run(l);
	t_ok(c.ready && c.closed && c.closed_err == 0, "guest-init ends its session on SHUTDOWN (%s)", c.closed_msg);
	t_is(agent_shutdown(c.a), -EPIPE, "no shutdown on a closed session");
	agent_free(c.a);
	t_drain(l);
	t_guest_end(g);
	free(g);
}

/* A fake guest that writes script and closes; the session must end with
 * EPROTO and a message containing want. */
static void t_hostile(struct loop *l, const uint8_t *script, size_t len, const char *want)
{
	struct t_ctx c = { .loop = l, .hostile = true };
	int sv[2];
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		write_all(sv[1], script, len);
		char drain[4096];
		while (read(sv[1], drain, sizeof(drain)) > 0)
			;
		_exit(0);
	}
	close(sv[1]);
	agent_new(&c.a, l, sv[0], &t_ops, &c);
	loop_run(l);
	t_ok(c.closed && c.closed_err == -EPROTO && strstr(c.closed_msg, want), "hostile: %s (got: %s)", want,
	     c.closed_msg);
	agent_free(c.a);
	t_drain(l);
	waitpid(pid, NULL, 0);
}

static size_t t_put(uint8_t *out, uint16_t type, uint16_t flags, uint32_t stream, uint32_t ref, const void *p,
		    uint32_t len)
{
	struct proto_hdr h = { len, type, flags, stream, ref };

	proto_hdr_put(out, &h);
	if (len)
		memcpy(out + PROTO_HDR_SIZE, p, len);
	return PROTO_HDR_SIZE + len;
}

static void t_hostiles(struct loop *l)
{
	static uint8_t s[PROTO_INITIAL_CREDIT + 4 * PROTO_MAX_PAYLOAD];
	static uint8_t data[PROTO_MAX_PAYLOAD];
	uint8_t hello[PROTO_HELLO_FIXED], ex[PROTO_EXIT_SIZE] = { 0 }, cr[8];
	size_t n;

	proto_put32(hello, PROTO_MAGIC);
	proto_put32(hello + 4, PROTO_VERSION);
	proto_put32(hello + 8, 0);

	n = t_put(s, PROTO_T_LOG, 0, 0, 0, "x", 1);
	t_hostile(l, s, n, "before hello");

	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	n += t_put(s + n, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	t_hostile(l, s, n, "second hello");

	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	n += t_put(s + n, PROTO_T_STDOUT, 0, 9, 0, "x", 1);
	t_hostile(l, s, n, "unknown stream");

	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	for (int i = 0; i < 5; i++)	/* 5 x 64 KiB > 256 KiB initial credit */
		n += t_put(s + n, PROTO_T_STDOUT, 0, 1, 0, data, sizeof(data));
	t_hostile(l, s, n, "beyond its credit");

	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	n += t_put(s + n, PROTO_T_RESULT, 0, 1, 4242, NULL, 0);
	t_hostile(l, s, n, "not pending");

	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	n += t_put(s + n, PROTO_T_EXIT, 0, 1, 0, ex, sizeof(ex));
	n += t_put(s + n, PROTO_T_STDOUT, 0, 1, 0, "late", 4);
	t_hostile(l, s, n, "unknown stream 1");

	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	proto_put32(cr, PROTO_CHAN_STDIN);
	proto_put32(cr + 4, 1);
	n += t_put(s + n, PROTO_T_CREDIT, 0, 1, 0, cr, sizeof(cr));
	t_hostile(l, s, n, "more stdin credit");

	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	n += t_put(s + n, PROTO_T_START, 0, 1, 1, NULL, 0);
	t_hostile(l, s, n, "malformed frame");

	proto_put32(hello + 4, 99);
	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	t_hostile(l, s, n, "version 99");
}

/* The host acknowledges the main process's EXIT with SHUTDOWN (guest-init
 * powers off only then). The fake guest sends HELLO, EXIT of stream 1 (the
 * main process the session STARTs on hello), reads until a SHUTDOWN comes
 * after the START (or 5 s pass) and closes, which ends the session. */
static void t_exit_ack(struct loop *l)
{
	static uint8_t s[4096], in[1 << 20];
	uint8_t hello[PROTO_HELLO_FIXED], ex[PROTO_EXIT_SIZE] = { 0 };
	struct t_ctx c = { .loop = l, .hostile = true };
	size_t n;
	int sv[2], ws = 0;
	pid_t pid;

	proto_put32(hello, PROTO_MAGIC);
	proto_put32(hello + 4, PROTO_VERSION);
	proto_put32(hello + 8, 0);
	n = t_put(s, PROTO_T_HELLO, 0, 0, 0, hello, sizeof(hello));
	n += t_put(s + n, PROTO_T_EXIT, 0, 1, 0, ex, sizeof(ex));
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	pid = fork();
	if (pid == 0) {
		size_t len = 0, off = 0;
		ssize_t r;
		bool started = false, acked = false;

		struct pollfd pf = { sv[1], POLLIN, 0 };

		close(sv[0]);
		write_all(sv[1], s, n);
		while (!acked && len < sizeof(in) && poll(&pf, 1, 5000) > 0 &&
		       (r = read(sv[1], in + len, sizeof(in) - len)) > 0) {
			len += (size_t)r;
			while (len - off >= PROTO_HDR_SIZE) {
				struct proto_hdr h;
				if (proto_hdr_get(in + off, &h) < 0 || len - off < PROTO_HDR_SIZE + h.len)
					break;
				started |= h.type == PROTO_T_START;
				acked |= started && h.type == PROTO_T_SHUTDOWN;
				off += PROTO_HDR_SIZE + h.len;
			}
		}
		_exit(acked ? 0 : 1);
	}
	close(sv[1]);
	agent_new(&c.a, l, sv[0], &t_ops, &c);
	loop_run(l);
	agent_free(c.a);
	t_drain(l);
	waitpid(pid, &ws, 0);
	t_ok(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the main process's EXIT is acknowledged with SHUTDOWN");
}

int main(void)
{
	struct loop *l;
	struct err e;

	signal(SIGPIPE, SIG_IGN);
	if (loop_new(&l, 64, &e) < 0)
		t_skip_all("no io_uring");
	t_real_guest(l);
	t_hostiles(l);
	t_exit_ack(l);
	t_shutdown(l);
	loop_free(l);
	return t_done();
}
