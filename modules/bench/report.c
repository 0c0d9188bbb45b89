/* The measured runs as text: a table for people, CSV for spreadsheets,
 * JSON for dashboards (docs/bench-schema.json; bump BENCH_SCHEMA_VERSION
 * on any incompatible change). Every run is kept in launch order, so the
 * interleaving of variants can be checked from the output alone. */
#include <math.h>
#include <string.h>

#include "bench/bench.h"
#include "buf.h"
#include "json.h"
#include "util.h"

#define BENCH_CI_ITERS 2000u
#define BENCH_CI_SEED 0x75637274ull	/* "ucrt": the same runs give the same interval */

static const char *const bench_keys[BENCH_P_COUNT] = {
	"ucrt_started", "image_ready", "disk_ready", "qemu_start", "qemu_spawned", "qmp_ready",
	"kernel_entry", "guest_init_start", "console", "init_ready", "process_started", "process_exited", "vm_gone", "end",
};
static const char *const bench_labels[BENCH_P_COUNT] = {
	"ucrt started", "image ready", "disk ready", "QEMU start", "QEMU spawned", "QMP ready",
	"kernel entry (guest)", "guest-init start", "console first byte", "guest-init ready", "process started", "process exited", "VM gone",
	"total (exited)",
};
static const char *const bench_kinds[] = { "ucrt", "baseline", "podman" };

const char *bench_phase_key(enum bench_phase p)
{
	return p < BENCH_P_COUNT ? bench_keys[p] : "?";
}

const char *bench_phase_label(enum bench_phase p)
{
	return p < BENCH_P_COUNT ? bench_labels[p] : "?";
}

double bench_run_overhead(const struct bench_run *r)
{
	double a = r->at[BENCH_P_SPAWNED], b = r->at[BENCH_P_VM_GONE], e = r->at[BENCH_P_END];

	if (!isfinite(a) || !isfinite(b) || !isfinite(e))
		return NAN;
	return a + (e - b);
}

static double bench_field(const struct bench_run *r, int field)
{
	if (field >= 0 && field < BENCH_P_COUNT)
		return r->at[field];
	switch (field) {
	case BENCH_F_OVERHEAD:
		return bench_run_overhead(r);
	case BENCH_F_CPU:
		return r->cpu_ms;
	case BENCH_F_PSS:
		return r->pss_kib;
	}
	return NAN;
}

size_t bench_values(const struct bench_report *r, size_t v, int field, double *out)
{
	size_t k = 0;

	for (size_t i = 0; i < r->nrun; i++) {
		const struct bench_run *x = &r->run[i];
		double d;

		if (x->variant != v || x->warmup || !x->ok)
			continue;
		d = bench_field(x, field);
		if (isfinite(d))
			out[k++] = d;
	}
	return k;
}

static void bench_summary_of(const struct bench_report *r, size_t v, int field,
			     struct bench_summary *s)
{
	_cleanup_free_ double *vals = xmalloc((r->nrun ? r->nrun : 1) * sizeof(double));
	size_t k = bench_values(r, v, field, vals);

	bench_summarize(vals, k, s);
}

/* Ratio of variant v's median total to the first variant's. */
static int bench_ratio(const struct bench_report *r, size_t v, double *ratio, double *lo, double *hi)
{
	_cleanup_free_ double *a = xmalloc((r->nrun ? r->nrun : 1) * sizeof(double));
	_cleanup_free_ double *b = xmalloc((r->nrun ? r->nrun : 1) * sizeof(double));
	size_t na = bench_values(r, 0, BENCH_P_END, a), nb = bench_values(r, v, BENCH_P_END, b);

	return bench_ratio_ci(a, na, b, nb, BENCH_CI_ITERS, 0.95, BENCH_CI_SEED, ratio, lo, hi);
}

/* p50 total of variant v minus the baseline's: what the runtime adds to
 * the floor. NAN without a baseline. */
static double bench_above_floor(const struct bench_report *r, size_t v)
{
	struct bench_summary a, f;

	for (size_t b = 0; b < r->nvariants; b++) {
		if (r->variants[b].kind != BENCH_K_BASELINE || b == v)
			continue;
		bench_summary_of(r, v, BENCH_P_END, &a);
		bench_summary_of(r, b, BENCH_P_END, &f);
		return a.p50 - f.p50;
	}
	return NAN;
}

static size_t bench_count(const struct bench_report *r, size_t v, bool ok)
{
	size_t k = 0;

	for (size_t i = 0; i < r->nrun; i++)
		k += r->run[i].variant == v && !r->run[i].warmup && r->run[i].ok == ok;
	return k;
}

