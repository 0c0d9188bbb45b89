/* QEMU child handling on the reactor: QEMU's own errors reach the caller,
 * QMP quit ends a VM, vm_free kills and reaps, a VM never outlives the
 * process that started it (even one killed with SIGKILL), and as root a
 * QEMU that drops to its user runs in PID and mount namespaces of its own
 * (or, where seccomp refuses them, starts without). */
#include <sched.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "tests/lib/tap.h"
#include "t-vm.h"

static bool t_pid_gone(pid_t pid)
{
	char path[64], *stat = NULL, *p;
	size_t len;
	bool gone;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file_at(AT_FDCWD, path, 4096, &stat, &len) < 0)
		return true;
	/* A zombie is dead too (its reaper may be slow in a container). */
	p = strrchr(stat, ')');
	gone = p && p[1] == ' ' && p[2] == 'Z';
	free(stat);
	return gone;
}

static bool t_wait_gone(struct loop *l, pid_t pid, unsigned ms)
{
	for (unsigned waited = 0; !t_pid_gone(pid) && waited < ms; waited += 10) {
		if (l)
			fiber_sleep(l, 10000000);
		else
			usleep(10000);
	}
	return t_pid_gone(pid);
}

struct t_ctx {
	struct loop *l;
	struct vm_host host;
	const char *disk;
};

static void t_bad_disk(struct t_ctx *x)
{
	struct t_vm t = { .l = x->l };
	struct vm_config c = { .name = "bad", .ndisks = 1, .disks = { { .path = "/nonexistent/disk.ext4" } } };
	struct vm_events ev = { .exited = t_vm_exited };
	struct err e = { 0 };
	_cleanup_free_ char *junk = xasprintf("%s/junk.qcow2", t_tmpdir());

	/* ucrt opens the disks for QEMU: a missing one fails before fork. */
	t_is(vm_start(x->l, &x->host, &c, &ev, &t, &t.vm, &e), -ENOENT, "a missing disk fails in vm_start");
	t_ok(strstr(err_msg(&e), "/nonexistent/disk.ext4") != NULL, "... naming it: %s", err_msg(&e));
	/* A disk QEMU cannot use: QEMU's own error is kept. */
	write_file_atomic_at(AT_FDCWD, junk, "not qcow2", 9, 0644);
	c.disks[0] = (struct vm_disk){ .path = junk, .qcow2 = true };
	t_ok(vm_start(x->l, &x->host, &c, &ev, &t, &t.vm, &e) == 0, "vm_start returns at once");
	t_wait(&t, &t.exited, 30000);
	t_ok(t.exited && WIFEXITED(t.wstatus) && WEXITSTATUS(t.wstatus) != 0, "QEMU fails on a disk that is not qcow2");
	t_ok(strstr(vm_qemu_stderr(t.vm), "qcow2") != NULL, "its message is kept: %s", vm_qemu_stderr(t.vm));
	t_ok(vm_time(t.vm, VM_T_SPAWNED) && vm_time(t.vm, VM_T_EXITED) >= vm_time(t.vm, VM_T_SPAWNED),
	     "timeline stamps spawned and exited");
	vm_free(t.vm);
}

