/* The reactor: one io_uring per process, single-threaded.
 *
 * Every request is a struct loop_op that the caller owns (usually embedded in
 * a larger struct, found again with container_of). The op's address travels
 * in the SQE's user_data; when the CQE arrives, op->cb runs with the result
 * (res >= 0, or -errno). A callback may free its op (or the struct holding
 * it) unless the op is multishot and the CQE flags still say MORE.
 *
 * Nothing here knows about containers. */
#ifndef UCRT_LOOP_H
#define UCRT_LOOP_H

#include <linux/time_types.h>	/* struct __kernel_timespec */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct err;
struct loop;
struct loop_op;

typedef void (*loop_cb)(struct loop_op *op, int res, uint32_t cqe_flags);

struct loop_op {
	loop_cb cb;
	void *data;		/* free for the owner */
	/* private to the loop */
	struct loop *loop;
	uint8_t active;		/* submitted and not yet finally completed */
	uint8_t multishot;
	struct __kernel_timespec ts;	/* storage for timeout ops */
};

/* True when a multishot op stays armed after this completion. */
bool loop_cqe_more(uint32_t cqe_flags);

/* Set up the process's reactor. On failure err names the cause (kernel too
 * old, kernel.io_uring_disabled, seccomp) and the sysctl to check. */
int loop_new(struct loop **out, unsigned entries, struct err *err);
void loop_free(struct loop *l);

/* Run until loop_stop() or nothing is pending (no active op, timer, child or
 * signal watch). Returns 0 or -errno from io_uring itself. */
int loop_run(struct loop *l);
/* One round: submit, wait for at least one completion if wait, dispatch all
 * ready. Returns the number of completions dispatched or -errno. */
int loop_run_once(struct loop *l, bool wait);
void loop_stop(struct loop *l);
/* Let what is finishing finish: run rounds without waiting while
 * something is pending and the last round dispatched a completion (the
 * cancelled polls of closed sockets, a freed VM's last ops). Called
 * before the loop or the objects those ops point into go away. */
void loop_drain(struct loop *l);
/* Hand the requests queued so far to the kernel now, without waiting.
 * Ops are otherwise submitted when the round ends; a fiber that queues
 * write-behind and keeps computing calls this so the I/O starts at once.
 * Returns the number submitted or -errno. */
int loop_submit(struct loop *l);
/* Number of ops, timers and watches keeping loop_run() alive. */
unsigned loop_pending(const struct loop *l);

/* Monotonic clock in ns (CLOCK_MONOTONIC). */
uint64_t loop_now_ns(void);

/* I/O requests. off = -1 (as uint64_t) means "current file position" for
 * files and is right for pipes/sockets. Return 0 or -errno if the request
 * could not be queued; the result arrives in op->cb. */
int loop_read(struct loop *l, struct loop_op *op, int fd, void *buf, unsigned len, uint64_t off);
int loop_write(struct loop *l, struct loop_op *op, int fd, const void *buf, unsigned len, uint64_t off);
int loop_readv(struct loop *l, struct loop_op *op, int fd, const struct iovec *iov, unsigned n, uint64_t off);
int loop_writev(struct loop *l, struct loop_op *op, int fd, const struct iovec *iov, unsigned n, uint64_t off);
/* As loop_writev, but the kernel runs it in one of its workers
 * (IOSQE_ASYNC) instead of copying a buffered write into the page cache
 * inside the submitting syscall: for megabytes of write-behind that the
 * caller wants to overlap with its own CPU work. */
int loop_writev_async(struct loop *l, struct loop_op *op, int fd, const struct iovec *iov, unsigned n, uint64_t off);
int loop_recv(struct loop *l, struct loop_op *op, int fd, void *buf, size_t len, int flags);
int loop_send(struct loop *l, struct loop_op *op, int fd, const void *buf, size_t len, int flags);
int loop_accept(struct loop *l, struct loop_op *op, int fd, struct sockaddr *addr, socklen_t *alen, int flags);
int loop_connect(struct loop *l, struct loop_op *op, int fd, const struct sockaddr *addr, socklen_t alen);
int loop_fsync(struct loop *l, struct loop_op *op, int fd, bool datasync);
/* Start writeback of fd's dirty pages in [off, off+len) without waiting
 * for it (sync_file_range SYNC_FILE_RANGE_WRITE): the device works while
 * the caller computes, and a later fsync has less left to wait for. It
 * makes nothing durable by itself (no metadata, no cache flush). */
int loop_writeback(struct loop *l, struct loop_op *op, int fd, uint64_t off, uint64_t len);
/* Poll for events (POLLIN...). multishot keeps it armed until cancelled. */
int loop_poll(struct loop *l, struct loop_op *op, int fd, unsigned events, bool multishot);
/* io_uring timeout op: fires with -ETIME after ns (relative) or at the
 * CLOCK_MONOTONIC instant ns (absolute). */
int loop_timeout(struct loop *l, struct loop_op *op, uint64_t ns, bool absolute);
/* Cancel an active op; its cb still runs once, with -ECANCELED (or its real
 * result if it finished first). No-op if the op is not active. */
int loop_cancel(struct loop *l, struct loop_op *op);
bool loop_op_active(const struct loop_op *op);

/* Timers: a min-heap behind one io_uring timeout. Timers with equal
 * deadlines fire in the order they were started. */
struct loop_timer;
typedef void (*loop_timer_cb)(struct loop_timer *t);
struct loop_timer {
	loop_timer_cb cb;
	void *data;
	/* private */
	uint64_t when;
	uint64_t seq;
	size_t heap_idx;	/* SIZE_MAX when not armed */
};
void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *data);
void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_ns);
void loop_timer_start_at(struct loop *l, struct loop_timer *t, uint64_t when_ns);
void loop_timer_stop(struct loop *l, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

/* Child processes: watch a pid through a pidfd; cb gets the wait status
 * (as from waitpid) once the child has exited and been reaped, or -errno
 * (< 0) if it could not be reaped (e.g. -ECHILD: not our child, or it was
 * reaped elsewhere). The watch ends with the callback; c may be freed in it. */
struct loop_child_req;
struct loop_child;
typedef void (*loop_child_cb)(struct loop_child *c, int wstatus);
struct loop_child {
	loop_child_cb cb;
	void *data;
	pid_t pid;
	int pidfd;
	/* private: the in-flight pidfd poll. It is a separate allocation so
	 * that after loop_child_unwatch() the caller may free c at once. */
	struct loop_child_req *req;
};
int loop_child_watch(struct loop *l, struct loop_child *c, pid_t pid, loop_child_cb cb, void *data);
/* Stop watching (the child is neither killed nor reaped); c may be freed
 * right after. */
void loop_child_unwatch(struct loop *l, struct loop_child *c);

/* Signals through one signalfd: the signal is blocked for the process while
 * a watch exists. */
struct loop_signal;
typedef void (*loop_signal_cb)(struct loop_signal *s, int signo);
struct loop_signal {
	loop_signal_cb cb;
	void *data;
	int signo;
	struct loop_signal *next;
};
int loop_signal_watch(struct loop *l, struct loop_signal *s, int signo, loop_signal_cb cb, void *data);
void loop_signal_unwatch(struct loop *l, struct loop_signal *s);
/* The signal mask a new child process should get: the current mask
 * without the signals the loop blocked for its watches (for
 * posix_spawnattr_setsigmask, or sigprocmask after fork). Children
 * otherwise inherit those blocks: a QEMU started with SIGTERM blocked
 * would ignore "ucrt stop". */
void loop_signal_child_mask(const struct loop *l, sigset_t *out);

#endif
