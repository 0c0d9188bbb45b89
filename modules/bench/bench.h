/* modules/bench: what `ucrt bench` needs besides running containers.
 *
 *  - stats:   percentiles, summaries, a bootstrap confidence interval of
 *             the ratio of two medians;
 *  - variant: "NAME: OPTIONS" -> a name and the `ucrt run` options;
 *  - report:  the measured runs as a table, CSV or JSON (schema
 *             docs/bench-schema.json) and as an SVG picture;
 *  - floor:   the init of the baseline VM (reboots at once);
 *  - host:    PSS of a process, its first child, memory left.
 *
 * Nothing here starts processes or waits: modules/cli/cmd-bench.c runs the
 * measurements and fills a struct bench_report. docs/benchmarks.md. */
#ifndef UCRT_BENCH_H
#define UCRT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;
struct err;

#define BENCH_SCHEMA_VERSION 1

/* ---- statistics (stats.c) ----------------------------------------------*/

/* Quantile q (0..1) of sorted values, linear between closest ranks (R's
 * type 7, numpy's default); NAN when n is 0. */
double bench_quantile(const double *sorted, size_t n, double q);

struct bench_summary {
	size_t n;			/* finite values counted */
	double min, p50, p90, p99, max, mean;	/* NAN when n is 0 */
};
/* Of the finite values among v[0..n) (NAN means "not measured"). */
void bench_summarize(const double *v, size_t n, struct bench_summary *out);

/* Ratio of medians b/a and its percentile-bootstrap interval at level
 * (e.g. 0.95) from iters resamples drawn with a fixed seed (the same
 * data gives the same interval). -EINVAL when a side has no finite value. */
int bench_ratio_ci(const double *a, size_t na, const double *b, size_t nb, unsigned iters,
		   double level, uint64_t seed, double *ratio, double *lo, double *hi);

/* ---- variants (variant.c) ----------------------------------------------*/

enum bench_kind {
	BENCH_K_UCRT,		/* `ucrt run --rm OPTIONS IMAGE CMD` */
	BENCH_K_BASELINE,	/* bare QEMU, same kernel and machine, init that reboots */
	BENCH_K_PODMAN,		/* `podman run --rm IMAGE CMD` */
};

struct bench_variant {
	char *name;
	char **args;			/* `ucrt run` options, NULL-terminated, may be NULL */
	enum bench_kind kind;
};

/* "NAME: OPTIONS": NAME is 1..32 of [A-Za-z0-9._-]; OPTIONS are split on
 * blanks with '...' and "..." quoting and backslash escapes (no
 * expansion). Every option must start with '-' and may not be one that
 * changes what is measured (--rm, -d, -i, -t, --parallel, ...). */
int bench_variant_parse(const char *s, struct bench_variant *out, struct err *err);
void bench_variant_free(struct bench_variant *v);

/* ---- runs and reports (report.c, svg.c) --------------------------------*/

enum bench_mode { BENCH_STARTUP, BENCH_DENSITY };

/* Per-run instants, ms after the bench launched the run. In order; a
 * variant kind reaches only some of them. */
enum bench_phase {
	BENCH_P_UCRT,		/* `ucrt run` is executing (its t0) */
	BENCH_P_IMAGE,		/* image in the store */
	BENCH_P_DISK,		/* image disk ready */
	BENCH_P_QEMU,		/* vm_start called */
	BENCH_P_SPAWNED,	/* QEMU forked */
	BENCH_P_QMP,		/* QMP handshake done */
	BENCH_P_KERNEL,		/* guest clock 0 (~ kernel entry), from guest-init's HELLO */
	BENCH_P_GUEST_INIT,	/* guest-init's main() began, same clock */
	BENCH_P_CONSOLE,	/* first byte on the serial console */
	BENCH_P_INIT,		/* guest-init's first frame (baseline: -) */
	BENCH_P_PROCESS,	/* container process started */
	BENCH_P_PROCESS_EXIT,	/* its exit status reached the host */
	BENCH_P_VM_GONE,	/* QEMU reaped */
	BENCH_P_END,		/* the measured command exited (total) */
	BENCH_P_COUNT
};
const char *bench_phase_key(enum bench_phase p);	/* "vm_gone" (JSON, CSV) */
const char *bench_phase_label(enum bench_phase p);	/* "VM gone" (table, picture) */

struct bench_run {
	unsigned seq;			/* launch order, from 0 */
	unsigned variant;		/* index into report variants */
	bool warmup;			/* measured, left out of the statistics */
	bool ok;			/* exit status 0 and every phase of its kind */
	int status;			/* exit status, -1 unknown */
	double at[BENCH_P_COUNT];	/* ms after launch, NAN not reached */
	double cpu_ms;			/* host CPU of the run (runtime + QEMU), NAN unknown */
	double qemu_cpu_ms;		/* ... of QEMU alone */
	double pss_kib;			/* peak PSS of its QEMU, NAN unknown */
	unsigned running;		/* density: containers already running */
	double mem_avail_kib;		/* density: MemAvailable after the start */
	char error[240];
};