static void t_quit(struct t_ctx *x)
{
	struct t_vm t = { .l = x->l };
	char log[256];
	struct vm_config c = { .name = "quit", .ndisks = 1, .disks = { { .path = x->disk, .readonly = true } },
			       .console_log = log, .cmdline = "loglevel=7" };
	struct vm_events ev = { .exited = t_vm_exited };
	struct err e = { 0 };
	struct stat st;

	snprintf(log, sizeof(log), "%s/quit-console.log", t_tmpdir());
	t_ok(vm_start(x->l, &x->host, &c, &ev, &t, &t.vm, &e) == 0, "VM without agent started");
	/* loglevel=7 undoes quiet: wait for the kernel to say something,
	 * then quit over QMP. */
	for (int i = 0; i < 6000 && !vm_time(t.vm, VM_T_CONSOLE) && !t.exited; i++)
		fiber_sleep(x->l, 10000000);
	t_ok(vm_time(t.vm, VM_T_QMP) != 0, "QMP handshake done (%.0f ms)",
	     (double)(vm_time(t.vm, VM_T_QMP) - vm_time(t.vm, VM_T_START)) / 1e6);
	t_ok(vm_time(t.vm, VM_T_CONSOLE) != 0, "console output seen (%.0f ms)",
	     (double)(vm_time(t.vm, VM_T_CONSOLE) - vm_time(t.vm, VM_T_START)) / 1e6);
	t_ok(vm_running(t.vm), "vm_running while QEMU runs");
	_cleanup_free_ char *status_path = xasprintf("/proc/%d/status", (int)vm_pid(t.vm));
	_cleanup_free_ char *status = NULL;
	size_t slen;
	t_ok(read_file_at(AT_FDCWD, status_path, 1 << 16, &status, &slen) == 0 && strstr(status, "THP_enabled:\t0"),
	     "QEMU runs without transparent huge pages");
	vm_quit(t.vm, 5000);
	t_wait(&t, &t.exited, 10000);
	t_ok(t.exited && WIFEXITED(t.wstatus) && WEXITSTATUS(t.wstatus) == 0, "QMP quit ends QEMU with status 0");
	t_ok(!vm_running(t.vm), "not vm_running once reaped");
	if (stat(log, &st) < 0)
		st.st_size = 0;
	t_ok(st.st_size > 0, "console log written (%lld bytes)", (long long)st.st_size);
	vm_free(t.vm);
}

static void t_free_running(struct t_ctx *x)
{
	struct t_vm t = { .l = x->l };
	struct vm_config c = { .name = "free", .ndisks = 1, .disks = { { .path = x->disk, .readonly = true } } };
	struct err e = { 0 };
	pid_t pid;

	t_ok(vm_start(x->l, &x->host, &c, NULL, &t, &t.vm, &e) == 0, "VM started");
	pid = vm_pid(t.vm);
	fiber_sleep(x->l, 200000000);
	vm_free(t.vm);
	t_ok(t_wait_gone(x->l, pid, 5000), "vm_free on a running VM kills QEMU");
}

/* The tap fd reaches QEMU as fd 6 (what -netdev tap,fd=6 names), and no
 * other fd of ours leaks: a stand-in "qemu" script reports its fd table
 * on stderr. A pipe plays the tap (no CAP_NET_ADMIN needed). */
static void t_tap_fd(struct t_ctx *x)
{
	_cleanup_free_ char *script = xasprintf("%s/fake-qemu", t_tmpdir());
	static const char body[] =
		"#!/bin/sh\n"
		"for f in /proc/$$/fd/*; do n=${f##*/}; printf '%s=%s ' $n \"$(readlink $f)\"; done >&2\n"
		"for a; do case $a in tap,*|virtio-net-device,*) printf '%s ' \"$a\" >&2;; esac; done\n";
	struct vm_host h = x->host;
	struct vm_config c = { .name = "tap", .ndisks = 1, .disks = { { .path = x->disk, .readonly = true } },
			       .mac = "02:75:0a:58:00:02" };
	struct t_vm t = { .l = x->l };
	struct vm_events ev = { .exited = t_vm_exited };
	struct err e = { 0 };
	char want[64];
	int p[2];

	if (write_file_atomic_at(AT_FDCWD, script, body, sizeof(body) - 1, 0755) < 0 ||
	    pipe2(p, O_CLOEXEC) < 0) {
		t_ok(false, "fake qemu: %s", strerror(errno));
		return;
	}
	h.qemu = script;
	c.tap_fd = p[0];
	t_ok(vm_start(x->l, &h, &c, &ev, &t, &t.vm, &e) == 0, "vm_start with a tap: %s", err_msg(&e));
	t_wait(&t, &t.exited, 10000);
	const char *out = t.vm ? vm_qemu_stderr(t.vm) : "";
	snprintf(want, sizeof(want), " 6=pipe:");
	t_ok(strstr(out, want) != NULL, "the tap fd is QEMU's fd 6: %s", out);
	/* 7 (vhost) unused, 8 the kernel, 9 the initramfs, 10 the disk (the
	 * shell running the fake adds its own above). */
	_cleanup_free_ char *kfd = xasprintf(" 8=%s ", h.kernel.path), *dfd = xasprintf(" 10=%s ", x->disk);
	t_ok(!strstr(out, " 7=") && strstr(out, kfd) && strstr(out, dfd),
	     "the other fds are the kernel and the disk, at their places");
	t_ok(strstr(out, "tap,id=n0,fd=6 ") && strstr(out, "virtio-net-device,netdev=n0,mac=02:75:0a:58:00:02"),
	     "-netdev and -device name it");
	t_ok(fcntl(p[0], F_GETFD) >= 0, "the caller keeps its tap fd");
	if (t.vm)
		vm_free(t.vm);
	c.tap_fd = -1;
	t_is(vm_start(x->l, &h, &c, &ev, &t, &t.vm, &e), -EBADF, "a MAC without a tap fd is refused");
	close(p[0]);
	close(p[1]);
}

