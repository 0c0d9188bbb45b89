/* `ucrt __complete WORD...`: what may come next on the command line, one
 * candidate a line, for completions/ucrt.bash. The words are those after
 * `ucrt`, the last one being completed (possibly empty).
 *
 * A command's options come from the option table its own parser uses:
 * ucrt is linked with --wrap=getopt_long,--wrap=getopt, and while probing
 * the wrappers catch the tables the command hands to getopt and jump back
 * here before it parses anything. Commands parsing by hand get an argument
 * they refuse, so probing one does nothing (and has no options to offer). */
#include "cli.h"

#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "container/container.h"
#include "store/store.h"
#include "str.h"
#include "util.h"

int __real_getopt_long(int argc, char *const *argv, const char *shortopts, const struct option *longopts,
		       int *longind);
int __real_getopt(int argc, char *const *argv, const char *shortopts);
int __wrap_getopt_long(int argc, char *const *argv, const char *shortopts, const struct option *longopts,
		       int *longind);
int __wrap_getopt(int argc, char *const *argv, const char *shortopts);

static bool probing;
static jmp_buf probe_jmp;
static const char *probe_short;
static const struct option *probe_long;

int __wrap_getopt_long(int argc, char *const *argv, const char *shortopts, const struct option *longopts,
		       int *longind)
{
	if (probing) {
		probe_short = shortopts;
		probe_long = longopts;
		longjmp(probe_jmp, 1);
	}
	return __real_getopt_long(argc, argv, shortopts, longopts, longind);
}

int __wrap_getopt(int argc, char *const *argv, const char *shortopts)
{
	if (probing) {
		probe_short = shortopts;
		probe_long = NULL;
		longjmp(probe_jmp, 1);
	}
	return __real_getopt(argc, argv, shortopts);
}

/* The option tables cmd parses with (false: it parses by hand). */
static bool probe(struct cli_ctx *ctx, const struct cli_cmd *cmd)
{
	char name[64], arg[] = "--__complete-probe";
	char *argv[] = { name, arg, NULL };
	int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	bool got = false;

	snprintf(name, sizeof(name), "%s", cmd->name);
	fflush(stdout);
	if (null >= 0) {
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	probe_short = NULL;
	probe_long = NULL;
	optind = 1;
	probing = true;
	if (setjmp(probe_jmp) == 0)
		cmd->fn(ctx, 2, argv);
	else
		got = true;
	probing = false;
	optind = 1;
	fflush(stdout);
	fflush(stderr);
	if (out >= 0) {
		dup2(out, STDOUT_FILENO);
		close(out);
	}
	if (err >= 0) {
		dup2(err, STDERR_FILENO);
		close(err);
	}
	return got;
}

/* Does the option named by word take an argument (the next word)? */
static bool takes_arg(const char *word)
{
	if (str_startswith(word, "--")) {
		for (const struct option *o = probe_long; o && o->name; o++)
			if (strcmp(word + 2, o->name) == 0)
				return o->has_arg == required_argument;
		return false;
	}
	if (word[0] != '-' || !word[1] || !probe_short)
		return false;
	/* -abc: the last letter that takes an argument ends the cluster */
	for (const char *c = word + 1; *c; c++) {
		const char *p = strchr(probe_short, *c);
		if (p && *c != ':' && *c != '+' && p[1] == ':')
			return c[1] == 0;
	}
	return false;
}

static void print_options(void)
{
	for (const struct option *o = probe_long; o && o->name; o++)
		printf("--%s\n", o->name);
	for (const char *c = probe_short; c && *c; c++)
		if (*c != ':' && *c != '+' && *c != '-')
			printf("-%c\n", *c);
}

static void print_containers(struct cli_ctx *ctx)
{
	_cleanup_strv_ char **ids = NULL;
	if (ctr_list(ctx->root, &ids) < 0)
		return;
	for (char **id = ids; id && *id; id++) {
		struct ctr_config cfg;
		if (ctr_config_read(ctx->root, *id, &cfg, NULL) == 0) {
			printf("%s\n", cfg.name);
			ctr_config_free(&cfg);
		}
	}
}

static void print_images(struct cli_ctx *ctx)
{
	struct store *s;
	struct store_image *v;
	size_t n;
	if (store_open(&s, ctx->root, NULL) < 0)
		return;
	if (store_image_list(s, &v, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i].name);
		store_images_free(v, n);
	}
	store_close(s);
}

