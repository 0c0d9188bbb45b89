/* --format for ps, image ls, inspect, volume ls, stats (cli-format.h). */
#include "cli.h"
#include "cli-format.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "json.h"
#include "tmpl.h"
#include "util.h"

/* docker's tabwriter settings for table output: at least 10 wide, 3
 * spaces between columns. */
#define COL_MIN 10
#define COL_PAD 3

int cli_fmt_init(struct cli_fmt *f, const char *spec, const char *deflt, const struct cli_header *headers)
{
	struct err e = { 0 };

	memset(f, 0, sizeof(*f));
	f->headers = headers;
	if (!spec)
		spec = deflt;
	if (strcmp(spec, "json") == 0) {
		f->json = true;
		return 0;
	}
	if (strcmp(spec, "table") == 0)
		spec = deflt;
	if (strncmp(spec, "table", 5) == 0 && (spec[5] == ' ' || spec[5] == '\t' || spec[5] == 0)) {
		f->table = true;
		spec += 5;
		/* docker trims the spaces between "table" and the template */
		while (*spec == ' ')
			spec++;
	}
	_cleanup_free_ char *text = tmpl_unescape(spec);
	if (tmpl_parse(&f->t, text, &e) < 0) {
		cli_error("--format: %s", err_msg(&e));
		return -1;
	}
	return 0;
}

static const char *fmt_header(const char *field, void *arg)
{
	const struct cli_header *h = arg;
	for (; h && h->field; h++)
		if (strcmp(h->field, field) == 0)
			return h->title;
	return NULL;
}

int cli_fmt_row(struct cli_fmt *f, const char *json, size_t len)
{
	struct json_doc d;
	struct err e = { 0 };
	int r;

	if (f->table && f->rows == 0) {
		tmpl_header(f->t, fmt_header, (void *)f->headers, &f->out);
		buf_putc(&f->out, '\n');
	}
	f->rows++;
	if (f->json) {
		buf_append(&f->out, json, len);
		buf_putc(&f->out, '\n');
		return 0;
	}
	if ((r = json_parse(&d, json, len, 1 << 16)) < 0) {
		cli_error("--format: cannot read the row as JSON (%d)", r);
		return -1;
	}
	r = tmpl_exec(f->t, &d, 0, &f->out, &e);
	json_free(&d);
	if (r < 0) {
		cli_error("--format: %s", err_msg(&e));
		return -1;
	}
	buf_putc(&f->out, '\n');
	return 0;
}

void cli_fmt_end(struct cli_fmt *f)
{
	/* an empty table still has its header, as docker prints it */
	if (f->table && f->rows == 0) {
		tmpl_header(f->t, fmt_header, (void *)f->headers, &f->out);
		buf_putc(&f->out, '\n');
	}
	if (f->table) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		tmpl_columns(f->out.data ? f->out.data : "", f->out.len, COL_MIN, COL_PAD, &b);
		fwrite(b.data ? b.data : "", 1, b.len, stdout);
	} else {
		fwrite(f->out.data ? f->out.data : "", 1, f->out.len, stdout);
	}
}

void cli_fmt_free(struct cli_fmt *f)
{
	tmpl_free(f->t);
	buf_free(&f->out);
	f->t = NULL;
}

void cli_human_size(char *out, size_t n, double bytes)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB" };
	size_t u = 0;

	for (;;) {
		while (bytes >= 1000 && u + 1 < ARRAY_SIZE(units)) {
			bytes /= 1000;
			u++;
		}
		snprintf(out, n, "%.3g%s", bytes, units[u]);
		/* 999.9k rounds to "1e+03kB": take the next unit instead */
		if (!strchr(out, 'e') || u + 1 >= ARRAY_SIZE(units))
			return;
		bytes = 1000;
	}
}

void cli_rfc3339(char *out, size_t n, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!t || !gmtime_r(&tt, &tm)) {
		snprintf(out, n, "%s", "");
		return;
	}
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cli_duration(char *out, size_t n, int64_t t)
{
	int64_t d = (int64_t)time(NULL) - t;

	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(out, n, "%lld second%s", (long long)d, d == 1 ? "" : "s");
	else if (d < 3600)
		snprintf(out, n, "%lld minute%s", (long long)(d / 60), d / 60 == 1 ? "" : "s");
	else if (d < 86400)
		snprintf(out, n, "%lld hour%s", (long long)(d / 3600), d / 3600 == 1 ? "" : "s");
	else
		snprintf(out, n, "%lld day%s", (long long)(d / 86400), d / 86400 == 1 ? "" : "s");
}

void cli_ago(char *out, size_t n, int64_t t)
{
	char d[40];

	if (!t) {
		snprintf(out, n, "%s", "");
		return;
	}
	cli_duration(d, sizeof(d), t);
	snprintf(out, n, "%s ago", d);
}
