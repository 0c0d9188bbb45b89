/* Stackful coroutines on the reactor.
 *
 * Code that must pull input through a callback (libarchive's read callback,
 * a libext2fs io_manager) runs in a fiber; the callback then awaits a
 * reactor op instead of blocking the process. Fibers run only on the
 * reactor thread; a switch is a few register saves (hand-written for
 * x86_64/aarch64), with ASan fiber annotations when sanitizers are on. */
#ifndef UCRT_FIBER_H
#define UCRT_FIBER_H

#include <stddef.h>
#include <stdint.h>
#include "loop.h"

struct fiber;
typedef void (*fiber_fn)(void *arg);

#define FIBER_STACK_DEFAULT (256 * 1024)

/* Create a fiber that will run fn(arg); it starts on the next
 * loop_run_once round (or at once via fiber_resume). When fn returns, the
 * fiber's stack is released and on_exit (if set) runs on the loop. */
struct fiber *fiber_spawn(struct loop *l, fiber_fn fn, void *arg, size_t stack_size);
void fiber_set_on_exit(struct fiber *f, void (*on_exit)(void *arg), void *arg);
/* The running fiber, or NULL on the loop's own stack. */
struct fiber *fiber_current(void);
/* Park the running fiber until someone calls fiber_resume on it. */
void fiber_suspend(void);
/* Switch to f now (from the loop stack or another fiber) until it suspends
 * or ends; then control comes back here. */
void fiber_resume(struct fiber *f);
/* Make f runnable on the next loop round (safe from any callback). */
void fiber_wake(struct fiber *f);

/* Await any reactor op from a fiber:
 *   struct loop_op op = FIBER_OP_INIT;
 *   loop_read(l, &op, fd, buf, n, -1);
 *   int res = fiber_await(&op);
 */
/* fiber_await uses op->data while it waits; multishot ops cannot be awaited.
 * Awaiting from the loop stack, or an op that was never queued, aborts:
 * those are programming errors, not runtime conditions. */
void fiber_op_done(struct loop_op *op, int res, uint32_t cqe_flags);
#define FIBER_OP_INIT { .cb = fiber_op_done }
int fiber_await(struct loop_op *op);

/* Conveniences built on fiber_await. */
ssize_t fiber_read(struct loop *l, int fd, void *buf, size_t len, uint64_t off);
ssize_t fiber_write_all(struct loop *l, int fd, const void *buf, size_t len, uint64_t off);
int fiber_sleep(struct loop *l, uint64_t ns);
/* Sleep until the CLOCK_MONOTONIC instant when_ns (see loop_now_ns).
 * Sleepers with equal instants wake in the order they went to sleep. */
int fiber_sleep_until(struct loop *l, uint64_t when_ns);

/* A pool of worker fibers (fiber-pool.c): jobs 0..njobs-1 are taken in
 * order by at most `workers` fibers; job(arg, i) may await reactor ops.
 * The first negative return stops the pool: no further job starts, the
 * running ones finish. Call from a fiber: it waits until every worker has
 * returned and gives that first negative result, or 0. */
typedef int (*fiber_job_fn)(void *arg, size_t job);
int fiber_pool_run(struct loop *l, unsigned workers, size_t njobs, fiber_job_fn job, void *arg,
		   size_t stack_size);

#endif