/* More devices than microvm has transports: refused by vm_start before
 * anything is opened or spawned, with a message that counts them. One
 * fewer starts the stand-in "qemu", which says so on stderr. */
static void t_too_many(struct t_ctx *x)
{
	_cleanup_free_ char *script = xasprintf("%s/fake-qemu-slots", t_tmpdir());
	static const char body[] = "#!/bin/sh\necho qemu-ran >&2\n";
	struct vm_host h = x->host;
	struct vm_config c = { .name = "slots", .ndisks = 1, .disks = { { .path = x->disk, .readonly = true } },
			       .agent = true, .nshares = 7 };
	struct t_vm t = { .l = x->l };
	struct vm_events ev = { .exited = t_vm_exited };
	struct err e = { 0 };
	int fds;

	if (write_file_atomic_at(AT_FDCWD, script, body, sizeof(body) - 1, 0755) < 0) {
		t_ok(false, "fake qemu: %s", strerror(errno));
		return;
	}
	for (unsigned i = 0; i < c.nshares; i++)
		c.shares[i] = (struct vm_share){ .tag = "s", .path = t_tmpdir(), .readonly = true };
	h.qemu = script;
	h.kernel.builtin = true;	/* acpi=off: 8 transports */
	fds = t_count_fds();
	t_is(vm_start(x->l, &h, &c, &ev, &t, &t.vm, &e), -E2BIG, "7 shares + root disk + agent: vm_start refuses");
	t_streq(err_msg(&e), "too many mounts: 7 shares + root disk + agent need 9 virtio devices, "
		"this VM has 8 (microvm without ACPI)", "... saying what needs how many");
	t_ok(!t.vm && t_count_fds() == fds, "... before QEMU is spawned, with no fd left open");
	c.nshares = 6;
	e = (struct err){ 0 };
	t_ok(vm_start(x->l, &h, &c, &ev, &t, &t.vm, &e) == 0, "6 shares fit: %s", err_msg(&e));
	t_wait(&t, &t.exited, 10000);
	t_ok(t.vm && strstr(vm_qemu_stderr(t.vm), "qemu-ran"), "... and QEMU is started");
	if (t.vm)
		vm_free(t.vm);
}

/* A stand-in "qemu" made of shell builtins only (so that it is the one
 * process of its namespace) reports on stderr its NSpid levels and last
 * pid, and the pids its /proc lists. */
static void t_fake_ns(struct loop *l, const struct t_ctx *x, char *out, size_t outlen)
{
	_cleanup_free_ char *script = xasprintf("%s/fake-qemu-ns", t_tmpdir());
	static const char body[] =
		"#!/bin/sh\n"
		"while read -r k v; do [ \"$k\" = NSpid: ] && set -- $v && eval \"last=\\${$#}\" &&\n"
		"  printf 'nspid=%s/%s ' $# \"$last\" >&2; done </proc/self/status\n"
		"printf 'procs=' >&2; for d in /proc/[0-9]*; do printf '%s,' \"${d#/proc/}\" >&2; done; echo ';' >&2\n";
	struct vm_host h = x->host;
	struct vm_config c = { .name = "ns", .ndisks = 1, .disks = { { .path = x->disk, .readonly = true } } };
	struct t_vm t = { .l = l };
	struct vm_events ev = { .exited = t_vm_exited };
	struct err e = { 0 };

	snprintf(out, outlen, "not run");
	if (write_file_atomic_at(AT_FDCWD, script, body, sizeof(body) - 1, 0755) < 0)
		return;
	h.qemu = script;
	if (vm_start(l, &h, &c, &ev, &t, &t.vm, &e) < 0) {
		snprintf(out, outlen, "vm_start: %s", err_msg(&e));
		return;
	}
	t_wait(&t, &t.exited, 10000);
	snprintf(out, outlen, "%s%s", t.exited && WIFEXITED(t.wstatus) && WEXITSTATUS(t.wstatus) == 0 ? "" : "FAILED ",
		 vm_qemu_stderr(t.vm));
	for (char *p = out; *p; p++)
		*p = *p == '\n' ? ' ' : *p;	/* one TAP line */
	vm_free(t.vm);
}

