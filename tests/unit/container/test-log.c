/* The output log: what ctr_log_write appends (output.log unchanged,
 * output.idx one record per chunk) read back line by line with each
 * line's time and channel; a line split over chunks; bytes no record
 * covers (an old log) and a corrupt index read without times; follow
 * mode stopping where the index ends; --since/--until times (RFC 3339,
 * dates, Unix seconds, durations) and the -t format. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/proto.h"
#include "container/container.h"
#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

static char root[64];
static const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void t_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", root);
}

/* All lines as "chan:text|" (times checked apart). */
static void t_read(bool all, char *out, size_t cap, int64_t *first_time)
{
	struct ctr_log_reader *r;
	struct ctr_log_piece pc;
	size_t k = 0;

	out[0] = 0;
	*first_time = -1;
	if (ctr_log_reader_open(root, id, &r) < 0)
		return;
	while (ctr_log_next(r, all, &pc) > 0) {
		if (pc.start) {
			k += (size_t)snprintf(out + k, cap - k, "%d:", pc.line->chan);
			if (*first_time < 0)
				*first_time = pc.line->time_ns;
		}
		k += (size_t)snprintf(out + k, cap - k, "%.*s", (int)pc.len, pc.data);
	}
	ctr_log_reader_free(r);
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = '|';
}

static int64_t t_parse(const char *s)
{
	int64_t v = -1;

	return ctr_log_time_parse(s, 10000ll * 1000000000ll, &v) < 0 ? -1 : v;
}

int main(void)
{
	struct loop *l;
	struct err e = { 0 };
	struct ctr_log lg;
	char got[512], path[256];
	int64_t t0;

	snprintf(root, sizeof(root), "/tmp/ucrt-t-log.%d", (int)getpid());
	atexit(t_cleanup);
	snprintf(path, sizeof(path), "%s/containers/%s", root, id);
	if (mkdir_p_at(AT_FDCWD, path, 0700) < 0 || loop_new(&l, 64, &e) < 0)
		return 1;

	t_is(ctr_log_open(&lg, l, root, id), 0, "open");
	ctr_log_write(&lg, PROTO_CHAN_STDOUT, "one\ntw", 6);
	ctr_log_write(&lg, PROTO_CHAN_STDOUT, "o\n", 2);
	ctr_log_write(&lg, PROTO_CHAN_STDERR, "err\n", 4);
	ctr_log_write(&lg, PROTO_CHAN_STDOUT, "last", 4);
	while (!ctr_log_idle(&lg))
		loop_run_once(l, true);
	ctr_log_close(&lg);
	t_read(true, got, sizeof(got), &t0);
	t_streq(got, "1:one|1:two|2:err|1:last", "lines with their channels, one split over two chunks");
	t_ok(t0 > 1700000000ll * 1000000000ll, "... and a wall-clock time");

	/* Reopened: the next chunks' offsets follow the file. */
	t_is(ctr_log_open(&lg, l, root, id), 0, "reopen");
	ctr_log_write(&lg, PROTO_CHAN_STDERR, "\nmore\n", 6);
	while (!ctr_log_idle(&lg))
		loop_run_once(l, true);
	ctr_log_close(&lg);
	t_read(true, got, sizeof(got), &t0);
	t_streq(got, "1:one|1:two|2:err|1:last|2:more|", "appended after a reopen");

	/* Follow mode reads no further than the index: bytes written
	 * behind the writer's back wait; with all they come, untimed. */
	snprintf(path, sizeof(path), "%s/containers/%s/output.log", root, id);
	int fd = open(path, O_WRONLY | O_APPEND);
	t_ok(fd >= 0 && write(fd, "raw\n", 4) == 4, "bytes appended without a record");
	close(fd);
	t_read(false, got, sizeof(got), &t0);
	t_streq(got, "1:one|1:two|2:err|1:last|2:more|", "... not read while following");
	t_read(true, got, sizeof(got), &t0);
	t_streq(got, "1:one|1:two|2:err|1:last|2:more|1:raw|", "... read at the end");

	/* A corrupt index (a record going backwards) stops being trusted. */
	snprintf(path, sizeof(path), "%s/containers/%s/output.idx", root, id);
	fd = open(path, O_WRONLY | O_APPEND);
	uint8_t rec[24] = { 0 };
	proto_put64(rec + 8, 2);
	proto_put32(rec + 16, 5);
	rec[20] = PROTO_CHAN_STDERR;
	t_ok(fd >= 0 && write(fd, rec, sizeof(rec)) == 24, "a bad record appended");
	close(fd);
	t_read(true, got, sizeof(got), &t0);
	t_streq(got, "1:one|1:two|2:err|1:last|2:more|1:raw|", "... the bytes still all printed");

	/* No index at all: an old container's log. */
	unlink(path);
	t_read(false, got, sizeof(got), &t0);
	t_streq(got, "1:one|1:two|1:err|1:last|1:more|1:raw|", "no index: every line, as stdout");
	t_is(t0, 0, "... without a time");

	/* Times. now = 10000 s. */
	t_is(t_parse("10m"), (10000ll - 600) * 1000000000ll, "10m before now");
	t_is(t_parse("1h30m"), (10000ll - 5400) * 1000000000ll, "1h30m");
	t_is(t_parse("1.5s"), 10000ll * 1000000000ll - 1500000000ll, "1.5s");
	t_is(t_parse("250ms"), 10000ll * 1000000000ll - 250000000ll, "250ms");
	t_is(t_parse("2024-05-01T12:00:00Z"), 1714564800ll * 1000000000ll, "RFC 3339 UTC");
	t_is(t_parse("2024-05-01T14:00:00.5+02:00"), 1714564800ll * 1000000000ll + 500000000ll,
	     "RFC 3339 with a fraction and an offset");
	t_is(t_parse("1714564800.25"), 1714564800ll * 1000000000ll + 250000000ll, "Unix seconds");
	t_ok(t_parse("2024-05-01") > 0, "a date alone (local)");
	t_is(t_parse("yesterday"), -1, "words refused");
	t_is(t_parse("10x"), -1, "unknown unit refused");
	t_is(t_parse("2024-13-01T00:00:00Z"), -1, "month 13 refused");
	t_is(t_parse("2024-05-01T12:00:00+2"), -1, "a short offset refused");
	t_is(t_parse(""), -1, "empty refused");
	t_is(t_parse("1.2.3"), -1, "two dots refused");
	char ts[48];
	ctr_log_time_format(1714564800ll * 1000000000ll + 5, ts, sizeof(ts));
	t_streq(ts, "2024-05-01T12:00:00.000000005Z", "-t format: RFC 3339, UTC, nanoseconds");
	loop_free(l);
	return t_done();
}
