/* `ucrt start`, `restart`, `attach`: kept containers run again in the
 * background, each start a fresh VM on the container's own overlay disk
 * (modules/container/lifecycle.c), and a running detached container's
 * main process reached through its supervisor (ctl.sock). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "util.h"

/* What attaching to id means: its tty and whether its stdin is open. */
static int start_attach(struct cli_ctx *ctx, const char *id, bool want_stdin, bool release)
{
	struct ctr_config cfg;
	struct err e = { 0 };
	int status;

	if (ctr_config_read(ctx->root, id, &cfg, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	struct ctr_attach_opts o = { .stdin_open = want_stdin && cfg.spec.stdin_open,
				     .tty = cfg.spec.tty, .release = release };
	ctr_config_free(&cfg);
	status = ctr_ctl_attach(ctx->root, id, &o, &e);
	if (e.code)
		cli_error("%s", err_msg(&e));
	return status;
}

static void start_all_report(const char *name, const struct err *e, void *ud)
{
	if (e->code)
		cli_error("%s: %s", name, err_msg(e));
	else
		printf("%s\n", name);
}

static const char start_usage[] =
	"Usage: ucrt start [-a] [-i] CONTAINER...\n"
	"       ucrt start --all\n"
	"Start created or stopped containers in the background (a fresh VM on each\n"
	"one's kept disk); print their names.\n"
	"  -a, --attach       attach to its output (one container) and exit with its status\n"
	"  -i, --interactive  also attach stdin (the container was created with -i)\n"
	"      --all          every stopped container with --restart always, or\n"
	"                     unless-stopped that was not stopped by the user (at boot:\n"
	"                     the ucrt.service unit)\n";

int cmd_start(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "attach", no_argument, NULL, 'a' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool attach = false, in = false, all = false;
	int c, status = 0;

	if (cli_help(argc, argv, start_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "+aih", opts, NULL)) != -1) {
		switch (c) {
		case 'a': attach = true; break;
		case 'i': in = true; break;
		case 'A': all = true; break;
		default:
			fputs(start_usage, c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : EXIT_RUNTIME;
		}
	}
	if (all) {
		if (optind < argc || attach || in) {
			cli_error("--all takes no container and no -a/-i");
			return EXIT_RUNTIME;
		}
		return ctr_start_all("/proc/self/exe", ctx->root, start_all_report, NULL) == 0 ? 0 : EXIT_RUNTIME;
	}
	if (optind >= argc) {
		cli_error("\"ucrt start\" requires at least one container");
		return EXIT_RUNTIME;
	}
	/* docker: -i attaches too. */
	attach = attach || in;
	if (attach && argc - optind > 1) {
		cli_error("cannot start and attach to several containers at once");
		return EXIT_RUNTIME;
	}
	for (int i = optind; i < argc; i++) {
		char id[CTR_ID_LEN + 1];
		struct err e = { 0 };
		int r;

		if (ctr_find(ctx->root, argv[i], id, &e) < 0 ||
		    (r = ctr_start_detached("/proc/self/exe", ctx->root, id, attach, &e)) < 0) {
			cli_error("%s", err_msg(&e));
			status = EXIT_RUNTIME;
			continue;
		}
		/* Held until we are attached: the output from its first byte. */
		if (attach)
			return start_attach(ctx, id, in, true);
		printf("%s\n", argv[i]);
	}
	return status;
}

static const char restart_usage[] =
	"Usage: ucrt restart [-t SECS] CONTAINER...\n"
	"Stop containers (SIGTERM, the VM ended after SECS, default 10) and start them again.\n";

int cmd_restart(struct cli_ctx *ctx, int argc, char **argv)
{
	uint64_t secs = 10;
	int c, status = 0;

	if (cli_help(argc, argv, restart_usage))
		return 0;
	while ((c = getopt(argc, argv, "+t:h")) != -1) {
		if (c == 't' && str_to_u64(optarg, &secs) == 0 && secs <= 3600)
			continue;
		if (c == 't')
			cli_error("invalid -t '%s' (want seconds, 0..3600)", optarg);
		fputs(restart_usage, c == 'h' ? stdout : stderr);
		return c == 'h' ? 0 : EXIT_RUNTIME;
	}
	if (optind >= argc) {
		cli_error("\"ucrt restart\" requires at least one container");
		return EXIT_RUNTIME;
	}
	for (int i = optind; i < argc; i++) {
		char id[CTR_ID_LEN + 1];
		struct err e = { 0 };

		if (ctr_find(ctx->root, argv[i], id, &e) < 0 || ctr_stop_wait(ctx->root, id, (unsigned)secs, &e) < 0 ||
		    ctr_start_detached("/proc/self/exe", ctx->root, id, false, &e) < 0) {
			cli_error("%s", err_msg(&e));
			status = EXIT_RUNTIME;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return status;
}

static const char attach_usage[] =
	"Usage: ucrt attach [--no-stdin] CONTAINER\n"
	"Attach to a running detached container: its output from now on, the terminal's\n"
	"input when it was started with -i (unless --no-stdin), signals forwarded to its\n"
	"process. Exits with the container's status when it ends.\n";

int cmd_attach(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-stdin", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool in = true;
	char id[CTR_ID_LEN + 1];
	struct ctr_state st;
	struct err e = { 0 };
	int c;

	if (cli_help(argc, argv, attach_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'n') {
			in = false;
			continue;
		}
		fputs(attach_usage, c == 'h' ? stdout : stderr);
		return c == 'h' ? 0 : EXIT_RUNTIME;
	}
	if (optind + 1 != argc) {
		cli_error("\"ucrt attach\" requires exactly one container");
		return EXIT_RUNTIME;
	}
	if (ctr_find(ctx->root, argv[optind], id, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if (ctr_refresh(ctx->root, id, &st) != CTR_RUNNING) {
		cli_error("cannot attach to %s: it is not running (start it first)", argv[optind]);
		return EXIT_RUNTIME;
	}
	return start_attach(ctx, id, in, false);
}
