/* `ucrt create`: `ucrt run`'s options and setup (image, overlay disk,
 * config.json, network.json), then stop short of booting: the container
 * is "created" and `ucrt start` runs it (cmd-start.c). */
#include "cli.h"

int cmd_create(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run(ctx, argc, argv, true);
}
