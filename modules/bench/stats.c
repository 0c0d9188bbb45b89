/* Order statistics and a bootstrap interval. Startup latencies are skewed
 * (a long right tail from host contention), so medians and percentiles,
 * never means and standard deviations, carry the comparison. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "util.h"

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_quantile(const double *sorted, size_t n, double q)
{
	double h, lo;
	size_t i;

	if (!n)
		return NAN;
	if (q <= 0)
		return sorted[0];
	if (q >= 1)
		return sorted[n - 1];
	/* No libm: h >= 0, so truncation is floor. */
	h = (double)(n - 1) * q;
	i = (size_t)h;
	lo = (double)i;
	if (i + 1 >= n)
		return sorted[n - 1];
	return sorted[i] + (h - lo) * (sorted[i + 1] - sorted[i]);
}

/* Copy the finite values and sort them; returns how many. */
static size_t bench_sorted(const double *v, size_t n, double *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			out[k++] = v[i];
	qsort(out, k, sizeof(*out), bench_cmp);
	return k;
}

void bench_summarize(const double *v, size_t n, struct bench_summary *out)
{
	_cleanup_free_ double *s = xmalloc((n ? n : 1) * sizeof(*s));
	size_t k = bench_sorted(v, n, s);
	double sum = 0;

	for (size_t i = 0; i < k; i++)
		sum += s[i];
	*out = (struct bench_summary){
		.n = k,
		.min = k ? s[0] : NAN,
		.p50 = bench_quantile(s, k, 0.50),
		.p90 = bench_quantile(s, k, 0.90),
		.p99 = bench_quantile(s, k, 0.99),
		.max = k ? s[k - 1] : NAN,
		.mean = k ? sum / (double)k : NAN,
	};
}

/* splitmix64: a fixed, seedable generator, so a report can be recomputed. */
static uint64_t bench_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double bench_resampled_median(const double *s, size_t n, double *tmp, uint64_t *seed)
{
	for (size_t i = 0; i < n; i++)
		tmp[i] = s[bench_rand(seed) % n];
	qsort(tmp, n, sizeof(*tmp), bench_cmp);
	return bench_quantile(tmp, n, 0.5);
}

int bench_ratio_ci(const double *a, size_t na, const double *b, size_t nb, unsigned iters,
		   double level, uint64_t seed, double *ratio, double *lo, double *hi)
{
	_cleanup_free_ double *sa = xmalloc((na ? na : 1) * sizeof(double));
	_cleanup_free_ double *sb = xmalloc((nb ? nb : 1) * sizeof(double));
	_cleanup_free_ double *tmp = NULL, *r = NULL;
	size_t ka = bench_sorted(a, na, sa), kb = bench_sorted(b, nb, sb), k = 0;
	double ma, mb;

	*ratio = *lo = *hi = NAN;
	if (!ka || !kb || !(level > 0 && level < 1))
		return -EINVAL;
	ma = bench_quantile(sa, ka, 0.5);
	mb = bench_quantile(sb, kb, 0.5);
	if (!(ma > 0))
		return -EINVAL;
	*ratio = mb / ma;
	if (!iters)
		iters = 1;
	tmp = xmalloc(MAX(ka, kb) * sizeof(double));
	r = xmalloc(iters * sizeof(double));
	for (unsigned i = 0; i < iters; i++) {
		double x = bench_resampled_median(sa, ka, tmp, &seed);
		double y = bench_resampled_median(sb, kb, tmp, &seed);
		if (x > 0)
			r[k++] = y / x;
	}
	qsort(r, k, sizeof(*r), bench_cmp);
	*lo = bench_quantile(r, k, (1 - level) / 2);
	*hi = bench_quantile(r, k, 1 - (1 - level) / 2);
	return 0;
}
