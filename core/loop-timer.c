/* Timers: a binary min-heap ordered by (when, seq) behind one io_uring
 * timeout armed (absolute, CLOCK_MONOTONIC) for the earliest deadline.
 * The seq makes equal deadlines fire in start order. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "loop-internal.h"
#include "util.h"

#define LOOP_TIMER_IDLE SIZE_MAX

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_idx;
	struct loop_timer *last = l->heap[--l->heap_len];

	t->heap_idx = LOOP_TIMER_IDLE;
	if (last == t)
		return;
	heap_set(l, i, last);
	if (i > 0 && timer_before(last, l->heap[(i - 1) / 2]))
		heap_up(l, i);
	else
		heap_down(l, i);
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *data)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->data = data;
	t->heap_idx = LOOP_TIMER_IDLE;
}

bool loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_idx != LOOP_TIMER_IDLE;
}

void loop_timer_start_at(struct loop *l, struct loop_timer *t, uint64_t when_ns)
{
	if (loop_timer_armed(t))
		heap_remove(l, t);
	if (l->heap_len == l->heap_cap) {
		l->heap_cap = l->heap_cap ? 2 * l->heap_cap : 64;
		l->heap = xrealloc(l->heap, l->heap_cap * sizeof(*l->heap));
	}
	t->when = when_ns;
	t->seq = l->timer_seq++;
	heap_set(l, l->heap_len++, t);
	heap_up(l, t->heap_idx);
	/* The kernel timeout is brought in line once per round, in
	 * loop_timer_sync(), so starting 10,000 timers costs one SQE. */
}

void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_ns)
{
	loop_timer_start_at(l, t, loop_now_ns() + delay_ns);
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	if (loop_timer_armed(t))
		heap_remove(l, t);
}

static uint64_t timer_ud(const struct loop *l)
{
	return (l->timer_gen << 3) | LOOP_TAG_TIMER;
}

/* Make the kernel timeout match the heap's earliest deadline: add one,
 * move it (timeout_update), or remove it when no timer is left. */
void loop_timer_sync(struct loop *l)
{
	struct io_uring_sqe *sqe;

	if (!l->heap_len) {
		if (!l->timer_armed)
			return;
		sqe = loop_get_sqe(l);
		if (!sqe)
			return;	/* a spurious wakeup later is harmless */
		io_uring_prep_timeout_remove(sqe, timer_ud(l), 0);
		io_uring_sqe_set_data64(sqe, LOOP_TAG_IGNORE);
		l->timer_armed = false;
		l->timer_gen++;	/* its -ECANCELED CQE is now stale */
		return;
	}
	uint64_t want = l->heap[0]->when;
	if (l->timer_armed && l->timer_armed_when == want)
		return;
	sqe = loop_get_sqe(l);
	if (!sqe)
		return;	/* retried next round */
	l->timer_ts.tv_sec = (long long)(want / 1000000000ull);
	l->timer_ts.tv_nsec = (long long)(want % 1000000000ull);
	if (l->timer_armed) {
		/* If it fired meanwhile the update fails with -ENOENT and the
		 * -ETIME CQE (same generation) disarms us: re-armed next round. */
		io_uring_prep_timeout_update(sqe, &l->timer_ts, timer_ud(l), IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, LOOP_TAG_IGNORE);
	} else {
		l->timer_gen++;
		io_uring_prep_timeout(sqe, &l->timer_ts, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, timer_ud(l));
		l->timer_armed = true;
	}
	l->timer_armed_when = want;
}

void loop_timer_cqe(struct loop *l, uint64_t ud, int res)
{
	if (ud != timer_ud(l) || !l->timer_armed)
		return;	/* a removed timeout's late CQE */
	if (res != -ETIME && res != -ECANCELED && res != 0)
		log_warn("reactor: timer timeout completed with %s", strerror(-res));
	l->timer_armed = false;
}

/* Fire every due timer, earliest first. Timers started by the callbacks
 * (seq >= limit) wait for the next round, so a callback restarting itself
 * with delay 0 cannot starve the loop. */
unsigned loop_timer_run_expired(struct loop *l)
{
	uint64_t now, limit = l->timer_seq;
	unsigned n = 0;

	if (!l->heap_len)
		return 0;
	now = loop_now_ns();
	while (l->heap_len) {
		struct loop_timer *t = l->heap[0];
		if (t->when > now || t->seq >= limit)
			break;
		heap_remove(l, t);
		t->cb(t);	/* may restart or stop any timer, or free t */
		n++;
	}
	return n;
}

void loop_timer_free_all(struct loop *l)
{
	for (size_t i = 0; i < l->heap_len; i++)
		l->heap[i]->heap_idx = LOOP_TIMER_IDLE;
	free(l->heap);
	l->heap = NULL;
	l->heap_len = l->heap_cap = 0;
}
