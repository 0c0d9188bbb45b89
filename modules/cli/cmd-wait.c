/* `ucrt wait CONTAINER...`: block until each container is not running,
 * print its exit code, one per line in the order given (docker's). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

#include "container/container.h"
#include "err.h"

static const char wait_usage[] =
	"Usage: ucrt wait CONTAINER...\n"
	"Block until the containers stop, then print their exit codes, one per line.\n";

int cmd_wait(struct cli_ctx *ctx, int argc, char **argv)
{
	int status = 0;

	if (cli_help(argc, argv, wait_usage))
		return 0;
	if (getopt(argc, argv, "+") != -1) {
		fputs(wait_usage, stderr);
		return EXIT_RUNTIME;
	}
	if (optind >= argc) {
		cli_error("\"ucrt wait\" requires at least one container");
		return EXIT_RUNTIME;
	}
	for (int i = optind; i < argc; i++) {
		char id[CTR_ID_LEN + 1];
		struct err e = { 0 };
		int code;

		if (ctr_find(ctx->root, argv[i], id, &e) < 0 || (code = ctr_wait(ctx->root, id, &e)) < 0) {
			cli_error("%s", err_msg(&e));
			status = EXIT_RUNTIME;
			continue;
		}
		printf("%d\n", code);
		fflush(stdout);
	}
	return status;
}