/* ---- table ---- */

static void bench_cell(struct buf *b, double x, int width)
{
	if (isfinite(x))
		buf_printf(b, " %*.1f", width, x);
	else
		buf_printf(b, " %*s", width, "-");
}

static void bench_table_row(struct buf *b, const char *label, const struct bench_summary *s,
			    double scale)
{
	if (!s->n)
		return;
	buf_printf(b, "  %-20s", label);
	bench_cell(b, s->min * scale, 8);
	bench_cell(b, s->p50 * scale, 8);
	bench_cell(b, s->p90 * scale, 8);
	bench_cell(b, s->p99 * scale, 8);
	bench_cell(b, s->max * scale, 8);
	buf_putc(b, '\n');
}

static void bench_table_startup(const struct bench_report *r, struct buf *b)
{
	struct bench_summary s;

	for (size_t v = 0; v < r->nvariants; v++) {
		const struct bench_variant *var = &r->variants[v];

		buf_printf(b, "\n%s (%s", var->name, bench_kinds[var->kind]);
		for (char *const *a = var->args; a && *a; a++)
			buf_printf(b, " %s", *a);
		buf_printf(b, "): %zu runs ok, %zu failed\n", bench_count(r, v, true), bench_count(r, v, false));
		buf_printf(b, "  %-20s %8s %8s %8s %8s %8s\n", "ms after launch", "min", "p50", "p90", "p99", "max");
		for (int p = 0; p < BENCH_P_COUNT; p++) {
			bench_summary_of(r, v, p, &s);
			bench_table_row(b, bench_labels[p], &s, 1);
		}
		bench_summary_of(r, v, BENCH_F_OVERHEAD, &s);
		bench_table_row(b, "runtime overhead", &s, 1);
		bench_summary_of(r, v, BENCH_F_CPU, &s);
		bench_table_row(b, "host CPU ms", &s, 1);
		bench_summary_of(r, v, BENCH_F_PSS, &s);
		bench_table_row(b, "peak PSS MiB", &s, 1.0 / 1024);
	}
	for (size_t v = 0; v < r->nvariants; v++) {
		double d = bench_above_floor(r, v);
		if (isfinite(d))
			buf_printf(b, "%s%-22s %+.1f ms p50 total above the floor (baseline)\n",
				   v ? "" : "\n", r->variants[v].name, d);
	}
	if (r->nvariants < 2)
		return;
	buf_printf(b, "\ntotal, p50 against %s (95%% bootstrap interval):\n", r->variants[0].name);
	for (size_t v = 1; v < r->nvariants; v++) {
		double ratio, lo, hi;

		if (bench_ratio(r, v, &ratio, &lo, &hi) < 0)
			buf_printf(b, "  %-20s   n/a (no successful runs)\n", r->variants[v].name);
		else
			buf_printf(b, "  %-20s x%.2f  [%.2f, %.2f]\n", r->variants[v].name, ratio, lo, hi);
	}
}

static void bench_table_density(const struct bench_report *r, struct buf *b)
{
	buf_printf(b, "\n  %7s %12s %12s %16s\n", "running", "started ms", "PSS MiB", "MemAvailable MiB");
	for (size_t i = 0; i < r->nrun; i++) {
		const struct bench_run *x = &r->run[i];

		buf_printf(b, "  %7u", x->running);
		bench_cell(b, x->at[BENCH_P_END], 12);
		bench_cell(b, x->pss_kib / 1024, 12);
		bench_cell(b, x->mem_avail_kib / 1024, 16);
		if (!x->ok)
			buf_printf(b, "  %s", x->error);
		buf_putc(b, '\n');
	}
	buf_printf(b, "stopped: %s\n", r->stop_reason ? r->stop_reason : "-");
}

void bench_report_table(const struct bench_report *r, struct buf *b)
{
	buf_printf(b, "ucrt bench %s: %s", r->mode == BENCH_STARTUP ? "startup" : "density", r->image);
	for (char *const *a = r->cmd; a && *a; a++)
		buf_printf(b, " %s", *a);
	if (r->mode == BENCH_STARTUP)
		buf_printf(b, "\n%u runs per variant (%u warm-up), %u at a time", r->runs, r->warmup,
			   r->parallel);
	else
		buf_printf(b, "\nup to %u containers, one at a time", r->density_max);
	buf_printf(b, ", accel %s, kernel %s, %.1f s%s\n", r->accel ? r->accel : "?",
		   r->kernel ? r->kernel : "?", r->wall_s, r->interrupted ? ", INTERRUPTED: partial" : "");
	if (r->mode == BENCH_STARTUP)
		bench_table_startup(r, b);
	else
		bench_table_density(r, b);
	for (char *const *n = r->notes; n && *n; n++)
		buf_printf(b, "note: %s\n", *n);
}

