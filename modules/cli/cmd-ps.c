/* `ucrt ps [-a] [-q]`: containers from <root>/containers. Listing also
 * settles the state of containers whose ucrt died (state "dead"). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "container/container.h"
#include "str.h"
#include "util.h"

static void ps_ago(char *out, size_t n, int64_t t)
{
	int64_t d = (int64_t)time(NULL) - t;

	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(out, n, "%lld second%s", (long long)d, d == 1 ? "" : "s");
	else if (d < 3600)
		snprintf(out, n, "%lld minute%s", (long long)(d / 60), d / 60 == 1 ? "" : "s");
	else if (d < 86400)
		snprintf(out, n, "%lld hour%s", (long long)(d / 3600), d / 3600 == 1 ? "" : "s");
	else
		snprintf(out, n, "%lld day%s", (long long)(d / 86400), d / 86400 == 1 ? "" : "s");
}

static void ps_status(char *out, size_t n, const struct ctr_state *s, enum ctr_status st)
{
	char ago[32];

	switch (st) {
	case CTR_RUNNING:
		ps_ago(ago, sizeof(ago), s->started);
		snprintf(out, n, "Up %s", ago);
		break;
	case CTR_EXITED:
		ps_ago(ago, sizeof(ago), s->finished);
		snprintf(out, n, "Exited (%d) %s ago", s->exit_code, ago);
		break;
	case CTR_DEAD:
		snprintf(out, n, "Dead");
		break;
	default:
		snprintf(out, n, "Created");
	}
}

static void ps_command(char *out, size_t n, char **argv)
{
	struct buf b = BUF_INIT;

	for (char **a = argv; a && *a; a++)
		buf_printf(&b, "%s%s", a == argv ? "" : " ", *a);
	if (b.len > 20)
		snprintf(out, n, "\"%.17s...\"", b.data);
	else
		snprintf(out, n, "\"%s\"", b.data ? b.data : "");
	buf_free(&b);
}

int cmd_ps(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool all = false, quiet = false;
	_cleanup_strv_ char **ids = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "aqh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'q': quiet = true; break;
		case 'h':
			printf("Usage: ucrt ps [-a] [-q]\nList running containers (-a: all of them).\n");
			return 0;
		default:
			return EXIT_RUNTIME;
		}
	}
	if (ctr_list(ctx->root, &ids) < 0) {
		cli_error("cannot list containers under %s/containers", ctx->root);
		return EXIT_RUNTIME;
	}
	if (!quiet)
		printf("%-12s  %-28s  %-22s  %-14s  %-24s  %s\n", "CONTAINER ID", "IMAGE", "COMMAND",
		       "CREATED", "STATUS", "NAMES");
	for (size_t i = 0; ids[i]; i++) {
		struct ctr_config cfg;
		struct ctr_state s;
		enum ctr_status st = ctr_refresh(ctx->root, ids[i], &s);
		char created[48], status[64], cmd[32];

		if (!all && st != CTR_RUNNING)
			continue;
		if (quiet) {
			printf("%.12s\n", ids[i]);
			continue;
		}
		if (ctr_config_read(ctx->root, ids[i], &cfg, NULL) < 0) {
			printf("%.12s  %-28s  %-22s  %-14s  %-24s  %s\n", ids[i], "?", "?", "?",
			       ctr_status_name(st), "?");
			continue;
		}
		ps_ago(created, sizeof(created) - 4, cfg.created);
		strcat(created, " ago");
		ps_status(status, sizeof(status), &s, st);
		ps_command(cmd, sizeof(cmd), cfg.spec.argv);
		printf("%.12s  %-28.28s  %-22s  %-14s  %-24s  %s\n", ids[i], cfg.image ? cfg.image : "",
		       cmd, created, status, cfg.name);
		ctr_config_free(&cfg);
	}
	return 0;
}
