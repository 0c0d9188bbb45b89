/* bench runs and reports: the interleaved plan, a child's timeline line,
 * which runs count, and the table, CSV, JSON and SVG made from a small
 * synthetic report (variant b is twice as slow as a; a baseline). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench/bench.h"
#include "buf.h"
#include "json.h"
#include "tests/lib/tap.h"
#include "util.h"

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* A complete ucrt run whose phases are 10 ms apart, scaled. */
static void fill_ucrt(struct bench_run *r, double scale)
{
	for (int p = 0; p < BENCH_P_COUNT; p++)
		r->at[p] = (double)(p + 1) * 10 * scale;
	r->cpu_ms = 50 * scale;
	r->pss_kib = 100000;
	r->status = 0;
	r->ok = bench_run_complete(r, BENCH_K_UCRT, BENCH_STARTUP);
}

int main(void)
{
	struct bench_variant vars[3] = {
		{ .name = "a", .kind = BENCH_K_UCRT },
		{ .name = "b", .args = (char *[]){ "--memory", "512M", NULL }, .kind = BENCH_K_UCRT },
		{ .name = "baseline", .kind = BENCH_K_BASELINE },
	};
	struct bench_run *run;
	size_t n = bench_plan(&run, 3, 1, 4);
	struct bench_report rep = { .mode = BENCH_STARTUP, .image = "reg/img:1", .cmd = (char *[]){ "true", NULL },
				    .runs = 4, .parallel = 1, .warmup = 1, .accel = "tcg", .kernel = "/k",
				    .variants = vars, .nvariants = 3, .run = run, .nrun = n,
				    .notes = (char *[]){ "podman: not installed", NULL } };
	struct buf b = BUF_INIT;
	struct json_doc d = { 0 };
	double vals[32];
	int64_t iv;
	const char *line;
	struct bench_run t;

	t_plan(45);
	t_is(n, 15, "plan: (1 warm-up + 4) rounds x 3 variants");
	t_ok(run[0].variant == 0 && run[1].variant == 1 && run[2].variant == 2 && run[3].variant == 0 &&
	     run[14].variant == 2, "plan interleaves A B C A B C ...");
	t_ok(run[2].warmup && !run[3].warmup && run[14].seq == 14, "first round is warm-up, seq in order");
	t_ok(isnan(run[5].at[BENCH_P_END]) && run[5].status == -1 && isnan(run[5].pss_kib), "plan: nothing measured yet");

	/* timeline line of a child: absolute ns, launch at 1e9 */
	t = run[4];
	line = "{\"t0\":1005000000,\"image\":1010000000,\"disk\":1011000000,\"qemu_start\":1012000000,"
	       "\"spawned\":1013000000,\"qmp\":1100000000,\"console\":0,\"agent\":1500000000,"
	       "\"process\":1600000000,\"vm_exited\":1800000000,\"process_exit\":1700000000,"
	       "\"status\":0,\"qemu_pid\":42,\"qemu_cpu_ns\":250000000,\"future\":[1,2]}";
	t_is(bench_timeline_parse(line, strlen(line), 1000000000ull, &t), 0, "timeline line parses");
	t_ok(fabs(t.at[BENCH_P_UCRT] - 5) < 1e-9 && fabs(t.at[BENCH_P_VM_GONE] - 800) < 1e-9 &&
	     fabs(t.at[BENCH_P_PROCESS_EXIT] - 700) < 1e-9, "phases in ms after launch");
	t_ok(isnan(t.at[BENCH_P_CONSOLE]), "0 = not reached stays NAN");
	t_ok(fabs(t.qemu_cpu_ms - 250) < 1e-9, "QEMU CPU time");
	t.at[BENCH_P_END] = 810;
	t_ok(bench_run_complete(&t, BENCH_K_UCRT, BENCH_STARTUP), "complete without the console byte");
	t_ok(fabs(bench_run_overhead(&t) - (13 + 10)) < 1e-9, "overhead: launch->spawned + gone->end");
	t = run[4];
	t_is(bench_timeline_parse(line, strlen(line), 1400000000ull, &t), 0, "launched later");
	t_ok(isnan(t.at[BENCH_P_UCRT]) && fabs(t.at[BENCH_P_INIT] - 100) < 1e-9, "instants before the launch are dropped");
	t = run[4];
	line = "{\"agent\":1500000000,\"guest_start_ns\":300000000,\"guest_hello_ns\":350000000}";
	t_is(bench_timeline_parse(line, strlen(line), 1000000000ull, &t), 0, "guest clock parses");
	t_ok(fabs(t.at[BENCH_P_KERNEL] - 150) < 1e-9 && fabs(t.at[BENCH_P_GUEST_INIT] - 450) < 1e-9,
	     "guest clock placed by the HELLO's receive time: kernel at 150 ms, guest-init at 450 ms");
	t = run[4];
	line = "{\"agent\":1100000000,\"guest_start_ns\":300000000,\"guest_hello_ns\":350000000}";
	bench_timeline_parse(line, strlen(line), 1000000000ull, &t);
	t_ok(isnan(t.at[BENCH_P_KERNEL]) && fabs(t.at[BENCH_P_GUEST_INIT] - 50) < 1e-9,
	     "a guest zero before the launch is dropped");
	t_is(bench_timeline_parse("[1,2]", 5, 0, &t), -EBADMSG, "not an object: -EBADMSG");
	t_is(bench_timeline_parse("{\"t0\":", 6, 0, &t), -EBADMSG, "truncated: -EBADMSG");

	/* measured data: a at 1x, b at 2x, baseline */
	for (size_t i = 0; i < n; i++) {
		struct bench_run *r = &run[i];
		if (r->variant == 2) {
			r->at[BENCH_P_QEMU] = 0.1;
			r->at[BENCH_P_SPAWNED] = 1;
			r->at[BENCH_P_QMP] = 50;
			r->at[BENCH_P_CONSOLE] = 60;
			r->at[BENCH_P_VM_GONE] = r->at[BENCH_P_END] = 70;
			r->status = 0;
			r->ok = bench_run_complete(r, BENCH_K_BASELINE, BENCH_STARTUP);
		} else {
			fill_ucrt(r, r->variant ? 2 : 1);
		}
	}
	run[13].ok = false;	/* a failed run of b: left out */
	snprintf(run[13].error, sizeof(run[13].error), "boom \"quoted\"");
	t_ok(run[2].ok, "baseline run is complete");
	t = run[0];
	t.at[BENCH_P_QMP] = 5;
	t_ok(!bench_run_complete(&t, BENCH_K_UCRT, BENCH_STARTUP), "phases out of order: not complete");
	t.at[BENCH_P_QMP] = NAN;
	t_ok(!bench_run_complete(&t, BENCH_K_UCRT, BENCH_STARTUP), "a missing phase: not complete");
	for (int p = 0; p < BENCH_P_END; p++)
		t.at[p] = NAN;
	t_ok(bench_run_complete(&t, BENCH_K_UCRT, BENCH_DENSITY) && bench_run_complete(&t, BENCH_K_PODMAN, BENCH_STARTUP),
	     "density and podman runs need only their end");
	t.at[BENCH_P_END] = NAN;
	t_ok(!bench_run_complete(&t, BENCH_K_UCRT, BENCH_DENSITY), "... which they must reach");
	t_is(bench_values(&rep, 0, BENCH_P_END, vals), 4, "values: warm-up left out");
	t_is(bench_values(&rep, 1, BENCH_P_END, vals), 3, "values: failed run left out");
	t_is(bench_values(&rep, 2, BENCH_P_INIT, vals), 0, "baseline has no guest-init phase");
	t_is(bench_values(&rep, 0, BENCH_F_OVERHEAD, vals), 4, "overhead values");
	t_streq(bench_phase_key(BENCH_P_VM_GONE), "vm_gone", "phase key");
	t_streq(bench_phase_label(BENCH_P_INIT), "guest-init ready", "phase label");

	bench_report_table(&rep, &b);
	t_ok(strstr(b.data, "p50") && strstr(b.data, "b (ucrt --memory 512M): 3 runs ok, 1 failed") &&
	     strstr(b.data, "guest-init ready") && strstr(b.data, "note: podman: not installed"),
	     "table: header, variant line, phases, notes");
	t_ok(strstr(b.data, "b                    x2.00") != NULL, "table: b is x2.00 of a");
	t_ok(strstr(b.data, "a                      +70.0 ms p50 total above the floor") &&
	     strstr(b.data, "b                      +210.0 ms"), "table: each variant above the floor");
	buf_reset(&b);
	bench_report_csv(&rep, &b);
	t_is(count(b.data, "\n"), 16, "CSV: header and one line per run");
	t_is(count(strchr(b.data, '\n') + 1, ",") / 15, count(b.data, ",") / 16, "CSV: every line has the header's columns");
	t_ok(strstr(b.data, "\n13,b,ucrt,0,0,0,") != NULL, "CSV: a failed run is there, marked");
	buf_reset(&b);

	bench_report_json(&rep, &b);
	t_is(json_parse(&d, b.data, b.len, 100000), 0, "JSON parses");
	t_ok(json_int(&d, json_get(&d, 0, "schema_version"), &iv) == 0 && iv == BENCH_SCHEMA_VERSION, "schema_version");
	t_is(json_array_len(&d, json_get(&d, 0, "runs")), 15, "JSON: every run");
	{
		int v1 = json_array_at(&d, json_get(&d, 0, "variants"), 1);
		int ratio = json_get(&d, v1, "ratio");
		t_ok(json_str_eq(&d, json_get(&d, ratio, "to"), "a") && json_type(&d, json_get(&d, ratio, "p50")) == JSON_PRIMITIVE,
		     "JSON: ratio of b to a");
		int af = json_get(&d, v1, "above_floor_ms");
		t_ok(af >= 0 && fabs(strtod(d.src + d.toks[af].start, NULL) - 210) < 1e-9, "JSON: b above the floor");
		int r13 = json_array_at(&d, json_get(&d, 0, "runs"), 13);
		char *err = json_str(&d, json_get(&d, r13, "error"));
		t_streq(err, "boom \"quoted\"", "JSON: error text escaped and kept");
		free(err);
	}
	json_free(&d);
	buf_reset(&b);

	bench_report_svg(&rep, &b);
	t_ok(!strncmp(b.data, "<?xml", 5) && strstr(b.data, "width=\"960\" height=\"600\"") &&
	     strstr(b.data, "</svg>\n"), "SVG: canvas and end");
	t_is(count(b.data, "<polyline"), 3, "SVG: one CDF per variant");
	t_ok(count(b.data, "<text") == count(b.data, "</text>") && !strstr(b.data, "nan") && !strstr(b.data, "inf"),
	     "SVG: texts closed, no NAN coordinates");
	buf_reset(&b);

	/* density */
	rep.mode = BENCH_DENSITY;
	rep.nvariants = 1;
	rep.stop_reason = "memory";
	for (size_t i = 0; i < n; i++) {
		run[i].variant = 0;
		run[i].running = (unsigned)i;
		run[i].mem_avail_kib = 1e6 - (double)i * 1000;
	}
	bench_report_table(&rep, &b);
	t_ok(strstr(b.data, "stopped: memory") && count(b.data, "\n") > 15, "density table: a line per start");
	buf_reset(&b);
	bench_report_svg(&rep, &b);
	t_is(count(b.data, "<polyline"), 2, "density SVG: latency and PSS curves");
	buf_free(&b);
	free(run);
	return t_failed ? 1 : 0;
}
