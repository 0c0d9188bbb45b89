/* `ucrt bench startup|density`: start-latency and density measurements.
 *
 * Each measured container is a child `ucrt run --rm` (the process start
 * is part of what a user waits for), whose timeline comes back as one
 * JSON line on UCRT_TIMELINE_FD (modules/container/launch.c) in absolute
 * CLOCK_MONOTONIC ns, the clock this process measures with too. Runs of
 * the variants are launched interleaved (A B A B ...) from one reactor; a
 * timer samples each run's QEMU PSS. The baseline is a bare QEMU with the
 * same kernel and machine options and an init that reboots at once
 * (modules/bench/floor.c), started in-process through the vm module.
 * Statistics and output live in modules/bench. docs/benchmarks.md. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

extern char **environ;

#define BENCH_SAMPLE_NS (100ull * 1000000)	/* PSS sampling period */
#define BENCH_PROGRESS_NS (500ull * 1000000)
#define BENCH_KILL_NS (3000ull * 1000000)	/* after Ctrl-C, for the runs to clean up */
#define BENCH_TIMELINE_FD 3
#define BENCH_MAX_RUNS 100000u
#define BENCH_MEM_FLOOR_PCT 10	/* density stops below this much MemAvailable */

enum bench_fmt { FMT_TABLE, FMT_JSON, FMT_CSV };

struct bjob {
	struct bench *B;
	size_t run;			/* index into B->runs */
	pid_t pid;			/* child process (ucrt, podman), 0 for baseline */
	struct loop_child child;
	int tl_fd, out_fd, err_fd;	/* timeline pipe, stdout and stderr memfds */
	uint64_t t_launch;
	struct vm *vm;			/* baseline */
	pid_t qemu;
	bool active;
};

struct bench {
	struct cli_ctx *ctx;
	struct loop *l;
	enum bench_mode mode;
	const char *image;
	char **cmd;
	unsigned runs, parallel, warmup, max;
	struct bench_variant *variants;
	size_t nvariants;
	struct bench_run *run;		/* planned, in launch order */
	size_t nplanned, next, done, failed;
	struct bjob *jobs;		/* parallel slots */
	struct vm_host host;		/* baseline (and what the report names) */
	bool host_ok, stopping, interrupted, tty;
	char *tmp, *self;
	char **notes;
	char **density_ids;
	const char *stop_reason;
	uint64_t t_begin;
	struct rusage ru_children;	/* at the previous reap: CPU per reaped child */
	struct loop_timer sampler, progress, killer;
	struct loop_signal sigint, sigterm;
};

static void bench_usage(FILE *f)
{
	fprintf(f,
		"Usage: ucrt bench startup [OPTIONS] IMAGE [CMD [ARG...]]\n"
		"       ucrt bench density [OPTIONS] [--max N] IMAGE [CMD [ARG...]]\n"
		"Measure container start latency (startup) or how many containers fit (density).\n\n"
		"  -n, --runs N          measured runs per variant (default 10)\n"
		"  -p, --parallel P      runs at a time (default 1)\n"
		"      --warmup W        unmeasured rounds first (default 1)\n"
		"      --variant 'NAME: OPTIONS'  `ucrt run` options of one variant (repeatable;\n"
		"                        variants run interleaved, ratios are to the first)\n"
		"      --baseline        add a bare QEMU boot of the same kernel (the floor)\n"
		"      --compare podman  add `podman run --rm IMAGE CMD`\n"
		"      --format table|json|csv\n"
		"      --plot FILE.svg|FILE.png  draw CDFs and phases (PNG via rsvg-convert)\n"
		"      --max N           density: containers to start at most (default 8)\n"
		"CMD defaults to `true` (startup) and `sleep 86400` (density).\n");
}

/* ---- children ---- */

static int bench_memfd(const char *name)
{
	return memfd_create(name, MFD_CLOEXEC);
}

static void bench_job_done(struct bjob *j, int status);
static void bench_vm_exited(struct vm *vm, int wstatus, void *data);
static const struct vm_events bench_vm_events;

static void bench_child_exited(struct loop_child *c, int wstatus)
{
	struct bjob *j = c->data;

	bench_job_done(j, wstatus < 0 ? -1 : WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
							       : 128 + WTERMSIG(wstatus));
}

