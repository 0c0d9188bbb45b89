/* loop_new when io_uring cannot be set up: a child installs a seccomp
 * filter making io_uring_setup fail with EPERM / ENOSYS / ENOMEM, and the
 * error text must name the cause. Plus the empty-loop basics. */
#include <dirent.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

#if defined(__x86_64__)
#define T_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef T_ARCH
/* Make io_uring_setup fail with errno `code` in this process. */
static int t_deny_io_uring(int code)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)code & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

/* Run loop_new in a child under the filter; returns its "code|message". */
static int t_setup_under_filter(int code, char *out, size_t outlen)
{
	int p[2];
	pid_t pid;
	ssize_t n;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		struct err e = { 0 };
		struct loop *l;
		char msg[sizeof(e.msg) + 16];
		close(p[0]);
		if (t_deny_io_uring(code) < 0)
			_exit(77);
		int r = loop_new(&l, 8, &e);
		snprintf(msg, sizeof(msg), "%d|%s", r, r < 0 ? err_msg(&e) : "");
		if (write_all(p[1], msg, strlen(msg)) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	n = read_full(p[0], out, outlen - 1);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return -EPERM;
	out[n > 0 ? n : 0] = 0;
	return 0;
}

static void test_denied(void)
{
	char out[1200];

	if (t_setup_under_filter(EPERM, out, sizeof(out)) < 0) {
		t_ok(1, "# SKIP cannot install a seccomp filter here");
		return;
	}
	t_diag("EPERM: %s", out);
	t_ok(strncmp(out, "-1|", 3) == 0, "EPERM: loop_new returns -EPERM");
	t_ok(strstr(out, "seccomp") && strstr(out, "kernel.io_uring_disabled"),
	     "EPERM: message names seccomp and the sysctl kernel.io_uring_disabled");

	t_setup_under_filter(ENOSYS, out, sizeof(out));
	t_diag("ENOSYS: %s", out);
	t_ok(strncmp(out, "-38|", 4) == 0, "ENOSYS: loop_new returns -ENOSYS");
	t_ok(strstr(out, "CONFIG_IO_URING") && strstr(out, "older"),
	     "ENOSYS: message names an old kernel / CONFIG_IO_URING");

	t_setup_under_filter(ENOMEM, out, sizeof(out));
	t_diag("ENOMEM: %s", out);
	t_ok(strncmp(out, "-12|", 4) == 0, "ENOMEM: loop_new returns -ENOMEM");
	t_ok(strstr(out, "RLIMIT_MEMLOCK") != NULL, "ENOMEM: message names RLIMIT_MEMLOCK");
}
#else
static void test_denied(void)
{
	t_ok(1, "# SKIP no seccomp arch constant for this architecture");
}
#endif

static int t_stop_calls;
static struct loop *L;
static void t_stop_cb(struct loop_op *op, int res, uint32_t flags)
{
	t_stop_calls++;
	loop_stop(L);
}

static void test_empty(void)
{
	struct err e = { 0 };
	struct loop_op a = { .cb = t_stop_cb }, b = { .cb = t_stop_cb };
	int fds = t_count_fds();

	t_is(loop_new(&L, 0, &e), 0, "loop_new with default size");
	uint64_t t0 = loop_now_ns();
	t_is(loop_run(L), 0, "loop_run on an empty loop");
	t_is(loop_run_once(L, true), 0, "loop_run_once(wait) with nothing pending does not block");
	/* Blocking would mean forever (nothing can complete): the bound only
	 * needs to be past any scheduling delay of a loaded machine. */
	t_ok(loop_now_ns() - t0 < 10000000000ull, "both returned at once");
	loop_timeout(L, &a, 10000000ull, false);
	loop_timeout(L, &b, 5000000000ull, false);
	t_is(loop_run(L), 0, "loop_run");
	t_is(t_stop_calls, 1, "loop_stop from a callback ends loop_run");
	t_ok(loop_pending(L) == 1 && loop_op_active(&b), "with the other op still pending");
	loop_cancel(L, &b);
	t_is(loop_run(L), 0, "loop_run again (stop flag was reset)");
	t_is(t_stop_calls, 2, "cancelled op's callback ran");
	loop_free(L);
	loop_free(NULL);
	t_is(t_count_fds(), fds, "loop_free closes the ring: no fd leaked");
}

int main(void)
{
	struct err e = { 0 };
	struct loop *l;

	if (loop_new(&l, 8, &e) < 0)
		t_skip_all(err_msg(&e));
	loop_free(l);
	test_empty();
	test_denied();
	return t_done();
}
