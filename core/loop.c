/* The reactor: one io_uring, callback ops, a round = submit + wait +
 * dispatch. Timers, children, signals and fibers live in loop-timer.c,
 * loop-child.c, loop-signal.c and fiber.c; see docs/reactor.md. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "loop-internal.h"
#include "util.h"

/* CQEs copied out of the ring per batch: the ring slots are released
 * before any callback runs, so callbacks may submit (even flush a full SQ)
 * without the CQ filling up under us, and nothing re-enters the CQ walk. */
#define LOOP_CQE_BATCH 128

/* user_data tells op pointers from internal tags by the low bits. */
_Static_assert(_Alignof(struct loop_op) >= 8, "struct loop_op must be 8-aligned");

bool loop_cqe_more(uint32_t cqe_flags)
{
	return cqe_flags & IORING_CQE_F_MORE;
}

uint64_t loop_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "Seccomp: 2" in /proc/self/status: a filter is installed. */
static bool loop_under_seccomp(void)
{
	_cleanup_free_ char *status = NULL;
	size_t len;

	if (read_file_at(AT_FDCWD, "/proc/self/status", 1 << 16, &status, &len) < 0)
		return false;
	return strstr(status, "\nSeccomp:\t2") != NULL;
}

/* Turn a failed io_uring_queue_init into a message naming the cause. */
static int loop_explain_setup_error(int r, struct err *err)
{
	_cleanup_free_ char *disabled = NULL;
	size_t len;

	switch (-r) {
	case ENOSYS:
		return err_set(err, r, "io_uring is not available (ENOSYS): the kernel is older than 5.1 "
			       "or was built without CONFIG_IO_URING; ucrt needs Linux 5.13 or newer");
	case EPERM:
		if (read_file_at(AT_FDCWD, "/proc/sys/kernel/io_uring_disabled", 64, &disabled, &len) == 0) {
			int v = atoi(disabled);
			if (v == 2)
				return err_set(err, r, "io_uring is disabled by the sysctl kernel.io_uring_disabled=2; "
					       "set it to 0 (sysctl -w kernel.io_uring_disabled=0)");
			if (v == 1)
				return err_set(err, r, "io_uring is restricted by the sysctl kernel.io_uring_disabled=1 "
					       "to members of kernel.io_uring_group; set it to 0 or run ucrt in that group");
		}
		return err_set(err, r, "io_uring_setup was denied (EPERM) although the sysctl "
			       "kernel.io_uring_disabled allows it: a seccomp filter or container policy "
			       "(e.g. the default docker/podman seccomp profile) blocks io_uring%s; "
			       "run ucrt outside it or allow io_uring_setup/io_uring_enter/io_uring_register",
			       loop_under_seccomp() ? " (this process runs under a seccomp filter)" : "");
	case ENOMEM:
		return err_set(err, r, "cannot allocate the io_uring rings (ENOMEM): kernels before 5.12 charge "
			       "them to RLIMIT_MEMLOCK; raise it (ulimit -l, LimitMEMLOCK=) or use a newer kernel");
	case EINVAL:
		return err_set(err, r, "io_uring_setup rejected the ring parameters (EINVAL): "
			       "the kernel is too old for ucrt (needs Linux 5.13 or newer)");
	default:
		return err_setx(err, r, "cannot set up io_uring");
	}
}

int loop_new(struct loop **out, unsigned entries, struct err *err)
{
	struct loop *l = xcalloc(1, sizeof(*l));
	struct io_uring_params p;
	int r;

	if (!entries)
		entries = 256;
	/* A roomy CQ: every in-flight op owes one CQE. Kernels since 5.5
	 * keep overflowed CQEs (FEAT_NODROP), this only avoids that path. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = entries * 8;
	r = io_uring_queue_init_params(entries, &l->ring, &p);
	if (r == -EINVAL) {
		/* SUBMIT_ALL is 5.18; retry without it before giving up. */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
		p.cq_entries = entries * 8;
		r = io_uring_queue_init_params(entries, &l->ring, &p);
	}
	if (r < 0) {
		free(l);
		*out = NULL;
		return loop_explain_setup_error(r, err);
	}
	/* Saves an fget per io_uring_enter; harmless when unsupported. */
	(void)io_uring_register_ring_fd(&l->ring);
	l->sigfd = -1;
	sigemptyset(&l->sig_mask);
	sigemptyset(&l->sig_was_blocked);
	*out = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	/* Fibers last: timers and watches may live on their stacks. */
	loop_timer_free_all(l);
	loop_child_free_all(l);
	loop_signal_free_all(l);
	loop_fiber_free_all(l);
	/* Closing the ring cancels whatever is still in flight. */
	io_uring_queue_exit(&l->ring);
	free(l);
}

