/* Signals through one signalfd per loop. A watched signal is blocked for
 * the process (so it queues on the signalfd instead of running a default
 * action) and the fd's mask is updated as watches come and go. The fd is
 * polled with a multishot poll; each wakeup reads every queued siginfo and
 * hands it to every watch for that signal. */
#include <errno.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "loop-internal.h"

static int signal_arm_poll(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_get_sqe(l);
	if (!sqe)
		return -EAGAIN;
	io_uring_prep_poll_multishot(sqe, l->sigfd, POLLIN);
	io_uring_sqe_set_data64(sqe, LOOP_TAG_SIGNAL);
	l->sig_polling = true;
	return 0;
}

static bool signal_watched(const struct loop *l, int signo)
{
	for (const struct loop_signal *s = l->sig_head; s; s = s->next)
		if (s->signo == signo)
			return true;
	return false;
}

/* Start routing signo to the signalfd. */
static int signal_add(struct loop *l, int signo)
{
	sigset_t one, cur;
	int fd;

	sigprocmask(SIG_BLOCK, NULL, &cur);
	if (sigismember(&cur, signo))
		sigaddset(&l->sig_was_blocked, signo);
	else
		sigdelset(&l->sig_was_blocked, signo);
	sigaddset(&l->sig_mask, signo);
	fd = signalfd(l->sigfd, &l->sig_mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		sigdelset(&l->sig_mask, signo);
		return r;
	}
	l->sigfd = fd;
	sigemptyset(&one);
	sigaddset(&one, signo);
	sigprocmask(SIG_BLOCK, &one, NULL);
	/* The fd and its poll stay for the loop's lifetime once made; with
	 * an empty mask the poll just never fires. */
	if (!l->sig_polling)
		return signal_arm_poll(l);
	return 0;
}

/* Stop routing signo: drop instances that are queued but unread (nobody
 * watches them any more), restore the signal's original blocked state. */
static void signal_del(struct loop *l, int signo)
{
	struct timespec zero = { 0, 0 };
	sigset_t one;

	sigdelset(&l->sig_mask, signo);
	if (l->sigfd >= 0)
		(void)signalfd(l->sigfd, &l->sig_mask, SFD_NONBLOCK | SFD_CLOEXEC);
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (!sigismember(&l->sig_was_blocked, signo)) {
		while (sigtimedwait(&one, NULL, &zero) > 0)
			;
		sigprocmask(SIG_UNBLOCK, &one, NULL);
	}
}

int loop_signal_watch(struct loop *l, struct loop_signal *s, int signo, loop_signal_cb cb, void *data)
{
	struct loop_signal **tail;

	if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
		return -EINVAL;
	if (!signal_watched(l, signo)) {
		int r = signal_add(l, signo);
		if (r < 0)
			return r;
	}
	s->cb = cb;
	s->data = data;
	s->signo = signo;
	s->next = NULL;
	/* Append: watches for one signal run in the order they were added. */
	for (tail = &l->sig_head; *tail; tail = &(*tail)->next)
		;
	*tail = s;
	l->nsignals++;
	return 0;
}

void loop_signal_unwatch(struct loop *l, struct loop_signal *s)
{
	struct loop_signal **pp;

	for (pp = &l->sig_head; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	*pp = s->next;
	/* A dispatch in progress must not step onto a removed watch. */
	if (l->sig_iter_next == s)
		l->sig_iter_next = s->next;
	s->next = NULL;
	l->nsignals--;
	if (!signal_watched(l, s->signo))
		signal_del(l, s->signo);
}

static unsigned signal_dispatch(struct loop *l, int signo)
{
	unsigned n = 0;

	for (struct loop_signal *s = l->sig_head; s; s = l->sig_iter_next) {
		l->sig_iter_next = s->next;
		if (s->signo == signo) {
			s->cb(s, signo);	/* may unwatch or free any watch */
			n++;
		}
	}
	l->sig_iter_next = NULL;
	return n;
}

unsigned loop_signal_cqe(struct loop *l, int res, uint32_t flags)
{
	struct signalfd_siginfo si[16];
	unsigned n = 0;

	if (!(flags & IORING_CQE_F_MORE)) {
		/* Multishot polls can end (overflow, errors): re-arm. */
		l->sig_polling = false;
		if (res != -ECANCELED && l->sigfd >= 0)
			signal_arm_poll(l);
	}
	if (res < 0) {
		if (res != -ECANCELED)
			log_warn("reactor: signalfd poll: %s", strerror(-res));
		return 0;
	}
	for (;;) {
		/* Non-blocking fd: returns what is queued, EAGAIN when empty. */
		ssize_t got = read(l->sigfd, si, sizeof(si));
		if (got <= 0)
			break;
		for (size_t i = 0; i < (size_t)got / sizeof(si[0]); i++)
			n += signal_dispatch(l, (int)si[i].ssi_signo);
		if ((size_t)got < sizeof(si))
			break;
	}
	return n;
}

void loop_signal_child_mask(const struct loop *l, sigset_t *out)
{
	sigprocmask(SIG_BLOCK, NULL, out);
	for (int signo = 1; signo < NSIG; signo++)
		if (sigismember(&l->sig_mask, signo) && !sigismember(&l->sig_was_blocked, signo))
			sigdelset(out, signo);
}

void loop_signal_free_all(struct loop *l)
{
	while (l->sig_head)
		loop_signal_unwatch(l, l->sig_head);
	if (l->sigfd >= 0)
		close(l->sigfd);
	l->sigfd = -1;
	l->sig_polling = false;
}
