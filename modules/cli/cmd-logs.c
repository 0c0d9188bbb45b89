/* `ucrt logs`: a kept container's output.log, line by line with the time
 * and channel output.idx records for it (modules/container/log.c):
 * stdout lines to stdout and stderr lines to stderr, as docker does;
 * --tail, --since/--until and -t on those lines; -f follows until the
 * container stops or is removed. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "str.h"
#include "util.h"

static const char logs_usage[] =
	"Usage: ucrt logs [OPTIONS] CONTAINER\n"
	"Print a container's output (stdout and stderr apart).\n"
	"  -f, --follow          keep printing until the container stops or is removed\n"
	"  -n, --tail N|all      only the last N lines\n"
	"  -t, --timestamps      prefix each line with when it was written (RFC 3339)\n"
	"      --since TIME      lines from TIME on: RFC 3339, Unix seconds, or a\n"
	"                        duration before now (10m, 1h30m, 30s)\n"
	"      --until TIME      lines up to TIME\n";

struct logs {
	const char *root;
	char id[CTR_ID_LEN + 1];
	bool follow, stamps;
	int64_t since, until;		/* ns, 0: none */
	uint64_t skip;			/* lines to pass over (--tail) */
	uint64_t seen;			/* lines that passed the filters so far */
	bool emit;			/* the current line is printed */
	struct buf out;			/* pending bytes for out_chan */
	int out_chan;
};

static void logs_flush(struct logs *lg)
{
	if (lg->out.len)
		write_all(lg->out_chan == PROTO_CHAN_STDERR ? STDERR_FILENO : STDOUT_FILENO, lg->out.data,
			  lg->out.len);
	buf_reset(&lg->out);
}

static void logs_put(struct logs *lg, int chan, const void *p, size_t n)
{
	if (chan != lg->out_chan || lg->out.len > 65536)
		logs_flush(lg);
	lg->out_chan = chan;
	buf_append(&lg->out, p, n);
}

static bool logs_wanted(const struct logs *lg, const struct ctr_log_line *l)
{
	if (lg->since && (!l->time_ns || l->time_ns < lg->since))
		return false;
	if (lg->until && (!l->time_ns || l->time_ns > lg->until))
		return false;
	return true;
}

/* Lines that pass the filters (for --tail). */
static uint64_t logs_count(struct logs *lg, bool all)
{
	struct ctr_log_reader *r;
	struct ctr_log_piece pc;
	uint64_t n = 0;

	if (ctr_log_reader_open(lg->root, lg->id, &r) < 0)
		return 0;
	while (ctr_log_next(r, all, &pc) > 0) {
		if (pc.start && logs_wanted(lg, pc.line))
			n++;
	}
	ctr_log_reader_free(r);
	return n;
}

static int logs_pump(struct logs *lg, struct ctr_log_reader *r, bool all)
{
	struct ctr_log_piece pc;
	int n;

	while ((n = ctr_log_next(r, all, &pc)) > 0) {
		if (pc.start) {
			lg->emit = logs_wanted(lg, pc.line) && lg->seen++ >= lg->skip;
			if (lg->emit && lg->stamps) {
				char ts[48];
				ctr_log_time_format(pc.line->time_ns, ts, sizeof(ts));
				if (pc.line->time_ns) {
					logs_put(lg, pc.line->chan, ts, strlen(ts));
					logs_put(lg, pc.line->chan, " ", 1);
				}
			}
		}
		if (lg->emit)
			logs_put(lg, pc.line->chan, pc.data, pc.len);
	}
	logs_flush(lg);
	return n;
}

/* Still producing output: running, or starting under a live owner. */
static bool logs_live(const struct logs *lg)
{
	_cleanup_free_ char *dir = ctr_path(lg->root, lg->id, NULL);
	struct ctr_state s;
	enum ctr_status st;
	struct stat sb;

	if (stat(dir, &sb) < 0)
		return false;	/* removed */
	st = ctr_refresh(lg->root, lg->id, &s);
	return st == CTR_RUNNING || (st == CTR_CREATED && ctr_proc_alive(s.owner, s.owner_start));
}

static int64_t logs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int logs_parse(struct logs *lg, int argc, char **argv, int64_t *tail)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "timestamps", no_argument, NULL, 't' },
		{ "tail", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;
	uint64_t v;

	*tail = -1;
	while ((c = getopt_long(argc, argv, "+ftn:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': lg->follow = true; break;
		case 't': lg->stamps = true; break;
		case 'n':
			if (strcmp(optarg, "all") == 0) {
				*tail = -1;
			} else if (str_to_u64(optarg, &v) == 0 && v < (1ull << 62)) {
				*tail = (int64_t)v;
			} else {
				cli_error("invalid --tail '%s' (want a number of lines or all)", optarg);
				return -EINVAL;
			}
			break;
		case 'S': case 'U': {
			int64_t *t = c == 'S' ? &lg->since : &lg->until;
			if (ctr_log_time_parse(optarg, logs_now_ns(), t) < 0) {
				cli_error("invalid --%s '%s' (want RFC 3339 like 2024-05-01T12:00:00Z, Unix "
					  "seconds, or a duration like 10m)", c == 'S' ? "since" : "until", optarg);
				return -EINVAL;
			}
			if (*t == 0)
				*t = 1;	/* the epoch itself, not "none" */
			break;
		}
		case 'h':
			fputs(logs_usage, stdout);
			return 1;
		default:
			fputs(logs_usage, stderr);
			return -EINVAL;
		}
	}
	if (optind + 1 != argc) {
		cli_error("\"ucrt logs\" requires exactly one container");
		return -EINVAL;
	}
	return 0;
}

int cmd_logs(struct cli_ctx *ctx, int argc, char **argv)
{
	struct logs lg = { .root = ctx->root, .out = BUF_INIT, .out_chan = PROTO_CHAN_STDOUT };
	struct ctr_log_reader *r = NULL;
	struct err e = { 0 };
	int64_t tail;
	int rc;

	if (cli_help(argc, argv, logs_usage))
		return 0;
	rc = logs_parse(&lg, argc, argv, &tail);
	if (rc)
		return rc > 0 ? 0 : EXIT_RUNTIME;
	if (ctr_find(ctx->root, argv[optind], lg.id, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	bool live = lg.follow && logs_live(&lg);
	/* While the container writes, read only what the index covers, so
	 * every line printed has its time. */
	if (tail >= 0) {
		uint64_t n = logs_count(&lg, !live);
		lg.skip = n > (uint64_t)tail ? n - (uint64_t)tail : 0;
	}
	for (;;) {
		if (!r && ctr_log_reader_open(ctx->root, lg.id, &r) < 0)
			r = NULL;	/* no output yet */
		if (r && logs_pump(&lg, r, !live) < 0)
			break;
		if (!live)
			break;
		/* One last read with everything once it stopped. */
		live = logs_live(&lg);
		if (live)
			usleep(100000);
	}
	ctr_log_reader_free(r);
	buf_free(&lg.out);
	return 0;
}
