/* Child exit through pidfds: 200 children with distinct exit codes, a
 * child killed by a signal, unwatch while the poll is in flight (the
 * watch struct freed at once), and errors. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

#define T_CHILDREN 200

static pid_t t_spawn(int code, unsigned delay_ms)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = { 0, (long)delay_ms * 1000000L };
		nanosleep(&ts, NULL);
		_exit(code);
	}
	return pid;
}

struct t_child {
	struct loop_child c;
	int code;
};
static unsigned t_done_n, t_bad;

/* The watch ends with the callback: free the struct right here. */
static void t_child_cb(struct loop_child *c, int wstatus)
{
	struct t_child *tc = container_of(c, struct t_child, c);
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != tc->code) {
		if (t_bad++ < 5)
			t_diag("pid %d: status %#x, expected exit %d", c->pid, wstatus, tc->code);
	}
	if (c->pidfd != -1)
		t_bad++;
	t_done_n++;
	free(tc);
}

static void test_many(struct loop *l)
{
	unsigned watched = 0;

	for (int i = 0; i < T_CHILDREN; i++) {
		struct t_child *tc = xcalloc(1, sizeof(*tc));
		pid_t pid = t_spawn(i, (unsigned)(i * 7) % 50);
		tc->code = i;
		if (pid > 0 && loop_child_watch(l, &tc->c, pid, t_child_cb, NULL) == 0)
			watched++;
		else
			free(tc);
	}
	t_is(watched, T_CHILDREN, "200 children forked and watched");
	t_is(loop_pending(l), T_CHILDREN, "200 watches pending");
	t_is(loop_run(l), 0, "loop_run");
	t_is(t_done_n, T_CHILDREN, "200 exit callbacks");
	t_is(t_bad, 0, "each got its own exit code (0..199) and the pidfd was closed");
	t_is(waitpid(-1, NULL, WNOHANG), -1, "no child left to reap (all reaped by the loop)");
}

static int t_status = -1;
static void t_status_cb(struct loop_child *c, int wstatus)
{
	t_status = wstatus;
}

static void test_signalled(struct loop *l)
{
	struct loop_child c;
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	t_is(loop_child_watch(l, &c, pid, t_status_cb, NULL), 0, "watch a child that waits forever");
	loop_run_once(l, false);
	kill(pid, SIGKILL);
	loop_run(l);
	t_ok(WIFSIGNALED(t_status) && WTERMSIG(t_status) == SIGKILL, "status says killed by SIGKILL (%#x)", t_status);
}

static void test_unwatch(struct loop *l)
{
	struct loop_child *c = xcalloc(1, sizeof(*c));
	int pfd[2], st = 0;
	char b;

	if (pipe(pfd) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		/* Exit only once the parent says so. */
		close(pfd[1]);
		if (read(pfd[0], &b, 1) < 0)
			_exit(1);
		_exit(7);
	}
	close(pfd[0]);
	t_status = -1;
	t_is(loop_child_watch(l, c, pid, t_status_cb, NULL), 0, "watch");
	loop_run_once(l, false);	/* the poll is now in the kernel */
	loop_child_unwatch(l, c);
	t_is(c->pidfd, -1, "unwatch closed the pidfd");
	free(c);	/* allowed right after unwatch */
	t_is(loop_pending(l), 0, "nothing pending after unwatch");
	close(pfd[1]);	/* child exits now */
	t_is(waitpid(pid, &st, 0), pid, "the child was left for us to reap");
	t_ok(WIFEXITED(st) && WEXITSTATUS(st) == 7, "with its status");
	loop_run(l);	/* drains the cancelled poll's CQE */
	t_is(t_status, -1, "no callback after unwatch");
}

static void test_errors(struct loop *l)
{
	struct loop_child c;
	pid_t pid = t_spawn(0, 0);

	waitpid(pid, NULL, 0);	/* reaped: the pid no longer exists */
	t_is(loop_child_watch(l, &c, pid, t_status_cb, NULL), -ESRCH, "watching a reaped pid: -ESRCH");

	/* Someone else reaps first: the watch reports -ECHILD, not garbage. */
	int pfd[2];
	char b;
	if (pipe(pfd) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		close(pfd[1]);
		if (read(pfd[0], &b, 1) < 0)
			_exit(1);
		_exit(3);
	}
	close(pfd[0]);
	t_status = 1;
	loop_child_watch(l, &c, pid, t_status_cb, NULL);
	close(pfd[1]);
	siginfo_t si;
	waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);	/* wait for the exit, keep the zombie */
	waitpid(pid, NULL, 0);					/* then steal it */
	loop_run(l);
	t_is(t_status, -ECHILD, "child reaped elsewhere: callback gets -ECHILD");
}

int main(void)
{
	struct err e = { 0 };
	struct loop *l;
	int fds = t_count_fds();

	if (loop_new(&l, 64, &e) < 0)
		t_skip_all(err_msg(&e));
	test_many(l);
	test_signalled(l);
	test_unwatch(l);
	test_errors(l);
	loop_free(l);
	t_is(t_count_fds(), fds, "no fd leaked");
	return t_done();
}
