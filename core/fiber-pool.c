/* A fixed number of worker fibers draining a job list: the registry's
 * concurrent blob transfers (pull and push). Workers share one cursor, so
 * jobs start in order and a slow job never holds up the others. */
#include "fiber.h"

#include <errno.h>

struct fiber_pool {
	size_t next, njobs;
	fiber_job_fn job;
	void *arg;
	unsigned live;
	int status;
	struct fiber *waiter;
};

static void fiber_pool_worker(void *arg)
{
	struct fiber_pool *p = arg;

	while (p->status >= 0 && p->next < p->njobs) {
		int r = p->job(p->arg, p->next++);
		if (r < 0 && p->status >= 0)
			p->status = r;
	}
	if (--p->live == 0 && p->waiter)
		fiber_wake(p->waiter);
}

int fiber_pool_run(struct loop *l, unsigned workers, size_t njobs, fiber_job_fn job, void *arg,
		   size_t stack_size)
{
	struct fiber_pool p = { .njobs = njobs, .job = job, .arg = arg };

	if (!fiber_current())
		return -EINVAL;
	if (workers == 0)
		workers = 1;
	if (workers > njobs)
		workers = (unsigned)njobs;
	p.live = workers;
	for (unsigned i = 0; i < workers; i++)
		fiber_spawn(l, fiber_pool_worker, &p, stack_size);
	while (p.live) {
		p.waiter = fiber_current();
		fiber_suspend();
	}
	return p.status;
}
