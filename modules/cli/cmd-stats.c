/* `ucrt stats CONTAINER...`: a running container's network counters, as
 * counted by its VM's eBPF filter (modules/net): packets and bytes each
 * way, and the drops by cause. Read from the filter attached to the tap,
 * so any ucrt process can ask, not only the one that owns the VM. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "net/net.h"
#include "util.h"

struct stats_row {
	char id[CTR_ID_LEN + 1];
	char name[128];
	struct ctr_net_status st;
	struct net_stats s;
};

static const struct option stats_opts[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static const char stats_usage[] =
	"Usage: ucrt stats [--format table|json] CONTAINER...\n"
	"Network counters of running containers: packets and bytes sent (TX) and\n"
	"received (RX) by each VM, and frames its filter dropped: forged source\n"
	"address (SPOOF), refused by --network-policy (POLICY), protocols a VM may\n"
	"not send (PROTO), frames for other VMs not delivered to it (RX).\n"
	"  --format json   one object per container\n";

/* 0: filled; else prints why and returns the exit status. */
static int stats_one(struct cli_ctx *ctx, const char *arg, struct stats_row *row)
{
	struct ctr_config cfg = { 0 };
	struct err e = { 0 };
	int r;

	if (ctr_find(ctx->root, arg, row->id, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if (ctr_config_read(ctx->root, row->id, &cfg, &e) == 0)
		snprintf(row->name, sizeof(row->name), "%s", cfg.name ? cfg.name : "");
	ctr_config_free(&cfg);
	if (ctr_net_status_read(ctx->root, row->id, &row->st, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	ctr_net_opts_free(&row->st.opts);
	if (!row->st.live) {
		cli_error("%s: %s", arg, row->st.tap[0] ? "not running" : "no network (--network none)");
		return EXIT_RUNTIME;
	}
	r = net_stats_read(row->st.tap, &row->s);
	if (r < 0) {
		cli_error("%s: reading the counters of %s: %s", arg, row->st.tap, strerror(-r));
		return EXIT_RUNTIME;
	}
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
	jw_str(w, r->st.ip);
	jw_key(w, "tap");
	jw_str(w, r->st.tap);
	cli_net_stats_json(w, &r->s);
	jw_obj_end(w);
}

static void stats_table_row(const struct stats_row *r)
{
	printf("%-12.12s  %-16.16s  %-15s  %10" PRIu64 "  %12" PRIu64 "  %10" PRIu64 "  %12" PRIu64
	       "  %11" PRIu64 "  %11" PRIu64 "  %11" PRIu64 "  %11" PRIu64 "\n",
	       r->id, r->name, r->st.ip, r->s.rx_packets, r->s.rx_bytes, r->s.tx_packets, r->s.tx_bytes,
	       r->s.drop_spoof, r->s.drop_policy, r->s.drop_proto, r->s.drop_rx);
}

int cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	bool json = false;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "+h", stats_opts, NULL)) != -1) {
		if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0)) {
			json = strcmp(optarg, "json") == 0;
		} else if (c == 'h') {
			printf("%s", stats_usage);
			return 0;
		} else {
			fprintf(stderr, "%s", stats_usage);
			return EXIT_RUNTIME;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s", stats_usage);
		return EXIT_RUNTIME;
	}
	if (json) {
		jw_init(&w, &b, true);
		jw_arr_begin(&w);
	} else {
		printf("%-12s  %-16s  %-15s  %10s  %12s  %10s  %12s  %11s  %11s  %11s  %11s\n", "CONTAINER",
		       "NAME", "IP", "RX PACKETS", "RX BYTES", "TX PACKETS", "TX BYTES", "DROP SPOOF",
		       "DROP POLICY", "DROP PROTO", "DROP RX");
	}
	for (int i = optind; i < argc; i++) {
		struct stats_row row = { 0 };
		int r = stats_one(ctx, argv[i], &row);

		if (r) {
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
	return status;
}
