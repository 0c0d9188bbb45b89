/* Pictures as SVG written here, no plotting dependency: a fixed canvas
 * (BENCH_SVG_W x BENCH_SVG_H), two panels, plain shapes and text, so the
 * file renders the same in a browser and in rsvg-convert (PNG). */
#include <math.h>
#include <string.h>

#include "bench/bench.h"
#include "buf.h"
#include "util.h"

static const char *const bench_colors[] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
	"#7f7f7f", "#bcbd22", "#393b79", "#637939", "#e7ba52", "#843c39",
};
/* One colour per phase (BENCH_P_COUNT of them), reused for variants. */
#define BENCH_COLOR(i) bench_colors[(i) % ARRAY_SIZE(bench_colors)]
_Static_assert(ARRAY_SIZE(bench_colors) >= BENCH_P_COUNT, "a colour per phase");

struct bench_panel {
	double x0, y0, w, h;		/* plot area on the canvas */
	double xmax, ymax;		/* data ranges, from 0 */
};

static void bench_svg_text(struct buf *b, double x, double y, const char *anchor, int size,
			   const char *s)
{
	buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\">", x, y, size,
		   anchor);
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '&': buf_puts(b, "&amp;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		default:
			/* Control bytes are not allowed in XML 1.0. */
			buf_putc(b, (unsigned char)*s < 0x20 ? '?' : *s);
		}
	}
	buf_puts(b, "</text>\n");
}

/* A round tick step giving at most 5 ticks up to max (1, 2 or 5 x 10^k):
 * more would make the labels collide. */
static double bench_tick(double max)
{
	double raw = max / 5, p = 1;

	if (!(raw > 0))
		return 1;
	while (p * 10 <= raw)
		p *= 10;
	while (p > raw)
		p /= 10;
	if (p >= raw)
		return p;
	if (p * 2 >= raw)
		return p * 2;
	if (p * 5 >= raw)
		return p * 5;
	return p * 10;
}

/* No libm: x >= 0 here. */
static double bench_ceil(double x)
{
	double t = (double)(long long)x;

	return t < x ? t + 1 : t;
}

static double bench_px(const struct bench_panel *p, double x)
{
	return p->x0 + (p->xmax > 0 ? x / p->xmax : 0) * p->w;
}

static double bench_py(const struct bench_panel *p, double y)
{
	return p->y0 + p->h - (p->ymax > 0 ? y / p->ymax : 0) * p->h;
}

/* Frame, grid and tick labels; the ranges are rounded up to a tick. */
static void bench_axes(struct buf *b, struct bench_panel *p, const char *title, const char *xlabel,
		       const char *ylabel, bool y_fraction)
{
	double xs = bench_tick(p->xmax), ys = y_fraction ? 0.25 : bench_tick(p->ymax);
	char s[48];

	p->xmax = p->xmax > 0 ? bench_ceil(p->xmax / xs - 1e-9) * xs : 1;
	p->ymax = y_fraction ? 1 : p->ymax > 0 ? bench_ceil(p->ymax / ys - 1e-9) * ys : 1;
	bench_svg_text(b, p->x0 + p->w / 2, p->y0 - 12, "middle", 15, title);
	buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n",
		   p->x0, p->y0, p->w, p->h);
	for (double x = 0; x <= p->xmax + xs / 2; x += xs) {
		double px = bench_px(p, x);
		buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px,
			   p->y0, px, p->y0 + p->h);
		snprintf(s, sizeof(s), "%g", x);
		bench_svg_text(b, px, p->y0 + p->h + 16, "middle", 11, s);
	}
	for (double y = 0; *ylabel && y <= p->ymax + ys / 2; y += ys) {
		double py = bench_py(p, y);
		buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", p->x0,
			   py, p->x0 + p->w, py);
		snprintf(s, sizeof(s), "%g", y);
		bench_svg_text(b, p->x0 - 6, py + 4, "end", 11, s);
	}
	bench_svg_text(b, p->x0 + p->w / 2, p->y0 + p->h + 36, "middle", 12, xlabel);
	buf_printf(b, "<g transform=\"translate(%.1f %.1f) rotate(-90)\">", p->x0 - 42, p->y0 + p->h / 2);
	bench_svg_text(b, 0, 0, "middle", 12, ylabel);
	buf_puts(b, "</g>\n");
}