/* ---- CSV: one line per run ---- */

static void bench_csv_num(struct buf *b, double x)
{
	if (isfinite(x))
		buf_printf(b, ",%.3f", x);
	else
		buf_puts(b, ",");
}

void bench_report_csv(const struct bench_report *r, struct buf *b)
{
	buf_puts(b, "seq,variant,kind,warmup,ok,status");
	for (int p = 0; p < BENCH_P_COUNT; p++)
		buf_printf(b, ",%s_ms", bench_keys[p]);
	buf_puts(b, ",overhead_ms,cpu_ms,qemu_cpu_ms,pss_kib,running,mem_available_kib\n");
	for (size_t i = 0; i < r->nrun; i++) {
		const struct bench_run *x = &r->run[i];
		const struct bench_variant *v = &r->variants[x->variant];

		/* Names are [A-Za-z0-9._-]: nothing to quote. */
		buf_printf(b, "%u,%s,%s,%d,%d,%d", x->seq, v->name, bench_kinds[v->kind], x->warmup,
			   x->ok, x->status);
		for (int p = 0; p < BENCH_P_COUNT; p++)
			bench_csv_num(b, x->at[p]);
		bench_csv_num(b, bench_run_overhead(x));
		bench_csv_num(b, x->cpu_ms);
		bench_csv_num(b, x->qemu_cpu_ms);
		bench_csv_num(b, x->pss_kib);
		buf_printf(b, ",%u", x->running);
		bench_csv_num(b, x->mem_avail_kib);
		buf_putc(b, '\n');
	}
}

/* ---- JSON ---- */

static void jw_num(struct json_writer *w, double x)
{
	char s[48];

	if (!isfinite(x)) {
		jw_null(w);
		return;
	}
	snprintf(s, sizeof(s), "%.3f", x);
	jw_raw(w, s, strlen(s));
}

static void jw_summary(struct json_writer *w, const char *key, const struct bench_summary *s)
{
	jw_key(w, key);
	jw_obj_begin(w);
	jw_key(w, "n");
	jw_uint(w, s->n);
	jw_key(w, "min");
	jw_num(w, s->min);
	jw_key(w, "p50");
	jw_num(w, s->p50);
	jw_key(w, "p90");
	jw_num(w, s->p90);
	jw_key(w, "p99");
	jw_num(w, s->p99);
	jw_key(w, "max");
	jw_num(w, s->max);
	jw_key(w, "mean");
	jw_num(w, s->mean);
	jw_obj_end(w);
}

static void bench_json_variant(const struct bench_report *r, size_t v, struct json_writer *w)
{
	const struct bench_variant *var = &r->variants[v];
	struct bench_summary s;
	double ratio, lo, hi;

	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, var->name);
	jw_key(w, "kind");
	jw_str(w, bench_kinds[var->kind]);
	jw_key(w, "options");
	jw_arr_begin(w);
	for (char *const *a = var->args; a && *a; a++)
		jw_str(w, *a);
	jw_arr_end(w);
	jw_key(w, "ok");
	jw_uint(w, bench_count(r, v, true));
	jw_key(w, "failed");
	jw_uint(w, bench_count(r, v, false));
	jw_key(w, "phases_ms");
	jw_obj_begin(w);
	for (int p = 0; p < BENCH_P_COUNT; p++) {
		bench_summary_of(r, v, p, &s);
		if (s.n)
			jw_summary(w, bench_keys[p], &s);
	}
	jw_obj_end(w);
	bench_summary_of(r, v, BENCH_P_END, &s);
	jw_summary(w, "total_ms", &s);
	bench_summary_of(r, v, BENCH_F_OVERHEAD, &s);
	jw_summary(w, "overhead_ms", &s);
	bench_summary_of(r, v, BENCH_F_CPU, &s);
	jw_summary(w, "cpu_ms", &s);
	bench_summary_of(r, v, BENCH_F_PSS, &s);
	jw_summary(w, "pss_kib", &s);
	jw_key(w, "above_floor_ms");
	jw_num(w, var->kind == BENCH_K_BASELINE ? NAN : bench_above_floor(r, v));
	jw_key(w, "ratio");
	if (v && bench_ratio(r, v, &ratio, &lo, &hi) == 0) {
		jw_obj_begin(w);
		jw_key(w, "to");
		jw_str(w, r->variants[0].name);
		jw_key(w, "p50");
		jw_num(w, ratio);
		jw_key(w, "ci_level");
		jw_num(w, 0.95);
		jw_key(w, "ci_low");
		jw_num(w, lo);
		jw_key(w, "ci_high");
		jw_num(w, hi);
		jw_obj_end(w);
	} else {
		jw_null(w);
	}
	jw_obj_end(w);
}

