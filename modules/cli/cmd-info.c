/* `ucrt info`: how this host runs containers: the accelerator (KVM, or
 * TCG and why), the store (root and what it takes), the network (default
 * mode, bridge, live leases), and the platforms it runs images of, each
 * native or emulated by qemu-user inside the VM (docs/platforms.md). */
#include "cli.h"
#include "cli-format.h"
#include "host-info.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "net/net.h"
#include "util.h"

static const char *info_how(const struct ctr_platform_info *p)
{
	if (p->how == CTR_PLATFORM_NATIVE)
		return "native";
	return p->how == CTR_PLATFORM_EMULATED ? "emulated" : "unsupported";
}

/* Store usage by part, allocated bytes. */
static const char *const info_parts[] = { "blobs", "rootfs", "containers", "volumes" };

struct info_net {
	const char *mode;		/* default for a run */
	char bridge[32], subnet[32], gateway[INET_ADDRSTRLEN];
	bool bridge_up;
	char why[160];			/* no bridge: why */
	unsigned leases;		/* live ones */
};

static void info_net(struct cli_ctx *ctx, struct info_net *n)
{
	struct ctr_net_opts o = { 0 };
	struct err e = { 0 };

	memset(n, 0, sizeof(*n));
	n->mode = ctr_net_opts_finish(&o, 1, &e) == 0 ? ctr_net_mode_name(o.mode) : "invalid UCRT_NETWORK";
	ctr_net_opts_free(&o);
	struct net_host h;
	struct net_host_opts ho = { .root = ctx->root, .existing = true };
	if (net_host_open(&h, &ho, &e) == 0) {
		char net[INET_ADDRSTRLEN];
		n->bridge_up = true;
		snprintf(n->bridge, sizeof(n->bridge), "%s", h.bridge);
		inet_ntop(AF_INET, &h.subnet, net, sizeof(net));
		snprintf(n->subnet, sizeof(n->subnet), "%s/%u", net, h.prefix);
		inet_ntop(AF_INET, &h.gateway, n->gateway, sizeof(n->gateway));
		net_host_close(&h);
	} else {
		snprintf(n->why, sizeof(n->why), "%s", err_msg(&e));
	}
	struct net_lease *l = NULL;
	size_t nl = 0;
	if (net_lease_list(ctx->root, &l, &nl) == 0)
		for (size_t i = 0; i < nl; i++)
			n->leases += net_lease_alive(&l[i]);
	free(l);
}

static void info_json(struct cli_ctx *ctx, const struct cli_host_info *hi, const char *vm_err, const uint64_t *use,
		      const struct info_net *n, const struct ctr_platform_info *p, size_t np)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	jw_key(&w, "Accel");
	jw_str(&w, vm_err ? "" : hi->kvm ? "kvm" : "tcg");
	jw_key(&w, "AccelNote");
	jw_str(&w, vm_err ? vm_err : hi->accel_note);
	jw_key(&w, "StoreRoot");
	jw_str(&w, ctx->root);
	jw_key(&w, "StoreUsage");
	jw_obj_begin(&w);
	uint64_t total = 0;
	for (size_t i = 0; i < ARRAY_SIZE(info_parts); i++) {
		char k[32];
		snprintf(k, sizeof(k), "%c%s", info_parts[i][0] - 32, info_parts[i] + 1);
		jw_key(&w, k), jw_uint(&w, use[i]);
		total += use[i];
	}
	jw_key(&w, "Total"), jw_uint(&w, total);
	jw_obj_end(&w);
	jw_key(&w, "Network");
	jw_obj_begin(&w);
	jw_key(&w, "DefaultMode"), jw_str(&w, n->mode);
	jw_key(&w, "Bridge"), jw_str(&w, n->bridge_up ? n->bridge : "");
	jw_key(&w, "Subnet"), jw_str(&w, n->subnet);
	jw_key(&w, "Gateway"), jw_str(&w, n->gateway);
	jw_key(&w, "LiveLeases"), jw_uint(&w, n->leases);
	jw_obj_end(&w);
	jw_key(&w, "Platforms");
	jw_arr_begin(&w);
	for (size_t i = 0; i < np; i++) {
		jw_obj_begin(&w);
		jw_key(&w, "Platform"), jw_str(&w, p[i].platform);
		jw_key(&w, "How"), jw_str(&w, info_how(&p[i]));
		if (p[i].how == CTR_PLATFORM_EMULATED) {
			jw_key(&w, "Emulator"), jw_str(&w, p[i].emulator);
			jw_key(&w, "Available"), jw_bool(&w, p[i].emulator_found);
		}
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	printf("%s\n", b.data);
}

int cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	static const char usage[] = "usage: ucrt info [--format table|json]";
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("%s\nHow this host runs containers: the accelerator (KVM, or TCG and why),\n"
			       "the store's root and what it takes, the network, and the platforms it\n"
			       "runs images of: natively, or emulated by qemu-user inside the VM\n"
			       "(from the Debian package qemu-user-static).\n", usage);
			return 0;
		}
		if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0)) {
			json = strcmp(optarg, "json") == 0;
			continue;
		}
		cli_error("%s", usage);
		return EXIT_RUNTIME;
	}
	if (optind != argc) {
		cli_error("%s", usage);
		return EXIT_RUNTIME;
	}
	struct cli_host_info hi;
	struct err e = { 0 };
	const char *vm_err = cli_host_info(ctx, &hi, &e) < 0 ? err_msg(&e) : NULL;
	uint64_t use[ARRAY_SIZE(info_parts)], total = 0;
	for (size_t i = 0; i < ARRAY_SIZE(info_parts); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", ctx->root, info_parts[i]);
		use[i] = cli_du(p);
		total += use[i];
	}
	struct info_net n;
	info_net(ctx, &n);
	struct ctr_platform_info p[16];
	size_t np = ctr_platforms(p, ARRAY_SIZE(p));
	if (json) {
		info_json(ctx, &hi, vm_err, use, &n, p, np);
		return 0;
	}
	if (vm_err)
		printf("Accel:       none: %s\n", vm_err);
	else if (hi.kvm)
		printf("Accel:       KVM\n");
	else
		printf("Accel:       TCG (%s)\n", hi.accel_note[0] ? hi.accel_note : "asked for");
	char sz[4][32], tot[32];
	for (size_t i = 0; i < ARRAY_SIZE(info_parts); i++)
		cli_human_size(sz[i], sizeof(sz[i]), (double)use[i]);
	cli_human_size(tot, sizeof(tot), (double)total);
	printf("Store:       %s\n", ctx->root);
	printf("Store usage: %s (blobs %s, image disks %s, containers %s, volumes %s)\n", tot, sz[0], sz[1], sz[2],
	       sz[3]);
	printf("Network:     default %s; ", n.mode);
	if (n.bridge_up)
		printf("bridge %s %s, gateway %s; %u live lease%s\n", n.bridge, n.subnet, n.gateway, n.leases,
		       n.leases == 1 ? "" : "s");
	else
		printf("no bridge (%s)\n", n.why);
	printf("\n%-16s %-10s %s\n", "PLATFORM", "HOW", "EMULATOR");
	for (size_t i = 0; i < np; i++)
		printf("%-16s %-10s %s%s\n", p[i].platform, info_how(&p[i]), p[i].emulator,
		       p[i].how == CTR_PLATFORM_EMULATED && !p[i].emulator_found ?
			       " (missing: install the Debian package qemu-user-static)" : "");
	return 0;
}