static void t_ns(struct t_ctx *x)
{
	char out[1024];

	t_fake_ns(x->l, x, out, sizeof(out));
	/* NSpid lists the pid in the namespace of the /proc read and in
	 * those below it. */
	if (!x->host.drop) {
		t_ok(strstr(out, "nspid=1/") && !strstr(out, "nspid=1/1 "),
		     "QEMU not dropping privileges stays in ucrt's PID namespace: %.60s", out);
		t_ok(strstr(out, "procs=1,;") == NULL, "... and sees the host's /proc");
		return;
	}
	t_ok(strstr(out, "nspid=1/1 ") != NULL, "QEMU is pid 1 of a PID namespace of its own: %s", out);
	t_ok(strstr(out, "procs=1,;") != NULL, "... and its /proc lists only itself");
	t_ok(!strstr(out, "FAILED") && !strstr(out, "ucrt:"), "... without a word from ucrt");
}

static void t_fiber(void *arg)
{
	struct t_ctx *x = arg;

	t_ns(x);
	t_tap_fd(x);
	t_too_many(x);
	t_bad_disk(x);
	t_quit(x);
	t_free_running(x);
}


/* A child process starts a VM, reports QEMU's pid and is SIGKILLed. */
static void t_orphan(struct t_ctx *x)
{
	int p[2];
	pid_t child, qemu = 0;

	if (pipe(p) < 0)
		return;
	child = fork();
	if (child == 0) {
		struct loop *l;
		struct vm *vm;
		struct err e = { 0 };
		struct vm_config c = { .name = "orphan", .ndisks = 1,
				       .disks = { { .path = x->disk, .readonly = true } } };
		if (loop_new(&l, 64, &e) < 0 || vm_start(l, &x->host, &c, NULL, NULL, &vm, &e) < 0)
			_exit(1);
		pid_t q = vm_pid(vm);
		if (write(p[1], &q, sizeof(q)) != sizeof(q))
			_exit(1);
		loop_run(l);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &qemu, sizeof(qemu)) != sizeof(qemu))
		qemu = 0;
	t_ok(qemu > 0, "child started QEMU pid %d", (int)qemu);
	close(p[0]);
	usleep(200000);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	t_ok(qemu > 0 && t_wait_gone(NULL, qemu, 5000), "SIGKILL of the owner takes its QEMU down");
	if (qemu > 0 && !t_pid_gone(qemu))
		kill(qemu, SIGKILL);
}

#ifdef __x86_64__
/* What a container's seccomp profile or the kernel may refuse, with EPERM:
 * a clone into a new PID namespace (T_NO_CLONE), every mount with a flag
 * (T_NO_MOUNT: both of ucrt's child have some), or only the proc mount
 * (T_NO_PROC: the one with MS_NOEXEC; the kernel refuses it where parts
 * of /proc are masked). */
enum t_refuse { T_NO_CLONE, T_NO_MOUNT, T_NO_PROC };

