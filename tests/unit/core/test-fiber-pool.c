/* The worker-fiber pool (fiber_pool_run): jobs start in order, never more
 * than `workers` at once, each exactly once; the first failure stops new
 * jobs and is returned after the running ones finished; edge cases. And
 * loop_drain: a cancelled op's completion is dispatched without waiting
 * for anything else. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fiber.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

#define MS 1000000ull
#define NJOBS 10

static struct loop *L;

struct t_pool {
	int ran[NJOBS], order[NJOBS];
	unsigned nstarted, live, max_live;
	size_t fail_at;		/* NJOBS: none */
	bool finished_after_fail;
	int r;
	unsigned workers;
	size_t njobs;
};

static int t_job(void *arg, size_t i)
{
	struct t_pool *p = arg;

	p->order[p->nstarted++] = (int)i;
	p->ran[i]++;
	if (++p->live > p->max_live)
		p->max_live = p->live;
	/* Uneven durations: later jobs overtake earlier ones. */
	fiber_sleep(L, (uint64_t)((i * 7) % 5 + 1) * MS);
	p->live--;
	if (i == p->fail_at)
		return -EIO;
	return 0;
}

static void t_runner(void *arg)
{
	struct t_pool *p = arg;
	p->r = fiber_pool_run(L, p->workers, p->njobs, t_job, p, 0);
	p->finished_after_fail = p->live == 0;
}

static void t_run(struct t_pool *p)
{
	fiber_spawn(L, t_runner, p, 0);
	loop_run(L);
}

static void test_pool(void)
{
	struct t_pool p = { .fail_at = NJOBS, .workers = 3, .njobs = NJOBS };
	bool in_order = true, once = true;

	t_run(&p);
	t_is(p.r, 0, "all jobs succeeded: 0");
	for (int i = 0; i < NJOBS; i++) {
		in_order &= p.order[i] == i;
		once &= p.ran[i] == 1;
	}
	t_ok(once && p.nstarted == NJOBS, "every job ran exactly once");
	t_ok(in_order, "jobs started in order");
	t_is(p.max_live, 3, "at most 3 at once, and 3 did run at once");

	memset(&p, 0, sizeof(p));
	p = (struct t_pool){ .fail_at = 4, .workers = 3, .njobs = NJOBS };
	t_run(&p);
	t_is(p.r, -EIO, "a failing job: its error");
	t_ok(p.finished_after_fail, "returned only after the running jobs finished");
	t_ok(p.nstarted < NJOBS && p.ran[NJOBS - 1] == 0, "no job started after the failure (%u started)", p.nstarted);

	memset(&p, 0, sizeof(p));
	p = (struct t_pool){ .fail_at = NJOBS, .workers = 64, .njobs = 2 };
	t_run(&p);
	t_ok(p.r == 0 && p.nstarted == 2 && p.max_live == 2, "more workers than jobs: one per job");

	memset(&p, 0, sizeof(p));
	p = (struct t_pool){ .fail_at = NJOBS, .workers = 0, .njobs = 3 };
	t_run(&p);
	t_ok(p.r == 0 && p.nstarted == 3 && p.max_live == 1, "0 workers means one");

	memset(&p, 0, sizeof(p));
	p = (struct t_pool){ .fail_at = NJOBS, .workers = 4, .njobs = 0 };
	t_run(&p);
	t_ok(p.r == 0 && p.nstarted == 0, "no jobs: 0 at once");
	t_is(loop_pending(L), 0, "no fiber left behind");

	t_is(fiber_pool_run(L, 2, 2, t_job, &p, 0), -EINVAL, "outside a fiber: -EINVAL");
}

static int t_cancelled;
static void t_read_cb(struct loop_op *op, int res, uint32_t flags)
{
	t_cancelled = res;
}

static void test_drain(void)
{
	struct loop_op op = { .cb = t_read_cb };
	char buf[8];
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	loop_read(L, &op, p[0], buf, sizeof(buf), (uint64_t)-1);
	loop_run_once(L, false);
	loop_cancel(L, &op);
	t_ok(loop_pending(L) > 0, "a cancelled read is still pending");
	uint64_t t0 = loop_now_ns();
	loop_drain(L);
	t_ok(t_cancelled == -ECANCELED, "loop_drain dispatched its completion");
	t_is(loop_pending(L), 0, "nothing left pending");
	t_ok(loop_now_ns() - t0 < 2000 * MS, "without waiting for more");
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	struct err e = { 0 };

	if (loop_new(&L, 64, &e) < 0)
		t_skip_all(err_msg(&e));
	t_plan(16);
	test_pool();
	test_drain();
	loop_free(L);
	return t_failed ? 1 : 0;
}