struct io_uring_sqe *loop_get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
	if (sqe)
		return sqe;
	/* SQ full: hand the batch to the kernel and take a fresh slot. */
	int r = io_uring_submit(&l->ring);
	if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR)
		log_warn("io_uring_submit: %s", strerror(-r));
	return io_uring_get_sqe(&l->ring);
}

/* Claim an SQE for a caller op. */
static struct io_uring_sqe *loop_op_sqe(struct loop *l, struct loop_op *op, int *r)
{
	struct io_uring_sqe *sqe;

	if (op->active) {
		*r = -EBUSY;	/* the op is still in flight: it has one owner, one request */
		return NULL;
	}
	sqe = loop_get_sqe(l);
	if (!sqe) {
		*r = -EAGAIN;
		return NULL;
	}
	*r = 0;
	return sqe;
}

/* Finish queueing: the op's address is the CQE's user_data. */
static int loop_op_queued(struct loop *l, struct loop_op *op, struct io_uring_sqe *sqe, bool multishot)
{
	io_uring_sqe_set_data(sqe, op);
	op->loop = l;
	op->active = 1;
	op->multishot = multishot;
	l->active_ops++;
	return 0;
}

#define LOOP_PREP(l, op, sqe) \
	int _r; \
	struct io_uring_sqe *sqe = loop_op_sqe(l, op, &_r); \
	if (!sqe) \
		return _r

int loop_read(struct loop *l, struct loop_op *op, int fd, void *buf, unsigned len, uint64_t off)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_read(sqe, fd, buf, len, off);
	return loop_op_queued(l, op, sqe, false);
}

int loop_write(struct loop *l, struct loop_op *op, int fd, const void *buf, unsigned len, uint64_t off)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_write(sqe, fd, buf, len, off);
	return loop_op_queued(l, op, sqe, false);
}

int loop_readv(struct loop *l, struct loop_op *op, int fd, const struct iovec *iov, unsigned n, uint64_t off)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_readv(sqe, fd, iov, n, off);
	return loop_op_queued(l, op, sqe, false);
}

int loop_writev(struct loop *l, struct loop_op *op, int fd, const struct iovec *iov, unsigned n, uint64_t off)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_writev(sqe, fd, iov, n, off);
	return loop_op_queued(l, op, sqe, false);
}

int loop_writev_async(struct loop *l, struct loop_op *op, int fd, const struct iovec *iov, unsigned n, uint64_t off)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_writev(sqe, fd, iov, n, off);
	sqe->flags |= IOSQE_ASYNC;
	return loop_op_queued(l, op, sqe, false);
}

int loop_recv(struct loop *l, struct loop_op *op, int fd, void *buf, size_t len, int flags)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	return loop_op_queued(l, op, sqe, false);
}

int loop_send(struct loop *l, struct loop_op *op, int fd, const void *buf, size_t len, int flags)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_send(sqe, fd, buf, len, flags);
	return loop_op_queued(l, op, sqe, false);
}

int loop_accept(struct loop *l, struct loop_op *op, int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_accept(sqe, fd, addr, alen, flags);
	return loop_op_queued(l, op, sqe, false);
}

int loop_connect(struct loop *l, struct loop_op *op, int fd, const struct sockaddr *addr, socklen_t alen)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_connect(sqe, fd, addr, alen);
	return loop_op_queued(l, op, sqe, false);
}

int loop_fsync(struct loop *l, struct loop_op *op, int fd, bool datasync)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	return loop_op_queued(l, op, sqe, false);
}

int loop_writeback(struct loop *l, struct loop_op *op, int fd, uint64_t off, uint64_t len)
{
	LOOP_PREP(l, op, sqe);
	io_uring_prep_sync_file_range(sqe, fd, (unsigned)MIN(len, (uint64_t)UINT_MAX), off,
				      SYNC_FILE_RANGE_WRITE);
	return loop_op_queued(l, op, sqe, false);
}

int loop_poll(struct loop *l, struct loop_op *op, int fd, unsigned events, bool multishot)
{
	LOOP_PREP(l, op, sqe);
	if (multishot)
		io_uring_prep_poll_multishot(sqe, fd, events);
	else
		io_uring_prep_poll_add(sqe, fd, events);
	return loop_op_queued(l, op, sqe, multishot);
}