static int bench_dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Empirical CDF of each variant's total: a step up by 1/n at each run. */
static void bench_svg_cdf(const struct bench_report *r, struct buf *b, struct bench_panel *p)
{
	_cleanup_free_ double *v = xmalloc((r->nrun ? r->nrun : 1) * sizeof(double));

	p->xmax = 0;
	p->ymax = 1;
	for (size_t i = 0; i < r->nvariants; i++) {
		size_t k = bench_values(r, i, BENCH_P_END, v);
		for (size_t j = 0; j < k; j++)
			p->xmax = MAX(p->xmax, v[j]);
	}
	bench_axes(b, p, "start-to-exit latency, CDF", "ms from launch to exit", "fraction of runs", true);
	for (size_t i = 0; i < r->nvariants; i++) {
		size_t k = bench_values(r, i, BENCH_P_END, v);

		if (!k)
			continue;
		qsort(v, k, sizeof(*v), bench_dcmp);
		buf_printf(b, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"%.1f,%.1f",
			   BENCH_COLOR(i), bench_px(p, v[0]), bench_py(p, 0));
		for (size_t j = 0; j < k; j++) {
			double y0 = (double)j / (double)k, y1 = (double)(j + 1) / (double)k;
			buf_printf(b, " %.1f,%.1f %.1f,%.1f", bench_px(p, v[j]), bench_py(p, y0),
				   bench_px(p, v[j]), bench_py(p, y1));
		}
		buf_printf(b, " %.1f,%.1f\"/>\n", bench_px(p, p->xmax), bench_py(p, 1));
	}
}

/* One bar per variant: the medians of its phase instants, drawn as the
 * segments between consecutive ones (each segment is what that step
 * added to the median run). */
static void bench_svg_bars(const struct bench_report *r, struct buf *b, struct bench_panel *p)
{
	_cleanup_free_ double *v = xmalloc((r->nrun ? r->nrun : 1) * sizeof(double));
	double med[BENCH_P_COUNT];
	double bar_h = r->nvariants ? MIN(40.0, p->h / (double)r->nvariants * 0.7) : 0;
	bool used[BENCH_P_COUNT] = { false };

	p->xmax = 0;
	p->ymax = 1;
	for (size_t i = 0; i < r->nvariants; i++) {
		size_t k = bench_values(r, i, BENCH_P_END, v);
		qsort(v, k, sizeof(*v), bench_dcmp);
		if (k)
			p->xmax = MAX(p->xmax, bench_quantile(v, k, 0.5));
	}
	/* No y axis: the bars are labelled by name. */
	bench_axes(b, p, "where the median run's time goes", "ms from launch (p50 of each phase)", "", true);
	for (size_t i = 0; i < r->nvariants; i++) {
		double y = p->y0 + p->h * ((double)i + 0.5) / (double)r->nvariants - bar_h / 2, prev = 0;

		for (int ph = 0; ph < BENCH_P_COUNT; ph++) {
			size_t k = bench_values(r, i, ph, v);
			qsort(v, k, sizeof(*v), bench_dcmp);
			med[ph] = k ? bench_quantile(v, k, 0.5) : NAN;
		}
		for (int ph = 0; ph < BENCH_P_COUNT; ph++) {
			double end = med[ph];
			if (!isfinite(end) || end <= prev)
				continue;
			buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
				   bench_px(p, prev), y, bench_px(p, end) - bench_px(p, prev), bar_h,
				   BENCH_COLOR(ph));
			used[ph] = true;
			prev = end;
		}
		buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" fill-opacity=\"0.7\"/>\n",
			   p->x0 + 2, y - 15, 8.0 * (double)strlen(r->variants[i].name) + 4, 13.0);
		bench_svg_text(b, p->x0 + 4, y - 4, "start", 12, r->variants[i].name);
	}
	/* Legend: each segment has the colour of the phase it ends at. */
	for (int ph = 0, n = 0; ph < BENCH_P_COUNT; ph++) {
		double lx, ly;
		if (!used[ph])
			continue;
		lx = p->x0 + (double)(n % 3) * (p->w / 3);
		ly = p->y0 + p->h + 52 + (double)(n / 3) * 16;
		buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", lx,
			   ly - 9, BENCH_COLOR(ph));
		bench_svg_text(b, lx + 14, ly, "start", 11, bench_phase_label((enum bench_phase)ph));
		n++;
	}
}

