/* Boot real microVMs under QEMU (TCG here) with each available kernel and
 * drive guest-init through the agent protocol: stdout/stderr apart, exit
 * codes, env/cwd/uid, signals, a pty with a resize, 1 MiB through a slow
 * reader (flow control), QMP, and the VM ending by itself when the main
 * process ends. */
#include <glob.h>

#include "tests/lib/tap.h"
#include "t-vm.h"

#define BOOT_MS 120000u
#define STEP_MS 30000u

struct t_case {
	struct t_vm *t;
	const char *label;
	bool qmp_done;
	int qmp_res;
	char qmp_json[256];
};

static void t_qmp_cb(struct vm *vm, int res, const char *json, size_t len, void *data)
{
	struct t_case *c = data;

	c->qmp_res = res;
	snprintf(c->qmp_json, sizeof(c->qmp_json), "%.*s", (int)len, json ? json : "");
	c->qmp_done = true;
}

/* Exec argv and wait for its exit; NULL on timeout. */
static struct t_proc *t_exec_wait(struct t_vm *t, const struct agent_proc_spec *s)
{
	struct t_proc *p = t_spawn(t, false, s);

	if (!p || !t_wait(t, &p->have_exit, STEP_MS))
		return NULL;
	/* EXIT may overtake the last output frames' EOF marks: give the
	 * channel a moment to deliver them. */
	t_wait(t, &p->out_eof, 2000);
	return p;
}

static void t_sh(struct t_vm *t, const char *script, int want, const char *name)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct agent_proc_spec s = { .argv = argv };
	struct t_proc *p = t_exec_wait(t, &s);

	t_ok(p && (int)p->ex.code == want, "%s: exit %d", name, want);
	if (p && (int)p->ex.code != want)
		t_diag("got %u, stderr: %s", p->ex.code, p->err.data ? p->err.data : "");
}

static void t_basic(struct t_case *c)
{
	struct t_vm *t = c->t;
	char *echo[] = { "/bin/sh", "-c", "echo out; echo err >&2", NULL };
	struct agent_proc_spec s = { .argv = echo };
	struct t_proc *p = t_exec_wait(t, &s);

	t_ok(p != NULL, "%s: exec echo finished", c->label);
	t_streq(p && p->out.data ? p->out.data : "", "out\n", "stdout captured alone");
	t_streq(p && p->err.data ? p->err.data : "", "err\n", "stderr captured alone");
	t_sh(t, "exit 0", 0, c->label);
	t_sh(t, "exit 1", 1, c->label);
	t_sh(t, "exit 42", 42, c->label);

	char *noexec[] = { "/bin/not-executable", NULL };
	s = (struct agent_proc_spec){ .argv = noexec };
	p = t_exec_wait(t, &s);
	t_ok(p && p->ex.code == 126, "%s: not executable -> 126 (got %d)", c->label, p ? (int)p->ex.code : -1);
	char *missing[] = { "/bin/no-such-command", NULL };
	s = (struct agent_proc_spec){ .argv = missing };
	p = t_exec_wait(t, &s);
	t_ok(p && p->ex.code == 127, "%s: not found -> 127 (got %d)", c->label, p ? (int)p->ex.code : -1);

	char *ids[] = { "/bin/sh", "-c", "echo \"$FOO\"; pwd; id -u; id -g", NULL };
	char *env[] = { "FOO=bar baz", "PATH=/bin", NULL };
	s = (struct agent_proc_spec){ .argv = ids, .env = env, .cwd = "/tmp", .uid = 1000, .gid = 1000 };
	p = t_exec_wait(t, &s);
	t_streq(p && p->out.data ? p->out.data : "", "bar baz\n/tmp\n1000\n1000\n", "env, cwd, uid, gid honoured");
}

static void t_signal(struct t_case *c)
{
	struct t_vm *t = c->t;
	char *argv[] = { "/bin/sleep", "100", NULL };
	struct agent_proc_spec s = { .argv = argv };
	struct t_proc *p = t_spawn(t, false, &s);

	t_ok(p && t_wait(t, &p->have_result, STEP_MS) && p->res.err == 0, "%s: sleep started", c->label);
	if (!p)
		return;
	agent_signal(t->ag, p->stream, SIGTERM);
	t_wait(t, &p->have_exit, STEP_MS);
	t_ok(p->have_exit && p->ex.signal == SIGTERM && p->ex.code == 128 + SIGTERM,
	     "SIGTERM delivered: code %u signal %u", p->ex.code, p->ex.signal);
}

