/* `ucrt port CONTAINER [PORT[/PROTO]]`: the host addresses a running
 * container's ports are published on (-p, -P), in docker port's format. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"

static const char port_usage[] =
	"Usage: ucrt port CONTAINER [PORT[/tcp|udp]]\n"
	"List a running container's published ports (\"80/tcp -> 0.0.0.0:8080\"),\n"
	"or the host address of one of them.\n";

int cmd_port(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_buf_ struct buf out = BUF_INIT;
	char id[CTR_ID_LEN + 1];
	struct ctr_state st;
	struct err e = { 0 };
	int n;

	if (cli_help(argc, argv, port_usage))
		return 0;
	if (argc < 2 || argc > 3) {
		fputs(port_usage, stderr);
		return EXIT_RUNTIME;
	}
	if (ctr_find(ctx->root, argv[1], id, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	n = ctr_ports_describe(ctx->root, id, argc == 3 ? argv[2] : NULL, &out, &e);
	if (n < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if (n == 0 && argc == 3) {
		/* docker: asking for a port that is not published is an error. */
		cli_error("no public port '%s' published for %s", argv[2], argv[1]);
		return EXIT_RUNTIME;
	}
	if (n == 0 && ctr_refresh(ctx->root, id, &st) != CTR_RUNNING)
		return 0;
	fwrite(out.data ? out.data : "", 1, out.len, stdout);
	return 0;
}
