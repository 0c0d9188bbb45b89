/* Reactor timers: 10,000 concurrent timers fire in (deadline, start)
 * order, callbacks stop/restart timers, the kernel timeout follows the
 * earliest deadline, loop_run returns when nothing is pending. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

#define MS 1000000ull

/* --- 10,000 timers with random (often equal) deadlines --- */
#define T_MANY 10000
struct t_many {
	struct loop_timer t;
	unsigned idx;
	uint64_t when;
};
static unsigned t_fired[T_MANY], t_nfired;
static bool t_early;

static void t_many_cb(struct loop_timer *t)
{
	struct t_many *m = container_of(t, struct t_many, t);
	uint64_t now = loop_now_ns();
	if (now < m->when)
		t_early = true;
	t_fired[t_nfired++] = m->idx;
}

static int t_many_cmp(const void *a, const void *b)
{
	const struct t_many *x = a, *y = b;
	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static void test_many(struct loop *l)
{
	struct t_many *m = xcalloc(T_MANY, sizeof(*m));
	struct t_many *sorted = xcalloc(T_MANY, sizeof(*m));
	uint64_t base = loop_now_ns() + 20 * MS;
	uint64_t t0 = loop_now_ns();
	bool in_order = true;

	srand(42);
	for (unsigned i = 0; i < T_MANY; i++) {
		/* 300 distinct deadlines over 300 ms: ~33 timers share each. */
		m[i].idx = i;
		m[i].when = base + (uint64_t)(rand() % 300) * MS;
		loop_timer_init(&m[i].t, t_many_cb, NULL);
		loop_timer_start_at(l, &m[i].t, m[i].when);
	}
	t_is(loop_pending(l), T_MANY, "10,000 timers pending");
	t_is(loop_run(l), 0, "loop_run returns 0");
	t_is(t_nfired, T_MANY, "all 10,000 timers fired");
	memcpy(sorted, m, T_MANY * sizeof(*m));
	qsort(sorted, T_MANY, sizeof(*m), t_many_cmp);
	for (unsigned i = 0; i < T_MANY; i++)
		if (t_fired[i] != sorted[i].idx) {
			t_diag("position %u: fired %u, expected %u", i, t_fired[i], sorted[i].idx);
			in_order = false;
			break;
		}
	t_ok(in_order, "timers fired in deadline order, ties in start order");
	t_ok(!t_early, "no timer fired before its deadline");
	uint64_t took = loop_now_ns() - t0;
	t_ok(took >= 300 * MS && took < 3000 * MS, "run took %llu ms (deadlines span 20..320 ms)",
	     (unsigned long long)(took / MS));
	t_is(loop_pending(l), 0, "nothing pending afterwards");
	free(m);
	free(sorted);
}

/* --- callbacks that stop and restart timers --- */
static struct loop *t_loop;
static struct loop_timer t_a, t_b, t_c, t_d;
static int t_a_runs, t_b_runs, t_c_runs, t_d_runs;
static char t_log[64];

static void t_append(char c)
{
	size_t n = strlen(t_log);
	if (n + 1 < sizeof(t_log))
		t_log[n] = c;
}

static void t_a_cb(struct loop_timer *t)
{
	t_append('a');
	t_a_runs++;
	if (t_a_runs == 1)
		loop_timer_stop(t_loop, &t_b);		/* b is due after a: must not fire */
	if (t_a_runs < 3)
		loop_timer_start(t_loop, t, 5 * MS);	/* restart itself */
	else
		loop_timer_start(t_loop, &t_c, 0);	/* hand over to c */
}

static void t_b_cb(struct loop_timer *t)
{
	t_append('b');
	t_b_runs++;
}

/* c restarts itself with delay 0: must not starve the loop (d is due). */
static void t_c_cb(struct loop_timer *t)
{
	t_append('c');
	if (++t_c_runs < 5)
		loop_timer_start(t_loop, t, 0);
}

static void t_d_cb(struct loop_timer *t)
{
	t_append('d');
	t_d_runs++;
	loop_timer_stop(t_loop, t);	/* stopping a fired timer is a no-op */
}

static void test_callbacks(struct loop *l)
{
	t_loop = l;
	loop_timer_init(&t_a, t_a_cb, NULL);
	loop_timer_init(&t_b, t_b_cb, NULL);
	loop_timer_init(&t_c, t_c_cb, NULL);
	loop_timer_init(&t_d, t_d_cb, NULL);
	loop_timer_start(l, &t_a, 5 * MS);
	loop_timer_start(l, &t_b, 7 * MS);
	t_ok(loop_timer_armed(&t_b), "b armed");
	t_is(loop_run(l), 0, "loop_run");
	t_is(t_a_runs, 3, "a restarted itself twice");
	t_is(t_b_runs, 0, "b stopped from a's callback never fires");
	t_is(t_c_runs, 5, "c restarted itself with delay 0 four times");
	t_ok(!loop_timer_armed(&t_a) && !loop_timer_armed(&t_c), "nothing armed after run");
	t_streq(t_log, "aaaccccc", "callback order");

	/* A zero-delay self-restarting timer must not starve a due timer. */
	memset(t_log, 0, sizeof(t_log));
	t_c_runs = 0;
	loop_timer_start(l, &t_d, 0);
	loop_timer_start(l, &t_c, 0);
	loop_run_once(l, true);
	t_ok(t_d_runs == 1 && t_c_runs == 1, "one round fires d and c once each (got d=%d c=%d)", t_d_runs, t_c_runs);
	t_is(loop_run(l), 0, "loop_run");
	t_streq(t_log, "dccccc", "d first (started first), c keeps going round by round");
}

/* --- the kernel timeout follows the earliest deadline --- */
/* A far deadline the near ones are told apart from: a loop woken by a stale
 * kernel timeout would take this long. Upper bounds are fractions of it, so
 * a loaded machine (the test descheduled for a while) does not fail them. */
#define T_FAR_MS 30000u
static uint64_t t_fire_at;
static void t_stamp_cb(struct loop_timer *t)
{
	t_fire_at = loop_now_ns();
}

static void test_rearm(struct loop *l)
{
	struct loop_timer far, near;
	uint64_t t0 = loop_now_ns();

	loop_timer_init(&far, t_stamp_cb, NULL);
	loop_timer_init(&near, t_stamp_cb, NULL);
	loop_timer_start(l, &far, T_FAR_MS * MS);
	t_is(loop_run_once(l, false), 0, "a round arms the far timer, nothing fires");
	loop_timer_start(l, &near, 30 * MS);	/* earlier: timeout must move */
	while (!t_fire_at)
		loop_run_once(l, true);
	uint64_t took = (t_fire_at - t0) / MS;
	t_ok(took >= 30 && took < T_FAR_MS / 2, "earlier timer woke the loop after %llu ms (update of the timeout)",
	     (unsigned long long)took);
	t_ok(loop_timer_armed(&far) && !loop_timer_armed(&near), "far still armed");

	/* Restart far to a nearer instant: timeout moves again. */
	t_fire_at = 0;
	t0 = loop_now_ns();
	loop_timer_start(l, &far, 20 * MS);
	t_is(loop_run(l), 0, "loop_run");
	took = (t_fire_at - t0) / MS;
	t_ok(took >= 20 && took < T_FAR_MS / 2, "restarted timer fired after %llu ms", (unsigned long long)took);

	/* Stop the only timer: loop_run returns at once, not at the stopped
	 * timer's deadline. */
	loop_timer_start(l, &far, T_FAR_MS * MS);
	loop_run_once(l, false);
	loop_timer_stop(l, &far);
	t0 = loop_now_ns();
	t_is(loop_pending(l), 0, "stopped timer is not pending");
	t_is(loop_run(l), 0, "loop_run with nothing pending");
	t_ok(loop_now_ns() - t0 < T_FAR_MS / 2 * MS, "loop_run returned at once");

	/* A later round does not get woken early by a stale kernel timeout
	 * (of a timer stopped before it was due). */
	loop_timer_start(l, &far, 50 * MS);
	loop_run_once(l, false);
	loop_timer_stop(l, &far);
	struct loop_timer soon;
	loop_timer_init(&soon, t_stamp_cb, NULL);
	t_fire_at = 0;
	t0 = loop_now_ns();
	loop_timer_start(l, &soon, 100 * MS);
	t_is(loop_run(l), 0, "loop_run");
	took = (t_fire_at - t0) / MS;
	t_ok(took >= 100, "new timer after a removed one fires on time (%llu ms), not early",
	     (unsigned long long)took);
}

/* --- io_uring timeout ops (not the heap) --- */
static int t_timeout_res = 1;
static void t_timeout_cb(struct loop_op *op, int res, uint32_t flags)
{
	t_timeout_res = res;
}

static void test_timeout_op(struct loop *l)
{
	struct loop_op op = { .cb = t_timeout_cb };
	uint64_t t0 = loop_now_ns();

	t_is(loop_timeout(l, &op, 20 * MS, false), 0, "relative timeout queued");
	t_is(loop_timeout(l, &op, 20 * MS, false), -EBUSY, "an active op cannot be queued twice");
	t_is(loop_run(l), 0, "loop_run");
	t_is(t_timeout_res, -ETIME, "timeout op completes with -ETIME");
	t_ok(loop_now_ns() - t0 >= 20 * MS, "after 20 ms");
	t_timeout_res = 1;
	t0 = loop_now_ns();
	t_is(loop_timeout(l, &op, t0 + 30 * MS, true), 0, "absolute timeout queued");
	t_is(loop_run(l), 0, "loop_run");
	t_ok(t_timeout_res == -ETIME && loop_now_ns() >= t0 + 30 * MS, "absolute timeout fired at its instant");
}

int main(void)
{
	struct err e = { 0 };
	struct loop *l;
	int fds_before = t_count_fds();

	if (loop_new(&l, 256, &e) < 0)
		t_skip_all(err_msg(&e));
	test_many(l);
	test_callbacks(l);
	test_rearm(l);
	test_timeout_op(l);
	loop_free(l);
	t_is(t_count_fds(), fds_before, "no fd leaked");
	return t_done();
}
