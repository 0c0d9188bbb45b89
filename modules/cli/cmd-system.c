/* `ucrt system check [--repair]`: what a crash (kill -9, power loss), a
 * full disk or a bad actor left in the store, the containers' state and
 * the network, from the modules that own each (store_check, ctr_check,
 * net_check). Exit 0 when nothing is wrong (or everything found was
 * repaired), 1 when problems remain, 125 when the check could not run. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "container/container.h"
#include "err.h"
#include "net/net.h"
#include "store/store.h"

static void report(void *arg, const char *what, const char *problem, bool repaired)
{
	printf("%s %s: %s\n", repaired ? "repaired" : "PROBLEM ", what, problem);
	fflush(stdout);
}

int cmd_system_check(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"Usage: ucrt system check [--repair]\n"
		"Check the store and the runtime state for what a crash left behind:\n"
		"  every blob's digest (re-hashed), the image name index and the blobs each\n"
		"  name needs, every rootfs disk (e2fsck -fn), partial downloads and temp\n"
		"  files of dead processes, container state files (unreadable, running with\n"
		"  a dead owner, ended --rm containers), leases and taps of dead containers,\n"
		"  nftables NAT tables of bridges that are gone.\n"
		"One line per problem; exit status 0 when none remains, 1 when some do.\n"
		"  --repair   fix what was found: bad blobs and an unreadable index go to\n"
		"             <root>/quarantine/, names missing blobs are removed (pull\n"
		"             again), bad disks and leftovers deleted, dead containers marked\n"
		"             dead, stale leases, taps and tables removed. Needs the store\n"
		"             alone (no pull, build or container using it).\n";
	static const struct option lo[] = { { "repair", no_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
					    { 0 } };
	bool repair = false;
	int c;

	if (cli_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			printf("%s", usage);
			return 0;
		} else if (c == 'r') {
			repair = true;
		} else {
			fprintf(stderr, "%s", usage);
			return EXIT_RUNTIME;
		}
	}
	if (optind != argc) {
		cli_error("system check: unexpected argument \"%s\"", argv[optind]);
		return EXIT_RUNTIME;
	}
	struct err e = { 0 };
	_cleanup_store_ struct store *s = NULL;
	if (store_open(&s, ctx->root, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	struct check_report rep = { .fn = report };
	struct store_check_stats ss;
	struct ctr_check_stats cs;
	struct net_check_stats ns;
	/* Containers first: repairing them releases what they held. */
	if (ctr_check(ctx->root, repair, &rep, &cs, &e) < 0 || net_check(ctx->root, repair, &rep, &ns, &e) < 0 ||
	    store_check(s, repair, &rep, &ss, &e) < 0) {
		cli_error("system check: %s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	unsigned problems = rep.problems, fixed = rep.repaired;
	printf("checked %u blobs, %u images, %u disks, %u containers, %u leases, %u NAT tables: ", ss.blobs,
	       ss.images, ss.disks, cs.containers, ns.leases, ns.tables);
	if (!problems)
		printf("no problem\n");
	else
		printf("%u problem%s, %u repaired\n", problems, problems == 1 ? "" : "s", fixed);
	return problems > fixed ? 1 : 0;
}
