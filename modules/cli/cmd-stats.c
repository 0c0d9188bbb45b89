/* `ucrt stats [--no-stream] [CONTAINER...]`: docker's columns for running
 * containers. CPU, memory, block I/O and PIDs come from the guest (its
 * supervisor asks guest-init, which reads its own /proc: the guest is
 * the container); network counters from the VM's eBPF filter on its tap
 * (modules/net), readable by any ucrt process. A container without
 * network (--network none) has empty network columns; one run in the
 * foreground (no supervisor to ask) has empty guest columns. */
#include "cli.h"

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
	"Usage: ucrt stats [--no-stream] [--format table|json] [CONTAINER...]\n"
	"Resource use of running containers (all of them when none is named):\n"
	"CPU % (100 per busy CPU, from the guest's own counters), memory used / the\n"
	"guest's memory, network received / sent, block read / written, processes.\n"
	"Repeats every second until interrupted unless --no-stream.\n"
	"  --format json   one object per container, with the network filter's\n"
	"                  counters: packets, bytes, drops (SPOOF, POLICY, PROTO, RX)\n";

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

static void stats_json_row(struct json_writer *w, const struct stats_row *r)
{
	jw_obj_begin(w);
	jw_key(w, "id");
	jw_str(w, r->id);
	jw_key(w, "name");
	jw_str(w, r->name);
	jw_key(w, "ip");
	jw_str(w, r->have_net ? r->st.ip : "");
	jw_key(w, "tap");
	jw_str(w, r->have_net ? r->st.tap : "");
	if (r->have_net)
		cli_net_stats_json(w, &r->s);
	if (r->have_usage) {
		double cpu = ctr_usage_cpu_percent(&r->u);
		jw_key(w, "cpu_percent");
		if (cpu >= 0) {
			char num[32];
			int k = snprintf(num, sizeof(num), "%.2f", cpu);
			jw_raw(w, num, (size_t)k);
		} else {
			jw_null(w);
		}
		jw_key(w, "mem_usage");
		jw_uint(w, r->u.mem_total - MIN(r->u.mem_available, r->u.mem_total));
		jw_key(w, "mem_limit");
		jw_uint(w, r->u.mem_total);
		jw_key(w, "blk_read");
		jw_uint(w, r->u.blk_read);
		jw_key(w, "blk_write");
		jw_uint(w, r->u.blk_write);
		jw_key(w, "pids");
		jw_uint(w, r->u.pids);
	}
	jw_obj_end(w);
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

static void stats_table_row(const struct stats_row *r)
{
	char cpu[16] = "--", mem[48] = "--", memp[16] = "--", net[48] = "--", blk[48] = "--", pids[16] = "--";
	char a[16], b[16];

	if (r->have_usage) {
		double c = ctr_usage_cpu_percent(&r->u);
		uint64_t used = r->u.mem_total - MIN(r->u.mem_available, r->u.mem_total);
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
	if (r->have_net) {
		stats_size(a, sizeof(a), r->s.rx_bytes, false);
		stats_size(b, sizeof(b), r->s.tx_bytes, false);
		snprintf(net, sizeof(net), "%s / %s", a, b);
	} else {
		net[0] = 0;	/* no network: empty, not unknown */
	}
	printf("%-12.12s   %-20.20s   %-7s   %-21s   %-7s   %-19s   %-19s   %s\n", r->id, r->name, cpu, mem, memp,
	       net, blk, pids);
}

static int stats_round(struct cli_ctx *ctx, char **names, int n, bool json, bool quiet_gone)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	int status = 0;

	if (json) {
		jw_init(&w, &b, true);
		jw_arr_begin(&w);
	} else {
		printf("%-12s   %-20s   %-7s   %-21s   %-7s   %-19s   %-19s   %s\n", "CONTAINER ID", "NAME", "CPU %",
		       "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS");
	}
	for (int i = 0; i < n; i++) {
		struct stats_row row = { 0 };
		int r = stats_one(ctx, names[i], &row);

		if (r) {
			if (!quiet_gone)
				status = r;
			continue;
		}
		if (json)
			stats_json_row(&w, &row);
		else
			stats_table_row(&row);
	}
	if (json) {
		jw_arr_end(&w);
		printf("%.*s\n", (int)b.len, b.data);
	}
	fflush(stdout);
	return status;
}

int cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_strv_ char **ids = NULL;
	bool json = false, once = false;
	char **names;
	int c, n, status;

	while ((c = getopt_long(argc, argv, "+ah", stats_opts, NULL)) != -1) {
		if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0)) {
			json = strcmp(optarg, "json") == 0;
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
	/* JSON is for scripts: one sample. */
	once = once || json;
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
		status = stats_round(ctx, names, n, json, !once && argc == optind);
		if (once)
			return status;
		sleep(1);
	}
}