static void t_pty(struct t_case *c)
{
	struct t_vm *t = c->t;
	char *argv[] = { "/bin/sh", "-c", "tty >/dev/null && stty size; read x; stty size", NULL };
	struct agent_proc_spec s = { .argv = argv, .tty = true, .stdin_open = true, .rows = 24, .cols = 80 };
	struct t_proc *p = t_spawn(t, false, &s);
	uint64_t end = loop_now_ns() + STEP_MS * 1000000ull;

	if (!t_ok(p != NULL, "%s: pty process started", c->label))
		return;
	while (!p->have_exit && (!p->out.data || !strstr(p->out.data, "24 80")) && loop_now_ns() < end)
		fiber_sleep(t->l, 5000000);
	t_ok(p->out.data && strstr(p->out.data, "24 80"), "pty has the initial 24x80 size");
	agent_resize(t->ag, p->stream, 50, 132);
	fiber_sleep(t->l, 50000000);
	agent_stdin(t->ag, p->stream, "\n", 1);
	t_wait(t, &p->have_exit, STEP_MS);
	t_ok(p->have_exit && p->ex.code == 0, "pty process exited 0");
	t_ok(p->out.data && strstr(p->out.data, "50 132"), "window-size change seen by the process");
	if (p->out.data && !strstr(p->out.data, "50 132"))
		t_diag("pty output: %s", p->out.data);
}

/* 1 MiB of output while we hand credit back slowly: the guest must never
 * have more than the initial credit outstanding. */
static void t_flow(struct t_case *c)
{
	struct t_vm *t = c->t;
	char *argv[] = { "/bin/dd", "if=/dev/zero", "bs=65536", "count=16", NULL };
	struct agent_proc_spec s = { .argv = argv };
	struct t_proc *p;
	uint64_t end = loop_now_ns() + 4 * STEP_MS * 1000000ull;

	agent_set_auto_credit(t->ag, false);
	t->unacked = t->max_unacked = 0;
	p = t_spawn(t, false, &s);
	if (!t_ok(p != NULL, "%s: dd started", c->label)) {
		agent_set_auto_credit(t->ag, true);
		return;
	}
	while (!(p->have_exit && p->out_eof) && loop_now_ns() < end) {
		fiber_sleep(t->l, 20000000);
		/* The slow reader: at most 64 KiB per 20 ms. */
		uint32_t grant = (uint32_t)MIN(t->unacked, 65536u);
		if (grant && agent_credit(t->ag, p->stream, PROTO_CHAN_STDOUT, grant) == 0)
			t->unacked -= grant;
	}
	agent_set_auto_credit(t->ag, true);
	t_is(p->out.len, 1048576, "1 MiB received through a slow reader");
	t_ok(t->max_unacked <= PROTO_INITIAL_CREDIT, "outstanding output stayed within credit (%llu <= %u)",
	     (unsigned long long)t->max_unacked, PROTO_INITIAL_CREDIT);
	t_ok(p->have_exit && p->ex.code == 0, "dd exited 0");
}

