/* `ucrt top CONTAINER`: the guest's processes, as guest-init reads them
 * from its /proc (asked through the container's supervisor). Kernel
 * threads and guest-init itself are left out: what remains is what the
 * container runs. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

#include "container/container.h"
#include "err.h"
#include "util.h"

static const char top_usage[] =
	"Usage: ucrt top CONTAINER\n"
	"List the processes running in a detached container's guest: PID, parent,\n"
	"user id, state, CPU time, resident memory, command line.\n";

int cmd_top(struct cli_ctx *ctx, int argc, char **argv)
{
	char id[CTR_ID_LEN + 1];
	struct ctr_ps *ps;
	struct err e = { 0 };
	size_t n;
	bool trunc;

	if (cli_help(argc, argv, top_usage))
		return 0;
	if (argc != 2 || argv[1][0] == '-') {
		fputs(top_usage, stderr);
		return EXIT_RUNTIME;
	}
	if (ctr_find(ctx->root, argv[1], id, &e) < 0 || ctr_ctl_top(ctx->root, id, &ps, &n, &trunc, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	printf("%-7s %-7s %-6s %-2s %-9s %-9s %s\n", "PID", "PPID", "UID", "S", "TIME", "RSS", "CMD");
	for (size_t i = 0; i < n; i++) {
		unsigned long long s = ps[i].cpu_ms / 1000;
		printf("%-7u %-7u %-6u %-2c %02llu:%02llu:%02llu %-9llu %s\n", ps[i].pid, ps[i].ppid, ps[i].uid,
		       ps[i].state, s / 3600, s / 60 % 60, s % 60, (unsigned long long)(ps[i].rss >> 10),
		       ps[i].cmd);
	}
	if (trunc)
		cli_error("more processes than one answer holds: the list is cut");
	free(ps);
	return 0;
}
