/* Signals through the loop's signalfd: SIGUSR1 raised to self reaches
 * every watch, SIGCHLD from a child, unwatch from inside a callback, the
 * process mask is restored when the last watch goes. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

static bool t_blocked(int signo)
{
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, signo);
}

static struct loop *L;
static int t_hits[3];
static char t_order[16];

static void t_sig_cb(struct loop_signal *s, int signo)
{
	int i = (int)(intptr_t)s->data;
	size_t n = strlen(t_order);
	t_hits[i]++;
	if (n + 1 < sizeof(t_order))
		t_order[n] = (char)('0' + i);
	if (t_hits[i] == 1 && i == 2)
		loop_signal_unwatch(L, s);	/* leave from inside the callback */
}

static void test_usr1(void)
{
	struct loop_signal a, b, c;

	t_ok(!t_blocked(SIGUSR1), "SIGUSR1 not blocked before any watch");
	t_is(loop_signal_watch(L, &a, SIGUSR1, t_sig_cb, (void *)0), 0, "watch SIGUSR1 (a)");
	t_is(loop_signal_watch(L, &b, SIGUSR1, t_sig_cb, (void *)1), 0, "watch SIGUSR1 (b)");
	t_is(loop_signal_watch(L, &c, SIGUSR1, t_sig_cb, (void *)2), 0, "watch SIGUSR1 (c)");
	t_ok(t_blocked(SIGUSR1), "SIGUSR1 blocked while watched");
	t_is(loop_pending(L), 3, "three watches pending");
	raise(SIGUSR1);	/* would kill the process if it were not routed to the loop */
	while (!t_hits[0])
		loop_run_once(L, true);
	t_ok(t_hits[0] == 1 && t_hits[1] == 1 && t_hits[2] == 1, "every watch got the signal once");
	t_streq(t_order, "012", "in the order they were added");
	t_is(loop_pending(L), 2, "c unwatched itself in its callback");
	raise(SIGUSR1);
	while (t_hits[0] < 2)
		loop_run_once(L, true);
	t_ok(t_hits[0] == 2 && t_hits[1] == 2 && t_hits[2] == 1, "second signal: a and b only");
	loop_signal_unwatch(L, &a);
	t_ok(t_blocked(SIGUSR1), "still blocked while b watches");
	loop_signal_unwatch(L, &b);
	t_ok(!t_blocked(SIGUSR1), "unblocked again after the last unwatch");
	t_is(loop_pending(L), 0, "nothing pending");
	t_is(loop_run(L), 0, "loop_run returns at once");
}

static int t_chld;
static pid_t t_chld_pid;
static void t_chld_cb(struct loop_signal *s, int signo)
{
	int st;
	t_chld++;
	/* SIGCHLD does not say which child: reap without blocking. */
	if (waitpid(t_chld_pid, &st, WNOHANG) == t_chld_pid && WIFEXITED(st) && WEXITSTATUS(st) == 5)
		loop_signal_unwatch(L, s);
}

static void test_sigchld(void)
{
	struct loop_signal s;

	t_is(loop_signal_watch(L, &s, SIGCHLD, t_chld_cb, NULL), 0, "watch SIGCHLD");
	t_chld_pid = fork();
	if (t_chld_pid == 0)
		_exit(5);
	t_is(loop_run(L), 0, "loop_run ends once the callback unwatches");
	t_ok(t_chld >= 1, "SIGCHLD delivered through the loop (%d)", t_chld);
}

static void test_errors(void)
{
	struct loop_signal s;
	t_is(loop_signal_watch(L, &s, SIGKILL, t_sig_cb, NULL), -EINVAL, "SIGKILL cannot be watched");
	t_is(loop_signal_watch(L, &s, 0, t_sig_cb, NULL), -EINVAL, "signal 0 rejected");
	t_is(loop_signal_watch(L, &s, NSIG, t_sig_cb, NULL), -EINVAL, "signal NSIG rejected");
}

/* A signal that was blocked before the loop stays blocked after. */
static void test_keep_mask(void)
{
	struct loop_signal s;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	memset(t_hits, 0, sizeof(t_hits));
	loop_signal_watch(L, &s, SIGUSR2, t_sig_cb, (void *)1);
	struct loop_signal u;
	loop_signal_watch(L, &u, SIGUSR1, t_sig_cb, (void *)0);
	sigset_t child;
	loop_signal_child_mask(L, &child);
	t_ok(!sigismember(&child, SIGUSR1) && sigismember(&child, SIGUSR2),
	     "child mask: drops the loop's SIGUSR1 block, keeps the caller's SIGUSR2 block");
	loop_signal_unwatch(L, &u);
	kill(getpid(), SIGUSR2);
	while (!t_hits[1])
		loop_run_once(L, true);
	loop_signal_unwatch(L, &s);
	t_ok(t_blocked(SIGUSR2), "SIGUSR2, blocked before the watch, is still blocked after");
}

int main(void)
{
	struct err e = { 0 };
	int fds = t_count_fds();

	if (loop_new(&L, 64, &e) < 0)
		t_skip_all(err_msg(&e));
	test_usr1();
	test_sigchld();
	test_errors();
	test_keep_mask();
	loop_free(L);
	t_is(t_count_fds(), fds, "no fd leaked (signalfd closed)");
	return t_done();
}
