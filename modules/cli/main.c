/* `ucrt`: global options, then dispatch through the command table in
 * commands.h. The CLI stays thin: real work lives in modules/. */
#include "cli.h"
#include "oci-cli.h"

#include "err.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_cmd cli_commands[] = {
#define CMD(g, n, f, s) { g, n, s, f },
#include "commands.h"
#undef CMD
	{ NULL, NULL, NULL, NULL }
};

static struct loop *the_loop;

struct loop *cli_loop(void)
{
	if (the_loop)
		return the_loop;
	struct err e = { 0 };
	if (loop_new(&the_loop, 4096, &e) < 0) {
		cli_error("cannot start the event loop: %s", err_msg(&e));
		exit(EXIT_RUNTIME);
	}
	return the_loop;
}

void cli_error(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ucrt: %s\n", line);
}

bool cli_help(int argc, char **argv, const char *usage)
{
	if (argc < 2 || (strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0))
		return false;
	fputs(usage, stdout);
	return true;
}

/* `ucrt GROUP [--help]`: the group's commands. */
static void group_usage(FILE *f, const char *group)
{
	fprintf(f, "Usage: ucrt %s COMMAND [ARG...]\n\nCommands:\n", group);
	for (size_t i = 0; i < (ARRAY_SIZE(cli_commands) - 1); i++) {
		if (cli_commands[i].group && strcmp(cli_commands[i].group, group) == 0)
			fprintf(f, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
	}
	fprintf(f, "\nRun 'ucrt %s COMMAND --help' for a command's options.\n", group);
}

const char *cli_getenv(const char *key)
{
	return getenv(key);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ucrt [--root DIR] [--log-level LEVEL] [--qemu-user USER] COMMAND [ARG...]\n\nCommands:\n");
	for (size_t i = 0; i < (ARRAY_SIZE(cli_commands) - 1); i++) {
		char name[64];
		if (cli_commands[i].name[0] == '_')
			continue;	/* internal (e.g. the detached supervisor) */
		snprintf(name, sizeof(name), "%s%s%s", cli_commands[i].group ? cli_commands[i].group : "",
			 cli_commands[i].group ? " " : "", cli_commands[i].name);
		fprintf(f, "  %-16s %s\n", name, cli_commands[i].summary);
	}
	fprintf(f, "\nSee ucrt(1) for details.\n");
}

static const char *default_root(void)
{
	if (geteuid() == 0)
		return "/var/lib/ucrt";
	static char path[4096];
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/ucrt", xdg);
	else
		snprintf(path, sizeof(path), "%s/.local/share/ucrt", home ? home : "/tmp");
	return path;
}

static const struct option global_opts[] = {
	{ "root", required_argument, NULL, 'r' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "qemu-user", required_argument, NULL, 'Q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 }
};

int main(int argc, char **argv)
{
	struct cli_ctx ctx = { .prog = argv[0] };
	/* A guest or a QEMU can go away while we still write to its socket
	 * (a window update racing the VM's power-off): that is an EPIPE for
	 * the one channel, never a reason for ucrt and its other VMs to die. */
	signal(SIGPIPE, SIG_IGN);
	log_init_from_env();
	/* podman, conmon and containerd call runc's syntax: the ucrt-oci
	 * link picks that command line (docs/oci-runtime.md). */
	const char *base = strrchr(argv[0], '/');
	if (strcmp(base ? base + 1 : argv[0], OCI_PROG) == 0)
		return oci_main(argc, argv);
	/* '+': stop at the first non-option, the command's own options follow. */
	int c;
	while ((c = getopt_long(argc, argv, "+hV", global_opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ctx.root = optarg;
			ctx.root_given = true;
			break;
		case 'l': {
			int l = log_parse_level(optarg);
			if (l < 0) {
				cli_error("invalid --log-level '%s' (want error, warn, info, debug or trace)", optarg);
				return EXIT_RUNTIME;
			}
			log_set_level((enum log_level)l);
			break;
		}
		case 'Q':
			/* Through the environment: the detached supervisor and
			 * every other ucrt process this one starts inherit it. */
			if (geteuid() != 0) {
				cli_error("--qemu-user: only root can run QEMU as another user "
					  "(rootless, QEMU runs as you)");
				return EXIT_RUNTIME;
			}
			if (!*optarg) {
				cli_error("--qemu-user: empty user name");
				return EXIT_RUNTIME;
			}
			setenv("UCRT_QEMU_USER", optarg, 1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return cmd_version(&ctx, 0, NULL);
		default:
			usage(stderr);
			return EXIT_RUNTIME;
		}
	}
	if (!ctx.root)
		ctx.root = default_root();
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_RUNTIME;
	}
	bool group_known = false;
	for (size_t i = 0; i < (ARRAY_SIZE(cli_commands) - 1); i++) {
		const struct cli_cmd *k = &cli_commands[i];
		int r;
		if (!k->group) {
			if (strcmp(argv[0], k->name) != 0)
				continue;
			optind = 1;
			r = k->fn(&ctx, argc, argv);
		} else {
			if (strcmp(argv[0], k->group) != 0)
				continue;
			group_known = true;
			if (argc < 2 || strcmp(argv[1], k->name) != 0)
				continue;
			optind = 1;
			r = k->fn(&ctx, argc - 1, argv + 1);
		}
		if (the_loop)
			loop_free(the_loop);
		return r;
	}
	if (group_known && argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		group_usage(stdout, argv[0]);
		return 0;
	}
	if (group_known && argc < 2) {
		group_usage(stderr, argv[0]);
		return EXIT_RUNTIME;
	}
	if (group_known)
		cli_error("unknown command '%s %s'; see 'ucrt %s --help'", argv[0], argv[1], argv[0]);
	else
		cli_error("unknown command '%s'; see 'ucrt --help'", argv[0]);
	return EXIT_RUNTIME;
}