static void bench_json_run(const struct bench_report *r, const struct bench_run *x,
			   struct json_writer *w)
{
	jw_obj_begin(w);
	jw_key(w, "seq");
	jw_uint(w, x->seq);
	jw_key(w, "variant");
	jw_str(w, r->variants[x->variant].name);
	jw_key(w, "warmup");
	jw_bool(w, x->warmup);
	jw_key(w, "ok");
	jw_bool(w, x->ok);
	jw_key(w, "status");
	jw_int(w, x->status);
	jw_key(w, "phases_ms");
	jw_obj_begin(w);
	for (int p = 0; p < BENCH_P_COUNT; p++) {
		jw_key(w, bench_keys[p]);
		jw_num(w, x->at[p]);
	}
	jw_obj_end(w);
	jw_key(w, "overhead_ms");
	jw_num(w, bench_run_overhead(x));
	jw_key(w, "cpu_ms");
	jw_num(w, x->cpu_ms);
	jw_key(w, "qemu_cpu_ms");
	jw_num(w, x->qemu_cpu_ms);
	jw_key(w, "pss_kib");
	jw_num(w, x->pss_kib);
	if (r->mode == BENCH_DENSITY) {
		jw_key(w, "running");
		jw_uint(w, x->running);
		jw_key(w, "mem_available_kib");
		jw_num(w, x->mem_avail_kib);
	}
	jw_key(w, "error");
	jw_str(w, x->error);
	jw_obj_end(w);
}

void bench_report_json(const struct bench_report *r, struct buf *b)
{
	struct json_writer w;

	jw_init(&w, b, true);
	jw_obj_begin(&w);
	jw_key(&w, "schema_version");
	jw_uint(&w, BENCH_SCHEMA_VERSION);
	jw_key(&w, "mode");
	jw_str(&w, r->mode == BENCH_STARTUP ? "startup" : "density");
	jw_key(&w, "ucrt_version");
	jw_str(&w, UCRT_VERSION);
	jw_key(&w, "image");
	jw_str(&w, r->image);
	jw_key(&w, "cmd");
	jw_arr_begin(&w);
	for (char *const *a = r->cmd; a && *a; a++)
		jw_str(&w, *a);
	jw_arr_end(&w);
	jw_key(&w, "config");
	jw_obj_begin(&w);
	jw_key(&w, "runs");
	jw_uint(&w, r->runs);
	jw_key(&w, "parallel");
	jw_uint(&w, r->parallel);
	jw_key(&w, "warmup");
	jw_uint(&w, r->warmup);
	if (r->mode == BENCH_DENSITY) {
		jw_key(&w, "max");
		jw_uint(&w, r->density_max);
	}
	jw_obj_end(&w);
	jw_key(&w, "host");
	jw_obj_begin(&w);
	jw_key(&w, "accel");
	jw_str(&w, r->accel ? r->accel : "");
	jw_key(&w, "kernel");
	jw_str(&w, r->kernel ? r->kernel : "");
	jw_key(&w, "mem_total_kib");
	jw_num(&w, r->mem_total_kib);
	jw_obj_end(&w);
	jw_key(&w, "interrupted");
	jw_bool(&w, r->interrupted);
	jw_key(&w, "wall_s");
	jw_num(&w, r->wall_s);
	if (r->mode == BENCH_DENSITY) {
		jw_key(&w, "stop_reason");
		jw_str(&w, r->stop_reason ? r->stop_reason : "");
	}
	jw_key(&w, "phases");
	jw_arr_begin(&w);
	for (int p = 0; p < BENCH_P_COUNT; p++)
		jw_str(&w, bench_keys[p]);
	jw_arr_end(&w);
	jw_key(&w, "variants");
	jw_arr_begin(&w);
	for (size_t v = 0; v < r->nvariants; v++)
		bench_json_variant(r, v, &w);
	jw_arr_end(&w);
	jw_key(&w, "runs");
	jw_arr_begin(&w);
	for (size_t i = 0; i < r->nrun; i++)
		bench_json_run(r, &r->run[i], &w);
	jw_arr_end(&w);
	jw_key(&w, "notes");
	jw_arr_begin(&w);
	for (char *const *n = r->notes; n && *n; n++)
		jw_str(&w, *n);
	jw_arr_end(&w);
	jw_obj_end(&w);
	buf_putc(b, '\n');
}
