/* `ucrt network ls|prune|rm`: look at and maintain the container network
 * (modules/net). Containers get their network from `ucrt run`; these
 * commands only inspect leases and clean up after crashed runs. */
#include "cli.h"

#include "buf.h"
#include "err.h"
#include "json.h"
#include "net/net.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const struct option net_opts[] = {
	{ "bridge", required_argument, NULL, 'b' },
	{ "format", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

struct net_args {
	const char *bridge;
	bool json;
};

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, const char *usage, struct net_args *a)
{
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "hb:", net_opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			a->bridge = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
				cli_error("--format: want json or table");
				return EXIT_RUNTIME;
			}
			a->json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			fprintf(stderr, "%s", usage);
			return EXIT_RUNTIME;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s", usage);
		return EXIT_RUNTIME;
	}
	return -1;
}

void cli_net_stats_json(struct json_writer *w, const struct net_stats *s)
{
	const struct { const char *k; uint64_t v; } f[] = {
		{ "TxPackets", s->tx_packets }, { "TxBytes", s->tx_bytes },
		{ "RxPackets", s->rx_packets }, { "RxBytes", s->rx_bytes },
		{ "DropSpoof", s->drop_spoof }, { "DropPolicy", s->drop_policy },
		{ "DropProto", s->drop_proto }, { "DropRx", s->drop_rx },
	};

	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		jw_key(w, f[i].k);
		jw_uint(w, f[i].v);
	}
}

static void ls_json(const struct net_lease *l, size_t n)
{
	_cleanup_buf_ struct buf b = { 0 };
	struct json_writer w;

	/* docker's ls style: one object a line, its key style */
	for (size_t i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN];
		struct net_stats s;

		inet_ntop(AF_INET, &l[i].addr, ip, sizeof(ip));
		jw_init(&w, &b, false);
		jw_obj_begin(&w);
		jw_key(&w, "Address");
		jw_str(&w, ip);
		jw_key(&w, "Owner");
		jw_str(&w, l[i].owner);
		jw_key(&w, "Pid");
		jw_int(&w, l[i].pid);
		jw_key(&w, "Alive");
		jw_bool(&w, net_lease_alive(&l[i]));
		jw_key(&w, "Tap");
		jw_str(&w, l[i].ifname);
		if (net_stats_read(l[i].ifname, &s) == 0) {
			jw_key(&w, "Stats");
			jw_obj_begin(&w);
			cli_net_stats_json(&w, &s);
			jw_obj_end(&w);
		}
		jw_obj_end(&w);
		buf_putc(&b, '\n');
	}
	fwrite(b.data ? b.data : "", 1, b.len, stdout);
}

int cmd_network_ls(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt network ls [--format table|json]\n"
		"List the address leases of containers, with their filter counters.\n";
	_cleanup_free_ struct net_lease *l = NULL;
	struct net_args a;
	size_t n;
	int r = parse_args(argc, argv, usage, &a);

	if (r >= 0)
		return r;
	r = net_lease_list(ctx->root, &l, &n);
	if (r < 0) {
		cli_error("reading the leases under %s/net: %s", ctx->root, strerror(-r));
		return EXIT_RUNTIME;
	}
	if (a.json) {
		ls_json(l, n);
		return 0;
	}
	printf("%-15s  %-20s  %-8s  %-5s  %-14s  %10s  %10s  %8s\n", "ADDRESS", "OWNER", "PID",
	       "STATE", "TAP", "TX", "RX", "DROPPED");
	for (size_t i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN], tx[24] = "-", rx[24] = "-", dr[24] = "-";
		struct net_stats s;

		inet_ntop(AF_INET, &l[i].addr, ip, sizeof(ip));
		if (net_stats_read(l[i].ifname, &s) == 0) {
			snprintf(tx, sizeof(tx), "%llu", (unsigned long long)s.tx_packets);
			snprintf(rx, sizeof(rx), "%llu", (unsigned long long)s.rx_packets);
			snprintf(dr, sizeof(dr), "%llu", (unsigned long long)(s.drop_spoof +
				 s.drop_policy + s.drop_proto));
		}
		printf("%-15s  %-20s  %-8d  %-5s  %-14s  %10s  %10s  %8s\n", ip, l[i].owner,
		       (int)l[i].pid, net_lease_alive(&l[i]) ? "live" : "dead", l[i].ifname, tx,
		       rx, dr);
	}
	return 0;
}

/* Adopt the existing bridge without changing anything on it. */
static int open_existing(struct cli_ctx *ctx, const struct net_args *a, struct net_host *h,
			 bool *absent)
{
	struct net_host_opts o = { .root = ctx->root, .bridge = a->bridge, .existing = true };
	struct err e = { 0 };
	int r = net_host_open(h, &o, &e);

	*absent = r == -ENODEV;
	if (r < 0 && !*absent)
		cli_error("%s", err_msg(&e));
	return r;
}

int cmd_network_prune(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt network prune [--bridge NAME]\n"
		"Drop the leases of dead ucrt processes and delete their leftover taps.\n";
	struct net_host h;
	struct net_args a;
	struct err e = { 0 };
	unsigned removed = 0;
	bool absent;
	int r = parse_args(argc, argv, usage, &a);

	if (r >= 0)
		return r;
	r = open_existing(ctx, &a, &h, &absent);
	if (r < 0)
		return absent ? 0 : EXIT_RUNTIME;
	r = net_gc(&h, &removed, &e);
	net_host_close(&h);
	if (r < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	printf("removed %u stale leases and taps\n", removed);
	return 0;
}

int cmd_network_rm(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt network rm [--bridge NAME]\n"
		"Delete the bridge and its NAT rules; refused while containers use it.\n";
	struct net_host h;
	struct net_args a;
	struct err e = { 0 };
	bool absent;
	int r = parse_args(argc, argv, usage, &a);

	if (r >= 0)
		return r;
	r = open_existing(ctx, &a, &h, &absent);
	if (r < 0)
		return absent ? 0 : EXIT_RUNTIME;
	r = net_host_remove(&h, &e);
	net_host_close(&h);
	if (r < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	return 0;
}
