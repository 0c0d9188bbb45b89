/* `ucrt stats [--no-stream] [CONTAINER...]`: docker's columns for running
 * containers. CPU, memory, block I/O and PIDs come from the guest (its
 * supervisor asks guest-init, which reads its own /proc: the guest is
 * the container); network counters from the VM's eBPF filter on its tap
 * (modules/net), readable by any ucrt process. A container without
 * network (--network none) has empty network columns; one run in the
 * foreground (no supervisor to ask) has empty guest columns. */
#include "cli.h"
#include "cli-format.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "net/net.h"
#include "str.h"
#include "util.h"

struct stats_row {
	char id[CTR_ID_LEN + 1];
	char name[128];
	struct ctr_net_status st;
	struct net_stats s;
	bool have_net;
	struct ctr_usage u;
	bool have_usage;
};

static const struct option stats_opts[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "no-stream", no_argument, NULL, 'n' },
	{ "all", no_argument, NULL, 'a' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static const char stats_usage[] =
	"Usage: ucrt stats [--no-stream] [--format FORMAT] [CONTAINER...]\n"
	"Resource use of running containers (all of them when none is named):\n"
	"CPU % (100 per busy CPU, from the guest's own counters), memory used / the\n"
	"guest's memory, network received / sent, block read / written, processes.\n"
	"Repeats every second until interrupted unless --no-stream.\n"
	"  --format F      table, json (one object a line), table TEMPLATE or TEMPLATE:\n"
	"                  fields .ID .Name .CPUPerc .MemUsage .MemPerc .NetIO .BlockIO\n"
	"                  .PIDs, and .Counters: CpuPercent, MemUsage, MemLimit, BlkRead,\n"
	"                  BlkWrite, Pids and the network filter's RxPackets, RxBytes,\n"
	"                  TxPackets, TxBytes, DropSpoof, DropPolicy, DropProto, DropRx\n"
	"                  (docs/format.md); json and templates print one sample\n";

/* 0: filled (what could be read); else prints why and returns the status. */
static int stats_one(struct cli_ctx *ctx, const char *arg, struct stats_row *row)
{
	struct ctr_config cfg = { 0 };
	struct ctr_state s;
	struct err e = { 0 };

	if (ctr_find(ctx->root, arg, row->id, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if (ctr_config_read(ctx->root, row->id, &cfg, &e) == 0)
		snprintf(row->name, sizeof(row->name), "%s", cfg.name ? cfg.name : "");
	ctr_config_free(&cfg);
	if (ctr_refresh(ctx->root, row->id, &s) != CTR_RUNNING) {
		cli_error("%s: not running", arg);
		return EXIT_RUNTIME;
	}
	if (ctr_net_status_read(ctx->root, row->id, &row->st, &e) == 0) {
		ctr_net_opts_free(&row->st.opts);
		row->have_net = row->st.live && net_stats_read(row->st.tap, &row->s) == 0;
	}
	e = (struct err){ 0 };
	row->have_usage = ctr_ctl_stats(ctx->root, row->id, &row->u, &e) == 0;
	return 0;
}

/* docker's units: memory in binary (MiB), I/O in decimal (MB). */
static void stats_size(char *out, size_t cap, uint64_t v, bool binary)
{
	static const char *const bin[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	static const char *const dec[] = { "B", "kB", "MB", "GB", "TB" };
	double d = (double)v, k = binary ? 1024.0 : 1000.0;
	int i = 0;

	while (d >= k && i < 4) {
		d /= k;
		i++;
	}
	if (i == 0)
		snprintf(out, cap, "%" PRIu64 "%s", v, binary ? bin[0] : dec[0]);
	else
		snprintf(out, cap, "%.4g%s", d, binary ? bin[i] : dec[i]);
}

/* The row as docker's `stats --format json` prints it (strings as in the
 * table), with the numbers behind them under Counters for scripts. */
static void stats_row_json(struct buf *out, const struct stats_row *r)
{
	char cpu[16] = "--", mem[48] = "--", memp[16] = "--", net[48] = "", blk[48] = "--", pids[16] = "--";
	char a[16], b[16];
	struct json_writer w;
	double c = r->have_usage ? ctr_usage_cpu_percent(&r->u) : -1;
	uint64_t used = r->have_usage ? r->u.mem_total - MIN(r->u.mem_available, r->u.mem_total) : 0;

	if (r->have_usage) {
		if (c >= 0)
			snprintf(cpu, sizeof(cpu), "%.2f%%", c);
		stats_size(a, sizeof(a), used, true);
		stats_size(b, sizeof(b), r->u.mem_total, true);
		snprintf(mem, sizeof(mem), "%s / %s", a, b);
		if (r->u.mem_total)
			snprintf(memp, sizeof(memp), "%.2f%%", (double)used * 100.0 / (double)r->u.mem_total);
		stats_size(a, sizeof(a), r->u.blk_read, false);
		stats_size(b, sizeof(b), r->u.blk_write, false);
		snprintf(blk, sizeof(blk), "%s / %s", a, b);
		snprintf(pids, sizeof(pids), "%u", r->u.pids);
	}
	/* no network: empty, not unknown */
	if (r->have_net) {
		stats_size(a, sizeof(a), r->s.rx_bytes, false);
		stats_size(b, sizeof(b), r->s.tx_bytes, false);
		snprintf(net, sizeof(net), "%s / %s", a, b);
	}
	jw_init(&w, out, false);
	jw_obj_begin(&w);
	jw_key(&w, "BlockIO"), jw_str(&w, blk);
	jw_key(&w, "CPUPerc"), jw_str(&w, cpu);
	jw_key(&w, "Container"), jw_strn(&w, r->id, 12);
	jw_key(&w, "ID"), jw_strn(&w, r->id, 12);
	jw_key(&w, "MemPerc"), jw_str(&w, memp);
	jw_key(&w, "MemUsage"), jw_str(&w, mem);
	jw_key(&w, "Name"), jw_str(&w, r->name);
	jw_key(&w, "NetIO"), jw_str(&w, net);
	jw_key(&w, "PIDs"), jw_str(&w, pids);
	jw_key(&w, "IP"), jw_str(&w, r->have_net ? r->st.ip : "");
	jw_key(&w, "Tap"), jw_str(&w, r->have_net ? r->st.tap : "");
	jw_key(&w, "Counters");
	jw_obj_begin(&w);
	if (r->have_usage) {
		jw_key(&w, "CpuPercent");
		if (c >= 0) {
			char num[32];
			int k = snprintf(num, sizeof(num), "%.2f", c);
			jw_raw(&w, num, (size_t)k);
		} else {
			jw_null(&w);
		}
		jw_key(&w, "MemUsage"), jw_uint(&w, used);
		jw_key(&w, "MemLimit"), jw_uint(&w, r->u.mem_total);
		jw_key(&w, "BlkRead"), jw_uint(&w, r->u.blk_read);
		jw_key(&w, "BlkWrite"), jw_uint(&w, r->u.blk_write);
		jw_key(&w, "Pids"), jw_uint(&w, r->u.pids);
	}
	if (r->have_net) {
		const struct { const char *k; uint64_t v; } f[] = {
			{ "RxPackets", r->s.rx_packets }, { "RxBytes", r->s.rx_bytes },
			{ "TxPackets", r->s.tx_packets }, { "TxBytes", r->s.tx_bytes },
			{ "DropSpoof", r->s.drop_spoof }, { "DropPolicy", r->s.drop_policy },
			{ "DropProto", r->s.drop_proto }, { "DropRx", r->s.drop_rx },
		};
		for (size_t i = 0; i < ARRAY_SIZE(f); i++)
			jw_key(&w, f[i].k), jw_uint(&w, f[i].v);
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
}

static const char stats_default[] =
	"table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

static const struct cli_header stats_headers[] = {
	{ "ID", "CONTAINER ID" }, { "Container", "CONTAINER" }, { "CPUPerc", "CPU %" },
	{ "MemUsage", "MEM USAGE / LIMIT" }, { "MemPerc", "MEM %" }, { "NetIO", "NET I/O" },
	{ "BlockIO", "BLOCK I/O" }, { "PIDs", "PIDS" }, { NULL, NULL }
};

static int stats_round(struct cli_ctx *ctx, char **names, int n, const char *format, bool quiet_gone)
{
	struct cli_fmt f;
	int status = 0;

	if (cli_fmt_init(&f, format, stats_default, stats_headers) < 0)
		return EXIT_RUNTIME;
	for (int i = 0; i < n; i++) {
		struct stats_row row = { 0 };
		int r = stats_one(ctx, names[i], &row);

		if (r) {
			if (!quiet_gone)
				status = r;
			continue;
		}
		_cleanup_buf_ struct buf b = BUF_INIT;
		stats_row_json(&b, &row);
		if (cli_fmt_row(&f, b.data, b.len) < 0) {
			cli_fmt_free(&f);
			return EXIT_RUNTIME;
		}
	}
	cli_fmt_end(&f);
	cli_fmt_free(&f);
	fflush(stdout);
	return status;
}

int cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_strv_ char **ids = NULL;
	const char *format = NULL;
	bool once = false;
	char **names;
	int c, n, status;

	while ((c = getopt_long(argc, argv, "+ah", stats_opts, NULL)) != -1) {
		if (c == 'f') {
			format = optarg;
		} else if (c == 'n') {
			once = true;
		} else if (c == 'a') {
			continue;
		} else if (c == 'h') {
			printf("%s", stats_usage);
			return 0;
		} else {
			fprintf(stderr, "%s", stats_usage);
			return EXIT_RUNTIME;
		}
	}
	/* JSON and templates are for scripts: one sample (docker streams
	 * them too, but a script wants one answer) */
	once = once || (format && strncmp(format, "table", 5) != 0);
	names = argv + optind;
	n = argc - optind;
	if (n == 0) {
		/* The running ones, as docker stats without names. */
		_cleanup_strv_ char **all = NULL;
		size_t k = 0;
		if (ctr_list(ctx->root, &all) < 0) {
			cli_error("cannot list containers under %s/containers", ctx->root);
			return EXIT_RUNTIME;
		}
		ids = xcalloc(strv_len(all) + 1, sizeof(char *));
		for (size_t i = 0; all[i]; i++) {
			struct ctr_state s;
			if (ctr_refresh(ctx->root, all[i], &s) == CTR_RUNNING)
				ids[k++] = xstrdup(all[i]);
		}
		names = ids;
		n = (int)k;
	}
	for (;;) {
		if (!once && isatty(STDOUT_FILENO))
			printf("\033[2J\033[H");
		status = stats_round(ctx, names, n, format, !once && argc == optind);
		if (once)
			return status;
		sleep(1);
	}
}
