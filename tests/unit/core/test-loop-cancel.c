/* Cancellation races: cancel a finished op (also one whose CQE sits in
 * the same batch), a pending read, a multishot poll, cancel from another
 * callback, twice, reuse an op in its own callback, free ops inside their
 * callbacks (ASan builds catch any later touch). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

static struct loop *L;

struct t_rec {
	struct loop_op op;
	int calls;
	int res;
	uint32_t flags;
	char buf[64];
	struct loop_op *victim;	/* to cancel from this callback */
};

static void t_rec_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct t_rec *r = container_of(op, struct t_rec, op);
	r->calls++;
	r->res = res;
	r->flags = flags;
	if (r->victim)
		loop_cancel(L, r->victim);
}

static void t_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();
}

static void test_cancel_completed(void)
{
	struct t_rec x = { .op.cb = t_rec_cb }, y = { .op.cb = t_rec_cb };
	int p[2], q[2];

	t_pipe(p);
	t_pipe(q);
	/* Finished and dispatched: cancel is a no-op. */
	write(p[1], "hello", 5);
	loop_read(L, &x.op, p[0], x.buf, sizeof(x.buf), -1);
	loop_run(L);
	t_ok(x.calls == 1 && x.res == 5, "read completed with 5 bytes");
	t_is(loop_cancel(L, &x.op), 0, "cancel of a completed op returns 0");
	t_is(loop_pending(L), 0, "and queues nothing that keeps the loop alive");
	loop_run(L);
	t_is(x.calls, 1, "its callback does not run again");

	/* Completed, CQE in the same batch but not yet dispatched: y (first
	 * in the batch) cancels x. x still gets exactly its real result. */
	x.calls = 0;
	write(p[1], "abc", 3);
	write(q[1], "z", 1);
	y.victim = &x.op;
	loop_read(L, &y.op, q[0], y.buf, sizeof(y.buf), -1);
	loop_read(L, &x.op, p[0], x.buf, sizeof(x.buf), -1);
	loop_run(L);
	t_ok(y.calls == 1 && y.res == 1, "y read its byte");
	t_ok(x.calls == 1 && x.res == 3, "x, cancelled after it finished, ran once with its real result (%d)", x.res);
	t_is(loop_pending(L), 0, "nothing pending");
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static void test_cancel_pending(void)
{
	struct t_rec x = { .op.cb = t_rec_cb };
	int p[2];

	t_pipe(p);
	loop_read(L, &x.op, p[0], x.buf, sizeof(x.buf), -1);
	t_is(loop_run_once(L, false), 0, "read on an empty pipe stays pending");
	t_ok(loop_op_active(&x.op), "op active");
	t_is(loop_cancel(L, &x.op), 0, "cancel queued");
	t_is(loop_cancel(L, &x.op), 0, "cancelling twice is harmless");
	loop_run(L);
	t_ok(x.calls == 1 && x.res == -ECANCELED, "callback ran once with -ECANCELED (%d calls, res %d)", x.calls, x.res);
	t_ok(!loop_op_active(&x.op), "op no longer active");

	/* Cancel before the request ever reached the kernel. */
	x.calls = 0;
	loop_read(L, &x.op, p[0], x.buf, sizeof(x.buf), -1);
	loop_cancel(L, &x.op);
	loop_run(L);
	t_ok(x.calls == 1 && x.res == -ECANCELED, "cancel in the same batch as the read: -ECANCELED once");
	close(p[0]);
	close(p[1]);
}

static void test_cancel_multishot(void)
{
	struct t_rec x = { .op.cb = t_rec_cb };
	char c;
	int p[2];

	t_pipe(p);
	t_is(loop_poll(L, &x.op, p[0], POLLIN, true), 0, "multishot poll queued");
	loop_run_once(L, false);
	for (int i = 0; i < 3; i++) {
		write(p[1], "x", 1);
		while (x.calls == i)
			loop_run_once(L, true);
		read(p[0], &c, 1);
	}
	t_is(x.calls, 3, "three wakeups");
	t_ok(loop_cqe_more(x.flags) && (x.res & POLLIN), "each with POLLIN and MORE set");
	t_ok(loop_op_active(&x.op), "multishot poll still active");
	loop_cancel(L, &x.op);
	loop_run(L);
	t_is(x.calls, 4, "one final callback after cancel");
	t_ok(x.res == -ECANCELED && !loop_cqe_more(x.flags), "final: -ECANCELED without MORE");
	t_ok(!loop_op_active(&x.op), "inactive");
	close(p[0]);
	close(p[1]);
}

static void test_cancel_from_callback(void)
{
	struct t_rec x = { .op.cb = t_rec_cb }, tmo = { .op.cb = t_rec_cb };
	int p[2];

	t_pipe(p);
	loop_read(L, &x.op, p[0], x.buf, sizeof(x.buf), -1);
	tmo.victim = &x.op;
	loop_timeout(L, &tmo.op, 10 * 1000000ull, false);
	loop_run(L);
	t_ok(tmo.calls == 1 && tmo.res == -ETIME, "timeout fired");
	t_ok(x.calls == 1 && x.res == -ECANCELED, "the read it cancelled ended with -ECANCELED");

	/* A timeout op cancelled from a read's callback. */
	x.calls = tmo.calls = 0;
	tmo.victim = NULL;
	x.victim = &tmo.op;
	loop_timeout(L, &tmo.op, 10ull * 1000000000ull, false);
	loop_read(L, &x.op, p[0], x.buf, sizeof(x.buf), -1);
	write(p[1], "q", 1);
	uint64_t t0 = loop_now_ns();
	loop_run(L);
	t_ok(x.calls == 1 && x.res == 1, "read completed");
	t_ok(tmo.calls == 1 && tmo.res == -ECANCELED, "10 s timeout cancelled from the read's callback");
	t_ok(loop_now_ns() - t0 < 5000000000ull, "loop did not wait for it");	/* half of it: load-proof */
	close(p[0]);
	close(p[1]);
}

/* Reuse an op inside its own callback after a cancel: the stale cancel
 * must not hit the new request. */
static int t_reuse_fd, t_reuse_calls, t_reuse_res[2];
static char t_reuse_buf[8];
static void t_reuse_cb(struct loop_op *op, int res, uint32_t flags)
{
	t_reuse_res[t_reuse_calls++] = res;
	if (t_reuse_calls == 1)
		loop_read(L, op, t_reuse_fd, t_reuse_buf, sizeof(t_reuse_buf), -1);
}

static void test_reuse(void)
{
	struct loop_op op = { .cb = t_reuse_cb };
	int p[2];

	t_pipe(p);
	t_reuse_fd = p[0];
	loop_read(L, &op, p[0], t_reuse_buf, sizeof(t_reuse_buf), -1);
	loop_run_once(L, false);
	loop_cancel(L, &op);
	loop_run_once(L, true);
	t_ok(t_reuse_calls == 1 && t_reuse_res[0] == -ECANCELED, "first read cancelled");
	t_ok(loop_op_active(&op), "re-queued from its callback");
	write(p[1], "ok", 2);
	loop_run(L);
	t_ok(t_reuse_calls == 2 && t_reuse_res[1] == 2, "the re-queued read completed normally (%d)", t_reuse_res[1]);
	close(p[0]);
	close(p[1]);
}

/* Ops freed inside their callbacks, one-shot and multishot. */
static int t_freed;
static void t_free_cb(struct loop_op *op, int res, uint32_t flags)
{
	if (loop_cqe_more(flags)) {
		loop_cancel(L, op);	/* still armed: must not free yet */
		return;
	}
	t_freed++;
	free(container_of(op, struct t_rec, op));
}

static void test_free_in_callback(void)
{
	int p[2];

	t_pipe(p);
	for (int i = 0; i < 100; i++) {
		struct t_rec *r = xcalloc(1, sizeof(*r));
		r->op.cb = t_free_cb;
		if (i % 3 == 0)
			loop_read(L, &r->op, p[0], r->buf, sizeof(r->buf), -1);
		else if (i % 3 == 1)
			loop_poll(L, &r->op, p[1], POLLOUT, true);
		else
			loop_timeout(L, &r->op, (uint64_t)i * 100000, false);
		if (i % 3 == 0)
			loop_cancel(L, &r->op);
	}
	loop_run(L);
	t_is(t_freed, 100, "100 ops freed inside their final callbacks");
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	struct err e = { 0 };
	int fds = t_count_fds();

	if (loop_new(&L, 64, &e) < 0)
		t_skip_all(err_msg(&e));
	test_cancel_completed();
	test_cancel_pending();
	test_cancel_multishot();
	test_cancel_from_callback();
	test_reuse();
	test_free_in_callback();
	t_is(loop_pending(L), 0, "nothing pending at the end");
	loop_free(L);
	t_is(t_count_fds(), fds, "no fd leaked");
	return t_done();
}
