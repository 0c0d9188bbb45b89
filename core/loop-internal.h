/* Private to core/loop*.c and core/fiber.c: the reactor's state and the
 * user_data encoding. Nothing outside core/ includes this. */
#ifndef UCRT_LOOP_INTERNAL_H
#define UCRT_LOOP_INTERNAL_H

#include <liburing.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

/* user_data encoding. A struct loop_op pointer is 8-aligned, so its low
 * three bits are 0 and the CQE goes to op->cb. Any other low bits mark an
 * internal request whose CQE must never be taken for an op pointer:
 *   IGNORE  cancel / timeout-update / timeout-remove requests (result unused)
 *   TIMER   the timer heap's timeout; bits 3.. hold its generation so a
 *           stale CQE from a removed timeout is recognised
 *   SIGNAL  the signalfd's multishot poll
 *   CHILD   a heap-allocated child request (pointer | tag), so a watch can
 *           be dropped while its poll is still in flight */
#define LOOP_TAG_MASK 7ull
#define LOOP_TAG_IGNORE 1ull
#define LOOP_TAG_TIMER 2ull
#define LOOP_TAG_SIGNAL 3ull
#define LOOP_TAG_CHILD 4ull

struct fiber;

/* One outstanding pidfd poll; outlives its loop_child after an unwatch. */
struct loop_child_req {
	struct loop_child *child;	/* NULL once unwatched */
	struct loop_child_req *prev, *next;	/* all outstanding requests */
};

struct loop {
	struct io_uring ring;
	bool stop;
	bool in_dispatch;
	unsigned active_ops;	/* caller ops submitted and not finally completed */

	/* timers: binary min-heap of (when, seq) */
	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	uint64_t timer_seq;
	uint64_t timer_gen;	/* generation of the armed kernel timeout */
	bool timer_armed;
	uint64_t timer_armed_when;
	struct __kernel_timespec timer_ts;

	/* children */
	unsigned nchildren;
	struct loop_child_req *child_reqs;

	/* signals */
	int sigfd;
	bool sig_polling;
	sigset_t sig_mask;	/* signals with at least one watch */
	sigset_t sig_was_blocked;	/* of sig_mask: blocked before we blocked it */
	unsigned nsignals;
	struct loop_signal *sig_head;
	struct loop_signal *sig_iter_next;	/* dispatch cursor, fixed up by unwatch */

	/* fibers (core/fiber.c) */
	struct fiber *ready_head, *ready_tail;
	unsigned nready;
	struct fiber *all_fibers;
};

/* Next SQE; submits the queue first when it is full. NULL if still full. */
struct io_uring_sqe *loop_get_sqe(struct loop *l);

/* Per-round hooks implemented in the split files. */
void loop_timer_sync(struct loop *l);
void loop_timer_cqe(struct loop *l, uint64_t ud, int res);
unsigned loop_timer_run_expired(struct loop *l);
void loop_timer_free_all(struct loop *l);
unsigned loop_child_cqe(struct loop *l, uint64_t ud, int res);
void loop_child_free_all(struct loop *l);
unsigned loop_signal_cqe(struct loop *l, int res, uint32_t flags);
void loop_signal_free_all(struct loop *l);
unsigned loop_fiber_run_ready(struct loop *l);
bool loop_fiber_has_ready(const struct loop *l);
void loop_fiber_free_all(struct loop *l);

#endif
