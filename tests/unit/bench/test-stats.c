/* bench statistics: quantiles against numpy's default (linear, type 7),
 * summaries that skip NAN, and the bootstrap interval of a ratio of
 * medians: around the true ratio, narrow for tight data, reproducible. */
#include <errno.h>
#include <math.h>

#include "bench/bench.h"
#include "tests/lib/tap.h"

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

int main(void)
{
	const double s[] = { 1, 2, 3, 4, 10 };
	const double one[] = { 7 };
	const double v[] = { 5, NAN, 1, 3, INFINITY, 2, 4 };
	struct bench_summary sm;
	double a[40], b[40], r, lo, hi, r2, lo2, hi2;

	t_plan(20);
	t_ok(isnan(bench_quantile(s, 0, 0.5)), "quantile of nothing is NAN");
	t_ok(near(bench_quantile(s, 5, 0.5), 3), "median of 5");
	t_ok(near(bench_quantile(s, 5, 0.9), 7.6), "p90 interpolates (numpy: 7.6)");
	t_ok(near(bench_quantile(s, 5, 0.25), 2), "p25");
	t_ok(near(bench_quantile(s, 5, 0), 1) && near(bench_quantile(s, 5, 1), 10), "p0 is min, p100 is max");
	t_ok(near(bench_quantile(one, 1, 0.99), 7), "one value is every quantile");

	bench_summarize(v, 7, &sm);
	t_is(sm.n, 5, "summary counts finite values only");
	t_ok(near(sm.min, 1) && near(sm.max, 5) && near(sm.p50, 3) && near(sm.mean, 3),
	     "min/max/median/mean of 1..5");
	t_ok(near(sm.p99, 4.96), "p99 of 1..5 (numpy: 4.96)");
	bench_summarize(v, 0, &sm);
	t_ok(sm.n == 0 && isnan(sm.p50) && isnan(sm.min), "empty summary is NAN");

	for (int i = 0; i < 40; i++) {
		a[i] = 100 + (i % 7);
		b[i] = 2 * a[i];
	}
	t_is(bench_ratio_ci(a, 40, b, 40, 1000, 0.95, 1, &r, &lo, &hi), 0, "ratio of two samples");
	t_ok(near(r, 2), "ratio of medians is 2");
	t_ok(lo <= 2 && hi >= 2 && hi - lo < 0.2, "95%% interval holds 2 and is narrow: [%.3f, %.3f]", lo, hi);
	bench_ratio_ci(a, 40, b, 40, 1000, 0.95, 1, &r2, &lo2, &hi2);
	t_ok(lo == lo2 && hi == hi2, "same seed, same interval");
	bench_ratio_ci(a, 40, b, 40, 1000, 0.5, 1, &r2, &lo2, &hi2);
	t_ok(lo2 >= lo && hi2 <= hi, "a 50%% interval lies inside the 95%% one");
	for (int i = 0; i < 40; i++)
		b[i] = (i % 2) ? 100 : 300;
	bench_ratio_ci(a, 40, b, 40, 1000, 0.95, 1, &r, &lo, &hi);
	t_ok(hi - lo > 0.5, "spread data gives a wide interval: [%.3f, %.3f]", lo, hi);
	t_is(bench_ratio_ci(a, 0, b, 40, 100, 0.95, 1, &r, &lo, &hi), -EINVAL, "no data on one side: -EINVAL");
	t_ok(isnan(r) && isnan(lo) && isnan(hi), "... and NAN results");
	t_is(bench_ratio_ci(a, 40, b, 40, 100, 1.5, 1, &r, &lo, &hi), -EINVAL, "level outside (0,1): -EINVAL");
	b[0] = NAN;
	t_is(bench_ratio_ci(a, 40, b, 1, 100, 0.95, 1, &r, &lo, &hi), -EINVAL, "only NAN: -EINVAL");
	return t_failed ? 1 : 0;
}
