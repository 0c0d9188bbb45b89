/* The plan of runs and what one run reports back. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench/bench.h"
#include "json.h"
#include "util.h"

size_t bench_plan(struct bench_run **out, size_t nvariants, unsigned warmup, unsigned measured)
{
	size_t n = (size_t)(warmup + measured) * nvariants;
	struct bench_run *run = xcalloc(n ? n : 1, sizeof(*run));

	for (size_t i = 0; i < n; i++) {
		struct bench_run *r = &run[i];
		r->seq = (unsigned)i;
		r->variant = (unsigned)(i % nvariants);
		r->warmup = i / nvariants < warmup;
		r->status = -1;
		r->cpu_ms = r->qemu_cpu_ms = r->pss_kib = r->mem_avail_kib = NAN;
		for (int p = 0; p < BENCH_P_COUNT; p++)
			r->at[p] = NAN;
	}
	*out = run;
	return n;
}

int bench_timeline_parse(const char *text, size_t len, uint64_t t_launch, struct bench_run *run)
{
	static const struct { const char *key; int phase; } map[] = {
		{ "t0", BENCH_P_UCRT }, { "image", BENCH_P_IMAGE }, { "disk", BENCH_P_DISK },
		{ "qemu_start", BENCH_P_QEMU }, { "spawned", BENCH_P_SPAWNED }, { "qmp", BENCH_P_QMP },
		{ "console", BENCH_P_CONSOLE }, { "agent", BENCH_P_INIT },
		{ "process", BENCH_P_PROCESS }, { "process_exit", BENCH_P_PROCESS_EXIT },
		{ "vm_exited", BENCH_P_VM_GONE },
	};
	struct json_doc d = { 0 };
	int64_t v, sent, start;

	if (json_parse(&d, text, len, 64) < 0 || json_type(&d, 0) != JSON_OBJECT) {
		json_free(&d);
		return -EBADMSG;
	}
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		/* An instant before the launch is not this run's: dropped. */
		if (json_int(&d, json_get(&d, 0, map[i].key), &v) == 0 && v > 0 &&
		    (uint64_t)v >= t_launch)
			run->at[map[i].phase] = (double)((uint64_t)v - t_launch) / 1e6;
	}
	if (json_int(&d, json_get(&d, 0, "qemu_cpu_ns"), &v) == 0 && v >= 0)
		run->qemu_cpu_ms = (double)v / 1e6;
	if (isfinite(run->at[BENCH_P_INIT]) &&
	    json_int(&d, json_get(&d, 0, "guest_hello_ns"), &sent) == 0 && sent > 0 &&
	    json_int(&d, json_get(&d, 0, "guest_start_ns"), &start) == 0 && start > 0 && start <= sent) {
		double zero = run->at[BENCH_P_INIT] - (double)sent / 1e6;	/* guest 0, host ms */

		if (zero >= 0)
			run->at[BENCH_P_KERNEL] = zero;
		if (zero + (double)start / 1e6 >= 0)
			run->at[BENCH_P_GUEST_INIT] = zero + (double)start / 1e6;
	}
	json_free(&d);
	return 0;
}

bool bench_run_complete(const struct bench_run *run, enum bench_kind kind, enum bench_mode mode)
{
	/* The console phase is not required of ucrt runs: a quiet kernel
	 * and guest may print nothing. The floor's init prints its byte. */
	static const int ucrt[] = { BENCH_P_UCRT, BENCH_P_IMAGE, BENCH_P_DISK, BENCH_P_QEMU,
				    BENCH_P_SPAWNED, BENCH_P_QMP, BENCH_P_INIT, BENCH_P_PROCESS,
				    BENCH_P_PROCESS_EXIT, BENCH_P_VM_GONE, BENCH_P_END };
	static const int base[] = { BENCH_P_SPAWNED, BENCH_P_CONSOLE, BENCH_P_VM_GONE, BENCH_P_END };
	static const int end[] = { BENCH_P_END };
	const int *need = kind == BENCH_K_BASELINE ? base : ucrt;
	size_t n = kind == BENCH_K_BASELINE ? ARRAY_SIZE(base) : ARRAY_SIZE(ucrt);
	double prev = 0;

	if (kind == BENCH_K_PODMAN || (kind == BENCH_K_UCRT && mode == BENCH_DENSITY)) {
		need = end;
		n = ARRAY_SIZE(end);
	}
	for (size_t i = 0; i < n; i++)
		if (!isfinite(run->at[need[i]]))
			return false;
	/* Reached phases come in order, else a clock was mixed up. The
	 * console byte may come anywhere; the guest-clock phases are
	 * estimates that may cross the host's QMP handshake. */
	for (int p = 0; p < BENCH_P_COUNT; p++) {
		if (!isfinite(run->at[p]) || p == BENCH_P_CONSOLE || p == BENCH_P_KERNEL ||
		    p == BENCH_P_GUEST_INIT)
			continue;
		if (run->at[p] < prev)
			return false;
		prev = run->at[p];
	}
	return true;
}
