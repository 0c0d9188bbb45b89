/* bench parsers on arbitrary bytes: a --variant string (what parses has a
 * valid name and only options, none of them refused) and a child's
 * timeline line (what parses yields phases that are finite and >= 0, and
 * a report made of that run renders). First byte picks the parser. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "buf.h"
#include "err.h"
#include "util.h"

static void variant(const char *s)
{
	struct bench_variant v;
	struct err e = { 0 };

	if (bench_variant_parse(s, &v, &e) < 0)
		return;
	if (!v.name[0] || strlen(v.name) > 32 || strchr(v.name, ':'))
		abort();
	/* "--rm" may only be the value of an option that takes one. */
	for (char **a = v.args; a && *a; a++) {
		static const char *const takes[] = { "-e", "--env", "--env-file", "-w", "--workdir", "-u",
						     "--user", "--entrypoint", "--hostname", "--cpus", "-m",
						     "--memory", "--kernel", "--accel", "--tls-verify", "--network",
						     "--ip", "--dns", "--network-policy" };
		bool value = false;

		if (a == v.args && (*a)[0] != '-')
			abort();
		for (size_t i = 0; a > v.args && i < sizeof(takes) / sizeof(*takes); i++)
			value |= !strcmp(a[-1], takes[i]);
		if ((!strcmp(*a, "--rm") || !strcmp(*a, "-d")) && !value)
			abort();
	}
	bench_variant_free(&v);
}

static void timeline(const char *s, size_t n)
{
	struct bench_run *run;
	struct bench_variant var = { .name = "x", .kind = BENCH_K_UCRT };
	struct bench_report rep = { .mode = BENCH_STARTUP, .image = "i", .variants = &var, .nvariants = 1 };
	struct buf b = BUF_INIT;

	bench_plan(&run, 1, 0, 1);
	if (bench_timeline_parse(s, n, 1000, run) == 0) {
		for (int p = 0; p < BENCH_P_COUNT; p++)
			if (!isnan(run->at[p]) && !(run->at[p] >= 0 && isfinite(run->at[p])))
				abort();
		run->at[BENCH_P_END] = 1;
		run->ok = bench_run_complete(run, BENCH_K_UCRT, BENCH_STARTUP);
		rep.run = run;
		rep.nrun = 1;
		bench_report_json(&rep, &b);
		bench_report_svg(&rep, &b);
		buf_free(&b);
	}
	free(run);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (!size)
		return 0;
	s = xstrndup((const char *)data + 1, size - 1);
	if (data[0] & 1)
		timeline(s, strlen(s));
	else
		variant(s);
	free(s);
	return 0;
}
