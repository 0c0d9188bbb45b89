/* Per-layer transfer progress bars (progress.h). */
#include "progress.h"

#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "registry/registry.h"
#include "util.h"

void cli_progress_init(struct cli_progress *pg, FILE *out, bool quiet)
{
	memset(pg, 0, sizeof(*pg));
	pg->out = out;
	pg->quiet = quiet;
	pg->tty = isatty(fileno(out));
}

static struct cli_bar *bar_get(struct cli_progress *pg, const char *digest)
{
	for (size_t i = 0; i < pg->n; i++)
		if (strcmp(pg->bars[i].digest, digest) == 0)
			return &pg->bars[i];
	if (pg->n == CLI_BAR_MAX)
		return NULL;
	struct cli_bar *b = &pg->bars[pg->n++];
	memset(b, 0, sizeof(*b));
	snprintf(b->digest, sizeof(b->digest), "%s", digest);
	b->t0 = loop_now_ns();
	b->state = "waiting";
	return b;
}

static void human(char *out, size_t n, double v)
{
	const char *u[] = { "B", "kB", "MB", "GB", "TB" };
	int i = 0;
	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

static void draw(struct cli_progress *pg, bool force)
{
	uint64_t now = loop_now_ns();
	if (!force && now - pg->last_draw < 100000000ull)
		return;
	pg->last_draw = now;
	if (pg->drawn)
		fprintf(pg->out, "\033[%zuA", pg->drawn);
	for (size_t i = 0; i < pg->n; i++) {
		struct cli_bar *b = &pg->bars[i];
		char bar[31], d[16], t[16], rate[16];
		size_t fill = b->total ? (size_t)(30 * b->done / b->total) : 0;
		memset(bar, ' ', 30);
		memset(bar, '=', MIN(fill, (size_t)30));
		bar[30] = 0;
		human(d, sizeof(d), (double)b->done);
		human(t, sizeof(t), (double)b->total);
		double secs = (double)(now - b->t0) / 1e9;
		human(rate, sizeof(rate), secs > 0 ? (double)(b->done - b->start_done) / secs : 0);
		fprintf(pg->out, "\033[K%.19s %-10s [%s] %8s/%-8s %8s/s\n", b->digest, b->state, bar, d, t, rate);
	}
	pg->drawn = pg->n;
	fflush(pg->out);
}

void cli_progress_event(void *arg, const struct reg_progress *p)
{
	struct cli_progress *pg = arg;
	if (pg->quiet || !p->digest)
		return;
	/* the registry client logs its retries itself */
	if (p->ev == REG_EV_RETRY)
		return;
	struct cli_bar *b = bar_get(pg, p->digest);
	if (!b)
		return;
	b->done = p->done;
	b->total = p->total;
	bool edge = true;
	switch (p->ev) {
	case REG_EV_BLOB_START:
		b->state = "copying";
		b->start_done = p->done;
		b->t0 = loop_now_ns();
		break;
	case REG_EV_BLOB_SKIP:
		b->state = "exists";
		break;
	case REG_EV_BLOB_DONE:
		b->state = "done";
		break;
	default:
		edge = false;
		break;
	}
	if (pg->tty)
		draw(pg, edge);
	else if (edge)
		fprintf(pg->out, "%s %s (%llu bytes)\n", b->state, p->digest, (unsigned long long)p->total);
}

void cli_progress_end(struct cli_progress *pg)
{
	if (pg->tty && pg->drawn && !pg->quiet)
		draw(pg, true);
}