/* The runs of warmup + measured rounds of every variant, interleaved (A B
 * A B ...): every phase NAN, status -1. Returns how many (*out, free). */
size_t bench_plan(struct bench_run **out, size_t nvariants, unsigned warmup, unsigned measured);
/* A child `ucrt run`'s UCRT_TIMELINE_FD line (absolute CLOCK_MONOTONIC ns
 * per phase) into run->at, relative to t_launch; instants before the
 * launch are dropped. The guest's clock (guest_start_ns, guest_hello_ns)
 * is put on the host's by taking the HELLO as sent when it was received
 * ("agent"): the offset errs late by the channel's transit time, so
 * kernel entry and guest-init start come out at most that much late.
 * -EBADMSG when it is not a JSON object. */
int bench_timeline_parse(const char *text, size_t len, uint64_t t_launch, struct bench_run *run);
/* Every phase its kind must reach was reached, in order (the console's
 * first byte may come anywhere). */
bool bench_run_complete(const struct bench_run *run, enum bench_kind kind, enum bench_mode mode);

/* The runtime's own share of a ucrt run: everything outside QEMU's life
 * (launch -> QEMU spawned, QEMU reaped -> exit); NAN when unknown. */
double bench_run_overhead(const struct bench_run *r);

struct bench_report {
	enum bench_mode mode;
	const char *image;
	char *const *cmd;		/* may be NULL */
	unsigned runs, parallel, warmup;	/* as asked */
	const char *accel, *kernel;	/* of the host probe */
	const struct bench_variant *variants;
	size_t nvariants;
	const struct bench_run *run;	/* in launch order */
	size_t nrun;
	char *const *notes;		/* "podman: not installed", NULL-terminated */
	bool interrupted;		/* Ctrl-C: partial results */
	double wall_s;
	unsigned density_max;
	const char *stop_reason;	/* density: "max", "memory", "failed", "interrupted" */
	double mem_total_kib;
};

/* The finite values of one measure of variant v's measured runs (not
 * warm-up). field: a phase, or one of the BENCH_F_* pseudo-phases below.
 * Returns how many; out holds at least nrun. */
#define BENCH_F_OVERHEAD (BENCH_P_COUNT + 0)
#define BENCH_F_CPU (BENCH_P_COUNT + 1)
#define BENCH_F_PSS (BENCH_P_COUNT + 2)
size_t bench_values(const struct bench_report *r, size_t v, int field, double *out);

void bench_report_table(const struct bench_report *r, struct buf *out);
void bench_report_csv(const struct bench_report *r, struct buf *out);
void bench_report_json(const struct bench_report *r, struct buf *out);
/* Startup: per-variant CDFs of the total and a stacked bar of the median
 * phases; density: start latency and PSS against containers running.
 * BENCH_SVG_W x BENCH_SVG_H user units. */
#define BENCH_SVG_W 960
#define BENCH_SVG_H 600
void bench_report_svg(const struct bench_report *r, struct buf *out);

/* The picture into file: FILE.svg as is, FILE.png through rsvg-convert
 * (a temporary SVG in tmpdir); -ENOENT when rsvg-convert is missing. */
int bench_plot_write(const struct bench_report *r, const char *file, const char *tmpdir,
		     struct err *err);
/* prog is an executable in one of $PATH's directories. */
bool bench_on_path(const char *prog);
/* The last non-empty line of the text in fd (read with pread from its
 * end: a memfd or file of captured output) into out, "" when none. */
void bench_tail_line(int fd, char *out, size_t cap);

/* ---- the baseline's init (floor.c) -------------------------------------*/

/* A static x86-64 ELF of ~200 bytes: as PID 1 it writes "!" to the
 * console, drains it and reboots (QEMU -no-reboot then exits); as any
 * other process it exits 0 at once. Written with mode 0755. */
int bench_floor_init_write(const char *path, struct err *err);

/* ---- host measurements (host.c) ----------------------------------------*/

/* Pss of pid in KiB (/proc/PID/smaps_rollup), -errno when gone. */
long bench_pss_kib(pid_t pid);
/* The first child of pid (/proc/PID/task/PID/children) whose command
 * name starts with comm ("qemu"), -ESRCH when none, -errno. */
pid_t bench_find_child(pid_t pid, const char *comm);
/* MemAvailable / MemTotal of /proc/meminfo in KiB, -errno. */
long bench_meminfo_kib(const char *field);

#endif