static int bench_spawn(struct bjob *j, char **argv, bool timeline)
{
	struct bench *B = j->B;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t mask;
	int tl[2] = { -1, -1 }, r;
	_cleanup_strv_ char **env = strv_dup(environ);

	j->out_fd = bench_memfd("bench-out");
	j->err_fd = bench_memfd("bench-err");
	if (timeline) {
		if (pipe2(tl, O_CLOEXEC) < 0)
			return -errno;
		strv_push(&env, "UCRT_TIMELINE_FD=3");
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, j->out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, j->err_fd, 2);
	if (timeline)
		posix_spawn_file_actions_adddup2(&fa, tl[1], BENCH_TIMELINE_FD);
	posix_spawnattr_init(&at);
	loop_signal_child_mask(B->l, &mask);
	posix_spawnattr_setsigmask(&at, &mask);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	j->t_launch = loop_now_ns();
	r = posix_spawnp(&j->pid, argv[0], &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (timeline) {
		close(tl[1]);
		j->tl_fd = tl[0];
	}
	if (r) {
		j->pid = 0;
		return -r;
	}
	return loop_child_watch(B->l, &j->child, j->pid, bench_child_exited, j);
}

/* CPU of the child reaped just now: RUSAGE_CHILDREN grows by exactly
 * that child (with the QEMU it reaped) in its own exit callback. */
static double bench_reaped_cpu_ms(struct bench *B)
{
	struct rusage ru;
	double d;

	getrusage(RUSAGE_CHILDREN, &ru);
#define TV_MS(tv) ((double)(tv).tv_sec * 1e3 + (double)(tv).tv_usec / 1e3)
	d = TV_MS(ru.ru_utime) + TV_MS(ru.ru_stime) - TV_MS(B->ru_children.ru_utime) -
	    TV_MS(B->ru_children.ru_stime);
#undef TV_MS
	B->ru_children = ru;
	return d;
}

/* The child's timeline line -> phases in ms after launch. */
static void bench_read_timeline(struct bjob *j, struct bench_run *run)
{
	char text[2048];
	ssize_t n = read(j->tl_fd, text, sizeof(text) - 1);	/* the writer is gone: no wait */

	if (n > 0)
		bench_timeline_parse(text, (size_t)n, j->t_launch, run);
}

/* ---- one run ---- */

static int bench_launch_baseline(struct bjob *j)
{
	struct bench *B = j->B;
	static const struct vm_config cfg = { .name = "baseline" };
	struct err e = { 0 };

	j->t_launch = loop_now_ns();
	if (vm_start(B->l, &B->host, &cfg, &bench_vm_events, j, &j->vm, &e) < 0) {
		snprintf(B->run[j->run].error, sizeof(B->run[j->run].error), "%s", err_msg(&e));
		return -EIO;
	}
	return 0;
}

static void bench_vm_exited(struct vm *vm, int wstatus, void *data)
{
	struct bjob *j = data;
	struct bench_run *run = &j->B->run[j->run];
	static const int phases[][2] = {
		{ VM_T_START, BENCH_P_QEMU }, { VM_T_SPAWNED, BENCH_P_SPAWNED }, { VM_T_QMP, BENCH_P_QMP },
		{ VM_T_CONSOLE, BENCH_P_CONSOLE }, { VM_T_EXITED, BENCH_P_VM_GONE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(phases); i++) {
		uint64_t t = vm_time(vm, (enum vm_phase)phases[i][0]);
		if (t >= j->t_launch)
			run->at[phases[i][1]] = (double)(t - j->t_launch) / 1e6;
	}
	bench_job_done(j, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
}

static const struct vm_events bench_vm_events = { .exited = bench_vm_exited };

static char **bench_argv(struct bench *B, const struct bench_variant *v, unsigned density_idx)
{
	char **a = NULL;

	if (v->kind == BENCH_K_PODMAN) {
		strv_push(&a, "podman");
		strv_push(&a, "run");
		strv_push(&a, "--rm");
		/* A registry on this host speaks plain HTTP, as ucrt allows it. */
		if (str_startswith(B->image, "127.") || str_startswith(B->image, "localhost"))
			strv_push(&a, "--tls-verify=false");
	} else {
		strv_push(&a, B->self);
		strv_push(&a, "--root");
		strv_push(&a, B->ctx->root);
		strv_push(&a, "run");
		strv_push(&a, "-q");
		if (B->mode == BENCH_DENSITY) {
			_cleanup_free_ char *name = xasprintf("bench-%d-%u", (int)getpid(), density_idx);
			strv_push(&a, "-d");
			strv_push(&a, "--name");
			strv_push(&a, name);
		} else {
			strv_push(&a, "--rm");
		}
		for (char *const *o = v->args; o && *o; o++)
			strv_push(&a, *o);
	}
	strv_push(&a, B->image);
	for (char *const *c = B->cmd; c && *c; c++)
		strv_push(&a, *c);
	return a;
}

static void bench_launch_next(struct bench *B);

static void bench_start_job(struct bench *B, struct bjob *j)
{
	struct bench_run *run = &B->run[B->next];
	const struct bench_variant *v = &B->variants[run->variant];
	int r;

	*j = (struct bjob){ .B = B, .run = B->next++, .tl_fd = -1, .out_fd = -1, .err_fd = -1,
			    .active = true };
	if (v->kind == BENCH_K_BASELINE) {
		r = bench_launch_baseline(j);
	} else {
		_cleanup_strv_ char **argv = bench_argv(B, v, (unsigned)j->run);
		r = bench_spawn(j, argv, v->kind == BENCH_K_UCRT && B->mode == BENCH_STARTUP);
		if (r < 0)
			snprintf(run->error, sizeof(run->error), "starting %s: %s", argv[0], strerror(-r));
	}
	if (r < 0)
		bench_job_done(j, -1);
}

static void bench_density_after(struct bench *B, struct bjob *j, struct bench_run *run);

static void bench_job_done(struct bjob *j, int status)
{
	struct bench *B = j->B;
	struct bench_run *run = &B->run[j->run];
	const struct bench_variant *v = &B->variants[run->variant];
	uint64_t now = loop_now_ns();

	run->status = status;
	run->at[BENCH_P_END] = (double)(now - j->t_launch) / 1e6;
	if (j->pid || j->vm)
		run->cpu_ms = bench_reaped_cpu_ms(B);
	if (j->tl_fd >= 0)
		bench_read_timeline(j, run);
	if (status != 0 && !run->error[0] && j->err_fd >= 0)
		bench_tail_line(j->err_fd, run->error, sizeof(run->error));
	if (status != 0 && !run->error[0])
		snprintf(run->error, sizeof(run->error), "exit status %d", status);
	if (B->mode == BENCH_STARTUP && v->kind == BENCH_K_UCRT && status == 0 &&
	    !isfinite(run->at[BENCH_P_PROCESS]))
		snprintf(run->error, sizeof(run->error), "no timeline from the run (UCRT_TIMELINE_FD)");
	if (v->kind == BENCH_K_BASELINE && status != 0 && j->vm)
		snprintf(run->error, sizeof(run->error), "QEMU: %s", vm_qemu_stderr(j->vm));
	if (B->interrupted && status != 0)
		snprintf(run->error, sizeof(run->error), "interrupted");
	run->ok = status == 0 && bench_run_complete(run, v->kind, B->mode);
	if (B->mode == BENCH_DENSITY)
		bench_density_after(B, j, run);
	if (j->vm)
		vm_free(TAKE_PTR(j->vm));
	if (j->tl_fd >= 0)
		close(j->tl_fd);
	if (j->out_fd >= 0)
		close(j->out_fd);
	if (j->err_fd >= 0)
		close(j->err_fd);
	j->active = false;
	B->done++;
	/* podman that does not work is said once, not measured N times, and
	 * is no failure of ucrt's measurements. */
	if (v->kind == BENCH_K_PODMAN && !run->ok && run->warmup) {
		char *note = xasprintf("podman: %s", run->error);
		strv_push(&B->notes, note);
		free(note);
		for (size_t i = B->next; i < B->nplanned; i++)
			if (B->run[i].variant == run->variant)
				B->run[i].warmup = true, B->run[i].status = -2;
	} else {
		B->failed += !run->ok;
	}
	bench_launch_next(B);
}

static size_t bench_active(const struct bench *B)
{
	size_t n = 0;

	for (unsigned i = 0; i < B->parallel; i++)
		n += B->jobs[i].active;
	return n;
}

static void bench_progress_clear(struct bench *B)
{
	if (B->tty)
		fputs("\r\033[K", stderr);
}

static void bench_launch_next(struct bench *B)
{
	for (unsigned i = 0; i < B->parallel && !B->stopping; i++) {
		/* Skipped (podman that failed): neither launched nor counted. */
		while (B->next < B->nplanned && B->run[B->next].status == -2)
			B->next++;
		if (B->next >= B->nplanned)
			break;
		if (!B->jobs[i].active)
			bench_start_job(B, &B->jobs[i]);
	}
	if (!bench_active(B) && (B->stopping || B->next >= B->nplanned)) {
		loop_timer_stop(B->l, &B->sampler);
		loop_timer_stop(B->l, &B->progress);
		loop_timer_stop(B->l, &B->killer);
		loop_signal_unwatch(B->l, &B->sigint);
		loop_signal_unwatch(B->l, &B->sigterm);
		bench_progress_clear(B);
		loop_stop(B->l);
	}
}

/* ---- sampling, progress, Ctrl-C ---- */

static void bench_sample(struct loop_timer *t)
{
	struct bench *B = t->data;

	for (unsigned i = 0; i < B->parallel; i++) {
		struct bjob *j = &B->jobs[i];
		struct bench_run *run = &B->run[j->run];
		long pss;

		if (!j->active)
			continue;
		if (!j->qemu) {
			pid_t q = j->vm ? vm_pid(j->vm) : j->pid ? bench_find_child(j->pid, "qemu") : 0;
			if (q > 0)
				j->qemu = q;
		}
		if (j->qemu && (pss = bench_pss_kib(j->qemu)) > 0 &&
		    (!isfinite(run->pss_kib) || (double)pss > run->pss_kib))
			run->pss_kib = (double)pss;
	}
	loop_timer_start(B->l, t, BENCH_SAMPLE_NS);
}

static void bench_show_progress(struct loop_timer *t)
{
	struct bench *B = t->data;
	double el = (double)(loop_now_ns() - B->t_begin) / 1e9;

	fprintf(stderr, "\r\033[Kbench %s: %zu/%zu runs done, %zu failed",
		B->mode == BENCH_STARTUP ? "startup" : "density", B->done, B->nplanned, B->failed);
	if (B->done)
		fprintf(stderr, ", ETA %.0f s", el / (double)B->done * (double)(B->nplanned - B->done));
	loop_timer_start(B->l, t, BENCH_PROGRESS_NS);
}

static void bench_kill_all(struct bench *B, int sig)
{
	for (unsigned i = 0; i < B->parallel; i++) {
		struct bjob *j = &B->jobs[i];
		if (!j->active)
			continue;
		if (j->pid)
			kill(j->pid, sig);
		if (j->vm)
			vm_kill(j->vm, SIGKILL);
	}
}

static void bench_kill_timeout(struct loop_timer *t)
{
	/* A child's QEMU dies with it (PR_SET_PDEATHSIG). */
	bench_kill_all(t->data, SIGKILL);
}

/* First signal: SIGTERM lets each `ucrt run --rm` end its VM and remove
 * its container; what still runs after BENCH_KILL_NS, or on a second
 * signal, is killed. */
static void bench_on_signal(struct loop_signal *s, int signo)
{
	struct bench *B = s->data;

	if (B->interrupted) {
		bench_kill_all(B, SIGKILL);
		return;
	}
	B->stopping = B->interrupted = true;
	bench_kill_all(B, SIGTERM);
	loop_timer_start(B->l, &B->killer, BENCH_KILL_NS);
	bench_launch_next(B);
}

/* ---- density ---- */

static void bench_density_after(struct bench *B, struct bjob *j, struct bench_run *run)
{
	char id[CTR_ID_LEN + 2] = "";
	struct ctr_state st;
	long avail = bench_meminfo_kib("MemAvailable");
	ssize_t n;

	run->running = (unsigned)strv_len(B->density_ids);
	if (avail > 0)
		run->mem_avail_kib = (double)avail;
	n = pread(j->out_fd, id, sizeof(id) - 1, 0);
	id[n > 0 ? n : 0] = 0;
	id[strcspn(id, "\n")] = 0;
	if (id[0])
		strv_push(&B->density_ids, id);
	if (run->ok && ctr_state_read(B->ctx->root, id, &st) == 0 && st.qemu > 0) {
		long pss = bench_pss_kib(st.qemu);
		if (pss > 0)
			run->pss_kib = (double)pss;
	}
	if (B->stopping)
		return;
	if (!run->ok) {
		B->stop_reason = "failed";
		B->stopping = true;
	} else if (avail > 0 && B->host_ok &&
		   (double)avail < bench_meminfo_kib("MemTotal") * BENCH_MEM_FLOOR_PCT / 100.0) {
		B->stop_reason = "memory";
		B->stopping = true;
	} else if (B->done + 1 >= B->nplanned) {
		B->stop_reason = "max";
	}
}

/* Blocking, after the measurements: `ucrt rm -f` the detached ones. */
static void bench_density_cleanup(struct bench *B)
{
	char **argv = NULL;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, r;

	if (!B->density_ids)
		return;
	strv_push(&argv, B->self);
	strv_push(&argv, "--root");
	strv_push(&argv, B->ctx->root);
	strv_push(&argv, "rm");
	strv_push(&argv, "-f");
	for (char **i = B->density_ids; *i; i++)
		strv_push(&argv, *i);
	/* Its stdout (the ids) would mix with the report. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0 || waitpid(pid, &st, 0) < 0 ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		cli_error("removing the density containers failed: see `ucrt ps -a` (names bench-%d-*)",
			  (int)getpid());
	strv_free(argv);
}

/* ---- setup ---- */

/* The vm host for the baseline: ucrt's own probe (same QEMU, kernel,
 * accelerator and command line), with the floor's initramfs. */
static int bench_host_setup(struct bench *B, bool baseline, struct err *err)
{
	_cleanup_free_ char *cache = xasprintf("%s/vm", B->ctx->root);
	_cleanup_free_ char *init = NULL, *cpio = NULL;
	struct vm_host_opts o = { .cache_dir = cache };
	int r;

	if (mkdir_p_at(AT_FDCWD, cache, 0700) < 0)
		return err_setx(err, errno, "creating %s", cache);
	if ((r = vm_host_probe(&B->host, &o, err)) < 0)
		return r;
	B->host_ok = true;
	if (!baseline)
		return 0;
	init = xasprintf("%s/floor-init", B->tmp);
	cpio = xasprintf("%s/floor.cpio", B->tmp);
	if ((r = bench_floor_init_write(init, err)) < 0 ||
	    (r = vm_initramfs_write(cpio, init, NULL, err)) < 0)
		return r;
	free(B->host.initrd);
	B->host.initrd = TAKE_PTR(cpio);
	return 0;
}

static void bench_add_variant(struct bench *B, const struct bench_variant *v)
{
	B->variants = xrealloc(B->variants, (B->nvariants + 1) * sizeof(*B->variants));
	B->variants[B->nvariants++] = *v;
}

static void bench_free(struct bench *B)
{
	for (size_t i = 0; i < B->nvariants; i++)
		bench_variant_free(&B->variants[i]);
	free(B->variants);
	free(B->run);
	free(B->jobs);
	if (B->host_ok)
		vm_host_release(&B->host);
	if (B->tmp) {
		_cleanup_free_ char *a = xasprintf("%s/floor-init", B->tmp);
		_cleanup_free_ char *b = xasprintf("%s/floor.cpio", B->tmp);
		unlink(a), unlink(b);
		rmdir(B->tmp);
	}
	free(B->tmp);
	free(B->self);
	strv_free(B->notes);
	strv_free(B->density_ids);
	strv_free(B->cmd);
}

enum { O_WARMUP = 256, O_VARIANT, O_BASELINE, O_COMPARE, O_FORMAT, O_PLOT, O_MAX };

static const struct option bench_longopts[] = {
	{ "runs", required_argument, NULL, 'n' },
	{ "parallel", required_argument, NULL, 'p' },
	{ "warmup", required_argument, NULL, O_WARMUP },
	{ "variant", required_argument, NULL, O_VARIANT },
	{ "baseline", no_argument, NULL, O_BASELINE },
	{ "compare", required_argument, NULL, O_COMPARE },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "plot", required_argument, NULL, O_PLOT },
	{ "max", required_argument, NULL, O_MAX },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int bench_uint(const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v < lo || v > hi) {
		cli_error("invalid %s '%s' (want %u..%u)", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

struct bench_args {
	enum bench_fmt fmt;
	const char *plot;
	bool baseline, podman;
};

/* Options -> B and a; 1 when --help was printed. */
static int bench_parse(struct bench *B, struct bench_args *a, int argc, char **argv)
{
	static const char *const fmts[] = { "table", "json", "csv" };
	struct bench_variant v;
	struct err e = { 0 };
	int c, i;

	while ((c = getopt_long(argc, argv, "+n:p:h", bench_longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (bench_uint("--runs", optarg, 1, BENCH_MAX_RUNS, &B->runs) < 0)
				return -EINVAL;
			break;
		case 'p':
			if (bench_uint("--parallel", optarg, 1, 256, &B->parallel) < 0)
				return -EINVAL;
			break;
		case O_WARMUP:
			if (bench_uint("--warmup", optarg, 0, BENCH_MAX_RUNS, &B->warmup) < 0)
				return -EINVAL;
			break;
		case O_MAX:
			if (bench_uint("--max", optarg, 1, 4096, &B->max) < 0)
				return -EINVAL;
			break;
		case O_VARIANT:
			if (bench_variant_parse(optarg, &v, &e) < 0) {
				cli_error("--variant: %s", err_msg(&e));
				return -EINVAL;
			}
			for (size_t k = 0; k < B->nvariants; k++) {
				if (!strcmp(B->variants[k].name, v.name)) {
					cli_error("--variant: name '%s' given twice", v.name);
					bench_variant_free(&v);
					return -EINVAL;
				}
			}
			bench_add_variant(B, &v);
			break;
		case O_BASELINE:
			a->baseline = true;
			break;
		case O_COMPARE:
			if (strcmp(optarg, "podman") != 0) {
				cli_error("--compare: only 'podman' is known, not '%s'", optarg);
				return -EINVAL;
			}
			a->podman = true;
			break;
		case O_FORMAT:
			if ((i = str_index(optarg, fmts, ARRAY_SIZE(fmts))) < 0) {
				cli_error("invalid --format '%s' (want table, json or csv)", optarg);
				return -EINVAL;
			}
			a->fmt = (enum bench_fmt)i;
			break;
		case O_PLOT:
			if (!str_endswith(optarg, ".svg") && !str_endswith(optarg, ".png")) {
				cli_error("--plot %s: want a .svg or .png file name", optarg);
				return -EINVAL;
			}
			a->plot = optarg;
			break;
		case 'h':
			bench_usage(stdout);
			return 1;
		default:
			bench_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		bench_usage(stderr);
		return -EINVAL;
	}
	B->image = argv[optind++];
	/* `bench density IMAGE --max N` reads as the issue writes it. */
	if (B->mode == BENCH_DENSITY && optind < argc && str_startswith(argv[optind], "--max")) {
		const char *m = argv[optind][5] == '=' ? argv[optind] + 6 : NULL;

		if (!m && argv[optind][5] == 0 && optind + 1 < argc)
			m = argv[++optind];
		if (!m || bench_uint("--max", m, 1, 4096, &B->max) < 0) {
			if (!m)
				cli_error("--max needs a number");
			return -EINVAL;
		}
		optind++;
	}
	for (; optind < argc; optind++)
		strv_push(&B->cmd, argv[optind]);
	if (!B->cmd) {
		if (B->mode == BENCH_STARTUP) {
			strv_push(&B->cmd, "true");
		} else {
			strv_push(&B->cmd, "sleep");
			strv_push(&B->cmd, "86400");
		}
	}
	return 0;
}

static int bench_main(struct cli_ctx *ctx, enum bench_mode mode, int argc, char **argv)
{
	struct bench B = { .ctx = ctx, .mode = mode, .runs = 10, .parallel = 1, .warmup = 1, .max = 8 };
	struct bench_args a = { .fmt = FMT_TABLE };
	struct bench_report rep;
	_cleanup_buf_ struct buf out = BUF_INIT;
	struct err e = { 0 };
	char self[4096];
	ssize_t n;
	size_t kept = 0;
	int r, status = EXIT_RUNTIME;

	if ((r = bench_parse(&B, &a, argc, argv)) != 0) {
		bench_free(&B);
		return r > 0 ? 0 : EXIT_RUNTIME;
	}
	if (mode == BENCH_DENSITY) {
		if (a.baseline || a.podman || B.nvariants > 1) {
			cli_error("bench density measures one ucrt variant: no --baseline, --compare or second --variant");
			goto out;
		}
		B.parallel = 1;
	}
	if (!B.nvariants) {
		struct bench_variant d = { .name = xstrdup("ucrt"), .kind = BENCH_K_UCRT };
		bench_add_variant(&B, &d);
	}
	if (a.baseline) {
		struct bench_variant d = { .name = xstrdup("baseline"), .kind = BENCH_K_BASELINE };
		bench_add_variant(&B, &d);
	}
	if (a.podman) {
		if (bench_on_path("podman")) {
			struct bench_variant d = { .name = xstrdup("podman"), .kind = BENCH_K_PODMAN };
			bench_add_variant(&B, &d);
		} else {
			strv_push(&B.notes, "podman: not installed (apt-get install podman): not compared");
		}
	}
	/* This very binary, even when a rebuild replaced the file since. */
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
		cli_error("cannot find the ucrt binary (/proc/self/exe): %s", strerror(errno));
		goto out;
	}
	B.self = xstrdup("/proc/self/exe");
	B.tmp = xstrdup("/tmp/ucrt-bench.XXXXXX");
	if (!mkdtemp(B.tmp)) {
		cli_error("mkdtemp %s: %s", B.tmp, strerror(errno));
		free(TAKE_PTR(B.tmp));
		goto out;
	}
	if (bench_host_setup(&B, a.baseline, &e) < 0) {
		cli_error("%s", err_msg(&e));
		goto out;
	}
	B.l = cli_loop();
	B.tty = isatty(STDERR_FILENO);
	if (mode == BENCH_DENSITY)
		B.nplanned = bench_plan(&B.run, 1, 0, B.max);
	else
		B.nplanned = bench_plan(&B.run, B.nvariants, B.warmup, B.runs);
	B.jobs = xcalloc(B.parallel, sizeof(*B.jobs));
	getrusage(RUSAGE_CHILDREN, &B.ru_children);
	loop_timer_init(&B.sampler, bench_sample, &B);
	loop_timer_init(&B.progress, bench_show_progress, &B);
	loop_timer_init(&B.killer, bench_kill_timeout, &B);
	loop_signal_watch(B.l, &B.sigint, SIGINT, bench_on_signal, &B);
	loop_signal_watch(B.l, &B.sigterm, SIGTERM, bench_on_signal, &B);
	loop_timer_start(B.l, &B.sampler, BENCH_SAMPLE_NS);
	B.t_begin = loop_now_ns();
	/* Shown at once, not after the first period: a short run (one
	 * template start) can end before it. */
	if (B.tty)
		bench_show_progress(&B.progress);
	bench_launch_next(&B);
	if (B.next < B.nplanned || bench_active(&B))
		loop_run(B.l);
	if (mode == BENCH_DENSITY) {
		if (B.interrupted)
			B.stop_reason = "interrupted";
		else if (!B.stop_reason)
			B.stop_reason = "max";
		bench_density_cleanup(&B);
	}

	/* Runs skipped (podman that failed) were never launched. */
	for (size_t i = 0; i < B.next; i++)
		if (B.run[i].status != -2)
			B.run[kept++] = B.run[i];
	rep = (struct bench_report){
		.mode = mode, .image = B.image, .cmd = B.cmd, .runs = mode == BENCH_DENSITY ? B.max : B.runs,
		.parallel = B.parallel, .warmup = mode == BENCH_DENSITY ? 0 : B.warmup,
		.accel = vm_accel_name(B.host.accel), .kernel = B.host.kernel.path,
		.variants = B.variants, .nvariants = B.nvariants, .run = B.run, .nrun = kept,
		.notes = B.notes, .interrupted = B.interrupted,
		.wall_s = (double)(loop_now_ns() - B.t_begin) / 1e9, .density_max = B.max,
		.stop_reason = B.stop_reason, .mem_total_kib = (double)bench_meminfo_kib("MemTotal"),
	};
	if (a.fmt == FMT_JSON)
		bench_report_json(&rep, &out);
	else if (a.fmt == FMT_CSV)
		bench_report_csv(&rep, &out);
	else
		bench_report_table(&rep, &out);
	fwrite(out.data, 1, out.len, stdout);
	fflush(stdout);
	status = 0;
	if (a.plot && bench_plot_write(&rep, a.plot, B.tmp, &e) < 0) {
		cli_error("--plot %s", err_msg(&e));
		status = EXIT_RUNTIME;
	}
	if (B.interrupted)
		status = 130;
	else if (B.failed && status == 0)
		status = 1;
out:
	bench_free(&B);
	return status;
}

int cmd_bench_startup(struct cli_ctx *ctx, int argc, char **argv)
{
	return bench_main(ctx, BENCH_STARTUP, argc, argv);
}

int cmd_bench_density(struct cli_ctx *ctx, int argc, char **argv)
{
	return bench_main(ctx, BENCH_DENSITY, argc, argv);
}