static int t_seccomp_refuse(enum t_refuse what)
{
	/* nr with the flag bit set in argument arg: EPERM */
	uint32_t nr = what == T_NO_CLONE ? __NR_clone : __NR_mount;
	uint32_t arg = what == T_NO_CLONE ? 0 : 3;
	uint32_t bit = what == T_NO_CLONE ? CLONE_NEWPID : what == T_NO_PROC ? MS_NOEXEC : 0;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 3),
		/* the argument's low 32 bits (little-endian) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + 8 * arg),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bit ? bit : ~0u, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };

	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

struct t_refused {
	const struct t_ctx *x;
	struct loop *l;
	char out[1024];
};

static void t_refused_fiber(void *arg)
{
	struct t_refused *r = arg;

	t_fake_ns(r->l, r->x, r->out, sizeof(r->out));
}

/* In a child process under the filter: the stand-in QEMU's report. */
static void t_ns_refused_run(const struct t_ctx *x, enum t_refuse what, char *out, size_t outlen)
{
	int p[2];
	pid_t child;
	ssize_t n = 0;

	snprintf(out, outlen, "no report");
	if (pipe(p) < 0)
		return;
	child = fork();
	if (child == 0) {
		struct t_refused r = { .x = x };
		struct err e = { 0 };

		close(p[0]);
		if (t_seccomp_refuse(what) < 0)
			snprintf(r.out, sizeof(r.out), "seccomp: %s", strerror(errno));
		else if (loop_new(&r.l, 64, &e) < 0)
			snprintf(r.out, sizeof(r.out), "loop: %s", err_msg(&e));
		else {
			fiber_spawn(r.l, t_refused_fiber, &r, FIBER_STACK_DEFAULT);
			loop_run(r.l);
		}
		_exit(write(p[1], r.out, strlen(r.out)) < 0);
	}
	close(p[1]);
	if (child > 0) {
		n = read(p[0], out, outlen - 1);
		out[n > 0 ? n : 0] = 0;
		waitpid(child, NULL, 0);
	}
	close(p[0]);
}

/* Namespaces refused: QEMU starts all the same (docs/security.md). */
static void t_ns_refused(const struct t_ctx *x)
{
	char out[1024];

	if (!x->host.drop) {
		for (int i = 0; i < 5; i++)
			t_ok(1, "# SKIP QEMU gets namespaces only when ucrt is root and drops privileges");
		return;
	}
	t_ns_refused_run(x, T_NO_CLONE, out, sizeof(out));
	t_ok(strstr(out, "nspid=1/") && !strstr(out, "nspid=1/1 ") && !strstr(out, "FAILED"),
	     "clone into a new PID namespace refused: QEMU starts without one: %.60s", out);
	t_ns_refused_run(x, T_NO_PROC, out, sizeof(out));
	t_ok(strstr(out, "nspid=2/1 ") && !strstr(out, "FAILED") && !strstr(out, "procs=1,;"),
	     "proc mount refused: QEMU starts in its PID namespace with the host's /proc: %.120s", out);
	t_ok(strstr(out, "ucrt: QEMU keeps the host's /proc: mounting proc") != NULL, "... and says so on its stderr");
	t_ns_refused_run(x, T_NO_MOUNT, out, sizeof(out));
	t_ok(strstr(out, "nspid=2/1 ") && !strstr(out, "FAILED") && !strstr(out, "procs=1,;"),
	     "every mount refused: the same: %.120s", out);
	t_ok(strstr(out, "ucrt: QEMU keeps the host's /proc: making / a slave mount") != NULL,
	     "... and it mounts no proc where / could not become a slave");
}
#else
static void t_ns_refused(const struct t_ctx *x)
{
	for (int i = 0; i < 5; i++)
		t_ok(1, "# SKIP the seccomp filter is written for x86-64");
}
#endif

int main(void)
{
	struct t_ctx x = { 0 };
	struct vm_host_opts o = { 0 };
	struct err e = { 0 };
	char cache[256];

	log_init_from_env();
	if (access("/usr/bin/qemu-system-x86_64", X_OK) < 0)
		t_skip_all("qemu-system-x86_64 not installed");
	x.disk = t_vm_rootfs();
	if (!x.disk)
		t_skip_all("cannot build the busybox root disk (busybox-static, e2fsprogs)");
	snprintf(cache, sizeof(cache), "%s/cache", t_tmpdir());
	o.cache_dir = cache;
	if (vm_host_probe(&x.host, &o, &e) < 0)
		t_skip_all(err_msg(&e));	/* no kernel or no guest-init: nothing to boot */
	t_diag("kernel %s", x.host.kernel.path);
	if (!t_ok(loop_new(&x.l, 256, &e) == 0, "loop: %s", err_msg(&e)))
		return t_done();
	fiber_spawn(x.l, t_fiber, &x, FIBER_STACK_DEFAULT);
	/* Until nothing is pending: a freed VM's cancelled reads complete
	 * after the fiber is done, and only then is the VM released. */
	t_is(loop_run(x.l), 0, "loop drained");
	loop_free(x.l);
	t_orphan(&x);
	t_ns_refused(&x);
	vm_host_release(&x.host);
	return t_done();
}