/* What a command's operands are. */
static void print_operands(struct cli_ctx *ctx, const struct cli_cmd *cmd)
{
	static const char *const on_containers[] = { "logs", "exec", "stop", "kill", "rm", "inspect", "stats",
						     "start", "restart", "wait", "attach", "top", "port", "cp" };
	static const char *const on_images[] = { "run", "create", "pull", "push", "rmi", "tag" };
	if (cmd->group && strcmp(cmd->group, "image") == 0) {
		print_images(ctx);
		return;
	}
	if (cmd->group)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(on_containers); i++)
		if (strcmp(cmd->name, on_containers[i]) == 0)
			print_containers(ctx);
	for (size_t i = 0; i < ARRAY_SIZE(on_images); i++)
		if (strcmp(cmd->name, on_images[i]) == 0)
			print_images(ctx);
}

static const struct cli_cmd *find(const char *group, const char *name)
{
	for (const struct cli_cmd *k = cli_commands; k->name; k++)
		if (k->name[0] != '_' && strcmp(k->name, name) == 0 &&
		    (group ? k->group && strcmp(k->group, group) == 0 : !k->group))
			return k;
	return NULL;
}

static bool is_group(const char *w)
{
	for (const struct cli_cmd *k = cli_commands; k->name; k++)
		if (k->group && strcmp(k->group, w) == 0)
			return true;
	return false;
}

int cmd_complete(struct cli_ctx *ctx, int argc, char **argv)
{
	/* argv[1..argc-1] are the words; the last is being completed */
	int i = 1, last = argc - 1;
	if (argc < 2)
		return 0;
	/* global options before the command (--root DIR changes the store) */
	while (i < last && argv[i][0] == '-') {
		if ((strcmp(argv[i], "--root") == 0 || strcmp(argv[i], "--log-level") == 0) && i + 1 < last) {
			if (argv[i][2] == 'r')
				ctx->root = argv[i + 1];
			i++;
		}
		i++;
	}
	if (i == last) {
		if (argv[i][0] == '-') {
			printf("--root\n--log-level\n--help\n--version\n");
			return 0;
		}
		const char *prev = NULL;
		for (const struct cli_cmd *k = cli_commands; k->name; k++) {
			const char *w = k->group ? k->group : k->name;
			if (w[0] == '_' || (prev && strcmp(prev, w) == 0))
				continue;
			/* a group once, however many commands it has */
			bool seen = false;
			for (const struct cli_cmd *j = cli_commands; j < k; j++)
				seen = seen || (j->group && k->group && strcmp(j->group, k->group) == 0);
			if (!seen)
				printf("%s\n", w);
			prev = w;
		}
		return 0;
	}
	const struct cli_cmd *cmd;
	if (is_group(argv[i])) {
		if (i + 1 == last) {
			for (const struct cli_cmd *k = cli_commands; k->name; k++)
				if (k->group && strcmp(k->group, argv[i]) == 0)
					printf("%s\n", k->name);
			return 0;
		}
		cmd = find(argv[i], argv[i + 1]);
		i += 2;
	} else {
		cmd = find(NULL, argv[i]);
		i++;
	}
	if (!cmd)
		return 0;
	bool have = probe(ctx, cmd);
	/* after an option that takes a value: the shell's own (files) */
	if (have && last > i && takes_arg(argv[last - 1]))
		return 0;
	if (argv[last][0] == '-') {
		if (have)
			print_options();
		return 0;
	}
	print_operands(ctx, cmd);
	return 0;
}