static void t_suite(struct t_case *c, const char *disk)
{
	struct t_vm *t = c->t;
	char console[256], *sleeper[] = { "/bin/sleep", "1000", NULL };
	struct agent_proc_spec s = { .argv = sleeper };
	struct t_proc *main_p;
	uint64_t t0 = loop_now_ns(), t_main_end;

	snprintf(console, sizeof(console), "%s/console-%s.log", t_tmpdir(), c->label);
	if (!t_ok(t_vm_boot(t, disk, true, console) == 0, "%s: vm started", c->label))
		return;
	t_wait(t, &t->ready, BOOT_MS);
	t_ok(t->ready, "%s: guest-init said hello (%.2f s, kernel %s)", c->label,
	     (double)(loop_now_ns() - t0) / 1e9, t->hello.kernel);
	if (!t->ready) {
		t_diag("qemu: %s", vm_qemu_stderr(t->vm));
		vm_quit(t->vm, 1000);
		t_wait(t, &t->exited, 10000);
		return;
	}
	vm_qmp(t->vm, "query-status", NULL, t_qmp_cb, c);
	t_wait(t, &c->qmp_done, STEP_MS);
	t_ok(c->qmp_res == 0 && strstr(c->qmp_json, "\"running\""), "QMP query-status: %s", c->qmp_json);

	main_p = t_spawn(t, true, &s);
	t_ok(main_p && t_wait(t, &main_p->have_result, STEP_MS) && main_p->res.err == 0,
	     "main process started");
	t_basic(c);
	t_signal(c);
	t_pty(c);
	t_flow(c);

	/* The main process ends: guest-init reports it and the VM must end
	 * by itself, without a QMP quit. */
	if (main_p) {
		agent_signal(t->ag, main_p->stream, SIGTERM);
		t_wait(t, &main_p->have_exit, STEP_MS);
	}
	t_main_end = loop_now_ns();
	t_ok(main_p && main_p->have_exit && main_p->ex.code == 143, "main process exit reported");
	t_wait(t, &t->exited, 20000);
	bool off = t->exited && WIFEXITED(t->wstatus) && WEXITSTATUS(t->wstatus) == 0;
	double secs = (double)(loop_now_ns() - t_main_end) / 1e9;
	t_ok(off, "VM powered off by itself after the main process ended (%.2f s)", secs);
	if (!t->exited) {
		vm_quit(t->vm, 2000);
		t_wait(t, &t->exited, 10000);
	}
	t_ok(t->exited, "%s: qemu gone", c->label);
	vm_log_timeline(t->vm);
}

struct t_main {
	struct loop *l;
	const char *kernels[2], *labels[2];
	int nk;
	const char *disk;
};

static void t_fiber(void *arg)
{
	struct t_main *m = arg;

	for (int i = 0; i < m->nk; i++) {
		struct t_vm *t = xcalloc(1, sizeof(*t));
		struct t_case c = { .t = t, .label = m->labels[i] };
		struct vm_host_opts o = { .kernel = m->kernels[i] };
		struct err e = { 0 };
		char cache[256];

		snprintf(cache, sizeof(cache), "%s/cache", t_tmpdir());
		o.cache_dir = cache;
		t->l = m->l;
		if (!t_ok(vm_host_probe(&t->host, &o, &e) == 0, "%s: host probe", c.label)) {
			t_diag("%s", err_msg(&e));
			free(t);
			continue;
		}
		if (t->host.accel_note[0])
			t_diag("%s", t->host.accel_note);
		t_suite(&c, m->disk);
		if (t->ag)
			agent_free(t->ag);
		if (t->vm)
			vm_free(t->vm);
		vm_host_release(&t->host);
		for (size_t j = 0; j < t->nprocs; j++) {
			buf_free(&t->procs[j].out);
			buf_free(&t->procs[j].err);
		}
		free(t);
	}
}


int main(void)
{
	struct t_main m = { 0 };
	struct err e = { 0 };
	glob_t g;

	log_init_from_env();
	if (access("/usr/bin/qemu-system-x86_64", X_OK) < 0)
		t_skip_all("qemu-system-x86_64 not installed");
	if (access(getenv("UCRT_INIT") ? getenv("UCRT_INIT") : "build/ucrt-init", X_OK) < 0)
		t_skip_all("build/ucrt-init not built");
	m.disk = t_vm_rootfs();
	if (!m.disk)
		t_skip_all("cannot build the busybox root disk (busybox-static, e2fsprogs)");
	if (glob("/boot/vmlinuz-*", 0, NULL, &g) == 0) {
		m.kernels[m.nk] = xstrdup(g.gl_pathv[g.gl_pathc - 1]);
		m.labels[m.nk++] = "fallback";
		globfree(&g);
	}
	if (t_built_kernel()) {
		m.kernels[m.nk] = t_built_kernel();
		m.labels[m.nk++] = "built";
	} else {
		t_diag("no build/kernel/vmlinux: built kernel not tested (run make kernel)");
	}
	if (m.nk == 0)
		t_skip_all("no kernel to boot");
	if (loop_new(&m.l, 256, &e) < 0) {
		t_ok(0, "loop_new: %s", err_msg(&e));
		return t_done();
	}
	fiber_spawn(m.l, t_fiber, &m, FIBER_STACK_DEFAULT);
	/* Until nothing is pending: freed VMs and sessions finish their
	 * cancelled ops after the fiber is done. */
	t_is(loop_run(m.l), 0, "loop drained");
	loop_free(m.l);
	if (m.nk && strcmp(m.labels[0], "fallback") == 0)
		free((char *)m.kernels[0]);
	return t_done();
}
