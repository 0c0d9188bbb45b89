/* `ucrt template create|ls|rm|prune`: VM templates (docs/vm.md,
 * Templates). `run` uses and builds them by itself; these commands make
 * one ahead of time, show what is there and remove them. */
#include "cli.h"

#include "err.h"
#include "log.h"
#include "str.h"
#include "template/template.h"
#include "util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char tc_usage[] =
	"Usage: ucrt template create [--cpus N] [--memory MIB] [--shares N] [--net]\n"
	"           [--kernel PATH] [--accel auto|kvm|tcg] [--qemu PATH] [--init PATH]\n"
	"Boot a VM to guest-init's wait state and save it as the template that\n"
	"`run` restores containers of that shape from (N vCPUs, MIB of memory,\n"
	"N shared directories, a network device). Prints the template's key.\n";

static int tc_num(const char *s, unsigned max, unsigned *out)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v > max) {
		cli_error("invalid number '%s' (0..%u)", s, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

int cmd_template_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cpus", required_argument, NULL, 'c' },   { "memory", required_argument, NULL, 'm' },
		{ "shares", required_argument, NULL, 's' }, { "net", no_argument, NULL, 'n' },
		{ "kernel", required_argument, NULL, 'k' }, { "accel", required_argument, NULL, 'a' },
		{ "qemu", required_argument, NULL, 'q' },   { "init", required_argument, NULL, 'i' },
		{ "background", no_argument, NULL, 'b' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tmpl_shape s = { .cpus = 1, .mem_mib = 256 };
	struct vm_host_opts ho = { 0 };
	struct vm_host h = { 0 };
	_cleanup_free_ char *cache = xasprintf("%s/vm", ctx->root);
	char key[TMPL_KEY_LEN + 1];
	struct err e = { 0 };
	bool bg = false;
	int c, r;

	if (cli_help(argc, argv, tc_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (tc_num(optarg, 64, &s.cpus) < 0 || s.cpus == 0)
				return EXIT_RUNTIME;
			break;
		case 'm':
			if (tc_num(optarg, 1u << 20, &s.mem_mib) < 0 || s.mem_mib < 64) {
				cli_error("--memory: at least 64 MiB");
				return EXIT_RUNTIME;
			}
			break;
		case 's':
			if (tc_num(optarg, VM_MAX_SHARES, &s.nshares) < 0)
				return EXIT_RUNTIME;
			break;
		case 'n': s.net = true; break;
		case 'k': ho.kernel = optarg; break;
		case 'q': ho.qemu = optarg; break;
		case 'i': ho.init = optarg; break;
		case 'a':
			if (vm_accel_parse(optarg, &ho.accel) < 0) {
				cli_error("--accel: want auto, kvm or tcg, not '%s'", optarg);
				return EXIT_RUNTIME;
			}
			break;
		case 'b': bg = true; break;
		case 'h': fputs(tc_usage, stdout); return 0;
		default: fputs(tc_usage, stderr); return EXIT_RUNTIME;
		}
	}
	if (optind != argc) {
		fputs(tc_usage, stderr);
		return EXIT_RUNTIME;
	}
	/* Templates talk to guest-init over virtio-serial. */
	ho.transport = VM_TRANSPORT_SERIAL;
	ho.cache_dir = cache;
	if ((r = mkdir_p_at(AT_FDCWD, cache, 0755)) < 0) {
		cli_error("creating %s: %s", cache, strerror(-r));
		return EXIT_RUNTIME;
	}
	if (vm_host_probe(&h, &ho, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	r = tmpl_build(ctx->root, &h, &s, key, &e);
	vm_host_release(&h);
	if (r == -EBUSY) {
		if (bg)
			return 0;
		cli_error("template %.12s is being built by another process", key);
		return EXIT_RUNTIME;
	}
	if (r < 0) {
		if (!bg)
			cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if (!bg)
		printf("%s\n", key);
	return 0;
}

static void tl_size(char *out, size_t cap, uint64_t b)
{
	if (b >= 10ull << 20)
		snprintf(out, cap, "%.0fMiB", (double)b / (1 << 20));
	else
		snprintf(out, cap, "%.1fMiB", (double)b / (1 << 20));
}

int cmd_template_ls(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt template ls [-q]\n"
				    "List templates: key, shape, RAM on tmpfs, state, age; STALE when a\n"
				    "file it was built from changed or its RAM is gone (prune removes it).\n";
	struct tmpl_info *v;
	struct err e = { 0 };
	bool quiet = false;
	size_t n;

	if (cli_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") != 0) {
			fputs(usage, stderr);
			return EXIT_RUNTIME;
		}
		quiet = true;
	}
	if (tmpl_list(ctx->root, &v, &n, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if (!quiet)
		printf("%-12s  %4s  %7s  %6s  %3s  %9s  %8s  %-8s  %s\n", "KEY", "CPUS", "MEMORY", "SHARES", "NET",
		       "RAM", "STATE", "CREATED", "STATUS");
	for (size_t i = 0; i < n; i++) {
		char ram[32], st[32], age[32];
		int64_t secs = v[i].created ? (int64_t)time(NULL) - v[i].created : -1;

		if (quiet) {
			printf("%s\n", v[i].key);
			continue;
		}
		tl_size(ram, sizeof(ram), v[i].ram_bytes);
		snprintf(st, sizeof(st), "%.0fKiB", (double)v[i].state_bytes / 1024);
		if (secs < 0)
			snprintf(age, sizeof(age), "?");
		else if (secs < 120)
			snprintf(age, sizeof(age), "%llds", (long long)secs);
		else if (secs < 7200)
			snprintf(age, sizeof(age), "%lldm", (long long)secs / 60);
		else
			snprintf(age, sizeof(age), "%lldh", (long long)secs / 3600);
		printf("%.12s  %4u  %4uMiB  %6u  %3s  %9s  %8s  %-8s  %s\n", v[i].key, v[i].shape.cpus,
		       v[i].shape.mem_mib, v[i].shape.nshares, v[i].shape.net ? "yes" : "no", ram, st, age,
		       v[i].stale ? "STALE" : "ok");
	}
	tmpl_list_free(v, n);
	return 0;
}

static bool tmpl_confirm(bool force, const char *what)
{
	char line[16];

	if (force)
		return true;
	if (!isatty(STDIN_FILENO)) {
		cli_error("%s: confirm with -f", what);
		return false;
	}
	fprintf(stderr, "%s? [y/N] ", what);
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

int cmd_template_rm(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt template rm [-f] KEY...\n"
				    "Remove templates by key (or a unique prefix of it, 4 digits or more);\n"
				    "running clones keep their memory. Asks on a terminal; -f: do not ask.\n";
	bool force = false;
	int first = 0, ret = 0;

	if (cli_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force"))
			force = true;
		else if (argv[i][0] == '-') {
			fputs(usage, stderr);
			return EXIT_RUNTIME;
		} else if (!first)
			first = i;
	}
	if (!first) {
		fputs(usage, stderr);
		return EXIT_RUNTIME;
	}
	if (!tmpl_confirm(force, "template rm removes templates"))
		return EXIT_RUNTIME;
	for (int i = first; i < argc; i++) {
		struct err e = { 0 };

		if (argv[i][0] == '-')
			continue;
		if (tmpl_remove(ctx->root, argv[i], &e) < 0) {
			cli_error("%s", err_msg(&e));
			ret = EXIT_RUNTIME;
		} else {
			printf("%s\n", argv[i]);
		}
	}
	return ret;
}

int cmd_template_prune(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt template prune [-f] [--all]\n"
				    "Remove stale templates (built from a QEMU, kernel or guest-init that\n"
				    "changed since, or whose RAM file is gone) and leftovers of builds\n"
				    "that died; --all: every template. Asks on a terminal; -f: do not ask.\n";
	bool force = false, all = false;
	struct err e = { 0 };
	unsigned removed;

	if (cli_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force"))
			force = true;
		else if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a"))
			all = true;
		else {
			fputs(usage, stderr);
			return EXIT_RUNTIME;
		}
	}
	if (!tmpl_confirm(force, all ? "Remove every template" : "Remove stale templates"))
		return EXIT_RUNTIME;
	if (tmpl_prune(ctx->root, all, &removed, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	printf("Removed %u templates\n", removed);
	return 0;
}