static void bench_svg_legend(const struct bench_report *r, struct buf *b)
{
	double x = 70;

	for (size_t i = 0; i < r->nvariants; i++) {
		const char *n = r->variants[i].name;
		buf_printf(b, "<rect x=\"%.1f\" y=\"44\" width=\"18\" height=\"4\" fill=\"%s\"/>\n", x, BENCH_COLOR(i));
		bench_svg_text(b, x + 22, 50, "start", 12, n);
		x += 40 + 7.0 * (double)strlen(n);
	}
}

/* Density: a run's start latency and its VM's PSS against how many were
 * already running. */
static void bench_svg_density(const struct bench_report *r, struct buf *b, struct bench_panel *l,
			      struct bench_panel *rt)
{
	const int field[2] = { BENCH_P_END, BENCH_F_PSS };
	struct bench_panel *pn[2] = { l, rt };

	for (int k = 0; k < 2; k++) {
		struct bench_panel *p = pn[k];
		bool first = true;

		p->xmax = 1;
		p->ymax = 0;
		for (size_t i = 0; i < r->nrun; i++) {
			double y = field[k] == BENCH_F_PSS ? r->run[i].pss_kib / 1024 : r->run[i].at[field[k]];
			p->xmax = MAX(p->xmax, (double)r->run[i].running);
			if (isfinite(y))
				p->ymax = MAX(p->ymax, y);
		}
		if (k == 0)
			bench_axes(b, p, "start latency as containers pile up", "containers already running",
				   "ms until `ucrt run -d` returned", false);
		else
			bench_axes(b, p, "host memory per VM", "containers already running",
				   "PSS of its QEMU once started, MiB", false);
		buf_printf(b, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"", BENCH_COLOR(k));
		for (size_t i = 0; i < r->nrun; i++) {
			double y = field[k] == BENCH_F_PSS ? r->run[i].pss_kib / 1024 : r->run[i].at[field[k]];
			if (!isfinite(y))
				continue;
			buf_printf(b, "%s%.1f,%.1f", first ? "" : " ", bench_px(p, r->run[i].running), bench_py(p, y));
			first = false;
		}
		buf_puts(b, "\"/>\n");
		for (size_t i = 0; i < r->nrun; i++) {
			double y = field[k] == BENCH_F_PSS ? r->run[i].pss_kib / 1024 : r->run[i].at[field[k]];
			if (isfinite(y))
				buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
					   bench_px(p, r->run[i].running), bench_py(p, y), BENCH_COLOR(k));
		}
	}
}

void bench_report_svg(const struct bench_report *r, struct buf *b)
{
	struct bench_panel left = { .x0 = 70, .y0 = 90, .w = 380, .h = 360 };
	struct bench_panel right = { .x0 = 540, .y0 = 90, .w = 390, .h = 360 };
	char title[512];
	size_t n = 0;

	buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		      "font-family=\"sans-serif\">\n"
		      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		   BENCH_SVG_W, BENCH_SVG_H, BENCH_SVG_W, BENCH_SVG_H);
	n = (size_t)snprintf(title, sizeof(title), "ucrt bench %s: %s",
			     r->mode == BENCH_STARTUP ? "startup" : "density", r->image);
	for (char *const *a = r->cmd; a && *a && n < sizeof(title); a++)
		n += (size_t)snprintf(title + n, sizeof(title) - n, " %s", *a);
	bench_svg_text(b, BENCH_SVG_W / 2.0, 24, "middle", 16, title);
	if (r->mode == BENCH_STARTUP) {
		bench_svg_legend(r, b);
		bench_svg_cdf(r, b, &left);
		bench_svg_bars(r, b, &right);
	} else {
		bench_svg_density(r, b, &left, &right);
	}
	if (r->mode == BENCH_STARTUP)
		snprintf(title, sizeof(title), "accel %s, %u runs per variant, %u at a time%s",
			 r->accel ? r->accel : "?", r->runs, r->parallel, r->interrupted ? ", interrupted" : "");
	else
		snprintf(title, sizeof(title), "accel %s, up to %u containers, stopped: %s",
			 r->accel ? r->accel : "?", r->density_max, r->stop_reason ? r->stop_reason : "-");
	bench_svg_text(b, BENCH_SVG_W / 2.0, BENCH_SVG_H - 8, "middle", 11, title);
	buf_puts(b, "</svg>\n");
}