int loop_timeout(struct loop *l, struct loop_op *op, uint64_t ns, bool absolute)
{
	LOOP_PREP(l, op, sqe);
	/* The kernel copies the timespec at submit; op->ts keeps it alive
	 * until then whatever the caller does with its stack. */
	op->ts.tv_sec = (long long)(ns / 1000000000ull);
	op->ts.tv_nsec = (long long)(ns % 1000000000ull);
	io_uring_prep_timeout(sqe, &op->ts, 0, absolute ? IORING_TIMEOUT_ABS : 0);
	return loop_op_queued(l, op, sqe, false);
}

int loop_cancel(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe;

	if (!op->active)
		return 0;
	sqe = loop_get_sqe(l);
	if (!sqe)
		return -EAGAIN;
	/* The cancel's own CQE (0, -ENOENT, -EALREADY) carries no op pointer;
	 * the target's CQE follows with -ECANCELED or its real result. */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, LOOP_TAG_IGNORE);
	return 0;
}

bool loop_op_active(const struct loop_op *op)
{
	return op->active;
}

/* Route one completion. Returns the number of callbacks run. */
static unsigned loop_dispatch(struct loop *l, uint64_t ud, int res, uint32_t flags)
{
	switch (ud & LOOP_TAG_MASK) {
	case 0: {
		struct loop_op *op = (struct loop_op *)(uintptr_t)ud;
		if (!(flags & IORING_CQE_F_MORE)) {
			op->active = 0;
			l->active_ops--;
		}
		/* Last touch of op: the callback may free it. */
		op->cb(op, res, flags);
		return 1;
	}
	case LOOP_TAG_IGNORE:
		return 0;
	case LOOP_TAG_TIMER:
		loop_timer_cqe(l, ud, res);
		return 0;
	case LOOP_TAG_SIGNAL:
		return loop_signal_cqe(l, res, flags);
	case LOOP_TAG_CHILD:
		return loop_child_cqe(l, ud, res);
	default:
		log_error("reactor: CQE with unknown user_data %#llx", (unsigned long long)ud);
		return 0;
	}
}

/* Drain the CQ in batches until it is empty. */
static unsigned loop_reap(struct loop *l)
{
	struct { uint64_t ud; int res; uint32_t flags; } batch[LOOP_CQE_BATCH];
	unsigned total = 0;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_for_each_cqe(&l->ring, head, cqe) {
			batch[n].ud = cqe->user_data;
			batch[n].res = cqe->res;
			batch[n].flags = cqe->flags;
			if (++n == LOOP_CQE_BATCH)
				break;
		}
		if (!n)
			return total;
		io_uring_cq_advance(&l->ring, n);
		for (unsigned i = 0; i < n; i++)
			total += loop_dispatch(l, batch[i].ud, batch[i].res, batch[i].flags);
	}
}

/* Anything that can still produce a completion or a callback? */
static bool loop_may_wait(struct loop *l)
{
	return l->active_ops || l->heap_len || l->nchildren || l->nsignals ||
	       io_uring_cq_ready(&l->ring) || io_uring_sq_ready(&l->ring);
}

int loop_run_once(struct loop *l, bool wait)
{
	unsigned n = 0;
	int r;

	if (l->in_dispatch) {
		log_error("reactor: loop_run_once called from inside a callback");
		abort();
	}
	l->in_dispatch = true;
	/* Fibers woken since the last round run first: they usually queue
	 * the I/O this round's submit carries. */
	n += loop_fiber_run_ready(l);
	loop_timer_sync(l);
	if (wait && !loop_fiber_has_ready(l) && loop_may_wait(l))
		r = io_uring_submit_and_wait(&l->ring, 1);
	else
		r = io_uring_submit(&l->ring);
	/* EINTR: a signal arrived (we still drain). EBUSY/EAGAIN: the CQ is
	 * overflowing or the kernel is short of memory: reaping helps. */
	if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN && r != -ETIME) {
		l->in_dispatch = false;
		return r;
	}
	n += loop_reap(l);
	n += loop_timer_run_expired(l);
	n += loop_fiber_run_ready(l);
	l->in_dispatch = false;
	return (int)n;
}

unsigned loop_pending(const struct loop *l)
{
	return l->active_ops + (unsigned)l->heap_len + l->nchildren + l->nsignals +
	       (loop_fiber_has_ready(l) ? 1 : 0);
}

int loop_run(struct loop *l)
{
	int r = 0;

	while (!l->stop && loop_pending(l) > 0) {
		r = loop_run_once(l, true);
		if (r < 0)
			break;
		r = 0;
	}
	l->stop = false;
	return r;
}

void loop_drain(struct loop *l)
{
	while (loop_pending(l) && loop_run_once(l, false) > 0)
		;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

int loop_submit(struct loop *l)
{
	int r = io_uring_submit(&l->ring);
	return r == -EBUSY || r == -EAGAIN || r == -EINTR ? 0 : r;
}
