/* ucrt volume create|ls|inspect|rm|prune: named volumes (modules/volume). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "cli-format.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"
#include "volume/volume.h"

/* Removing a volume loses its data: ask on a terminal, else need -f. */
static bool vol_confirm(const char *what, bool force)
{
	char line[16];

	if (force)
		return true;
	if (!isatty(STDIN_FILENO)) {
		cli_error("%s deletes data: confirm with -f", what);
		return false;
	}
	fprintf(stderr, "%s deletes data. Continue? [y/N] ", what);
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

static int vol_help(const char *usage, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s", usage);
			return 1;
		}
	}
	return 0;
}

int cmd_volume_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"Usage: ucrt volume create [--size SIZE] [--opt size=SIZE] [--from LAYER.tar[.gz|.zst]] NAME\n"
		"Create a named volume: an ext4 disk in the store (sparse, default size 8G),\n"
		"empty or holding the files of a tar layer.\n";
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' }, { "opt", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *from = NULL, *size_arg = NULL;
	uint64_t size = 0;
	struct err e = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			printf("%s", usage);
			return 0;
		} else if (c == 's') {
			size_arg = optarg;
		} else if (c == 'o' && str_startswith(optarg, "size=")) {
			size_arg = optarg + 5;
		} else if (c == 'f') {
			from = optarg;
		} else {
			if (c == 'o')
				cli_error("volume create: unknown --opt %s (known: size=SIZE)", optarg);
			fprintf(stderr, "%s", usage);
			return EXIT_RUNTIME;
		}
	}
	if (size_arg && (str_to_size(size_arg, &size) < 0 || size < (16u << 20))) {
		cli_error("volume create: size \"%s\": give at least 16M, like 512M or 20G", size_arg);
		return EXIT_RUNTIME;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s", usage);
		return EXIT_RUNTIME;
	}
	if (volume_create(ctx->root, argv[optind], size, from, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	printf("%s\n", argv[optind]);
	return 0;
}

static void vol_json(struct json_writer *w, const struct volume *v)
{
	jw_obj_begin(w);
	jw_key(w, "Name");
	jw_str(w, v->name);
	jw_key(w, "Driver");
	jw_str(w, "local");
	jw_key(w, "Mountpoint");
	jw_str(w, v->disk);
	jw_key(w, "Size");
	jw_uint(w, v->size);
	jw_key(w, "Used");
	jw_uint(w, v->used);
	char when[40];
	cli_rfc3339(when, sizeof(when), v->created);
	jw_key(w, "CreatedAt");
	jw_str(w, when);
	jw_key(w, "InUse");
	jw_bool(w, volume_in_use(v->disk));
	jw_obj_end(w);
}

/* A `volume ls` row: sizes as docker prints them (12.3MB). */
static void vol_row(struct buf *b, const struct volume *v)
{
	struct json_writer w;
	char size[32], used[32], when[40];

	cli_human_size(size, sizeof(size), (double)v->size);
	cli_human_size(used, sizeof(used), (double)v->used);
	cli_rfc3339(when, sizeof(when), v->created);
	jw_init(&w, b, false);
	jw_obj_begin(&w);
	jw_key(&w, "CreatedAt"), jw_str(&w, when);
	jw_key(&w, "Driver"), jw_str(&w, "local");
	jw_key(&w, "InUse"), jw_bool(&w, volume_in_use(v->disk));
	jw_key(&w, "Mountpoint"), jw_str(&w, v->disk);
	jw_key(&w, "Name"), jw_str(&w, v->name);
	jw_key(&w, "Scope"), jw_str(&w, "local");
	jw_key(&w, "Size"), jw_str(&w, size);
	jw_key(&w, "Used"), jw_str(&w, used);
	jw_obj_end(&w);
}

static const struct cli_header vol_headers[] = {
	{ "Name", "VOLUME NAME" }, { "InUse", "IN USE" }, { "CreatedAt", "CREATED AT" }, { NULL, NULL }
};

int cmd_volume_ls(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] =
		"Usage: ucrt volume ls [-q] [--format FORMAT]\n"
		"List named volumes.\n"
		"  -q, --quiet     names only\n"
		"      --format F  table, json (one object a line), table TEMPLATE or TEMPLATE:\n"
		"                  fields .Name .Size .Used .InUse .Mountpoint .Driver\n"
		"                  .CreatedAt (docs/format.md)\n";
	_cleanup_strv_ char **names = NULL;
	const char *format = NULL;
	bool quiet = false;
	struct err e = { 0 };
	int status = 0;

	if (vol_help(usage, argc, argv))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			format = argv[++i];
		} else if (str_startswith(argv[i], "--format=")) {
			format = argv[i] + strlen("--format=");
		} else {
			fprintf(stderr, "%s", usage);
			return EXIT_RUNTIME;
		}
	}
	struct cli_fmt f;
	if (cli_fmt_init(&f, quiet ? "{{.Name}}" : format, "table {{.Name}}\t{{.Size}}\t{{.Used}}\t{{.InUse}}",
			 vol_headers) < 0)
		return EXIT_RUNTIME;
	if (volume_list(ctx->root, &names, &e) < 0) {
		cli_error("%s", err_msg(&e));
		cli_fmt_free(&f);
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; names && names[i] && !status; i++) {
		struct volume v;
		if (volume_get(ctx->root, names[i], &v, NULL) < 0)
			continue;
		_cleanup_buf_ struct buf row = BUF_INIT;
		vol_row(&row, &v);
		if (cli_fmt_row(&f, row.data, row.len) < 0)
			status = EXIT_RUNTIME;
		volume_free(&v);
	}
	if (!status)
		cli_fmt_end(&f);
	cli_fmt_free(&f);
	return status;
}

int cmd_volume_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt volume inspect NAME...\nShow volumes as JSON.\n";
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	int ret = 0;

	if (vol_help(usage, argc, argv))
		return 0;
	if (argc < 2) {
		fprintf(stderr, "%s", usage);
		return EXIT_RUNTIME;
	}
	jw_init(&w, &b, true);
	jw_arr_begin(&w);
	for (int i = 1; i < argc; i++) {
		struct volume v;
		struct err e = { 0 };
		if (volume_get(ctx->root, argv[i], &v, &e) < 0) {
			cli_error("%s", err_msg(&e));
			ret = EXIT_RUNTIME;
			continue;
		}
		vol_json(&w, &v);
		volume_free(&v);
	}
	jw_arr_end(&w);
	printf("%s\n", b.data);
	return ret;
}

int cmd_volume_rm(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt volume rm [-f] NAME...\n"
				    "Remove volumes and their data (-f: do not ask). A volume in use stays.\n";
	bool force = false;
	int ret = 0, first = 1;

	if (vol_help(usage, argc, argv))
		return 0;
	if (argc > 1 && (strcmp(argv[1], "-f") == 0 || strcmp(argv[1], "--force") == 0)) {
		force = true;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "%s", usage);
		return EXIT_RUNTIME;
	}
	if (!vol_confirm("removing volumes", force))
		return EXIT_RUNTIME;
	for (int i = first; i < argc; i++) {
		struct err e = { 0 };
		if (volume_remove(ctx->root, argv[i], &e) < 0) {
			cli_error("%s", err_msg(&e));
			ret = EXIT_RUNTIME;
		} else {
			printf("%s\n", argv[i]);
		}
	}
	return ret;
}

/* Is volume name named by a container that still exists? */
static bool vol_referenced(const char *root, const char *name)
{
	_cleanup_strv_ char **ids = NULL;
	bool found = false;

	if (ctr_list(root, &ids) < 0)
		return true;	/* cannot tell: keep it */
	for (size_t i = 0; !found && ids && ids[i]; i++) {
		struct ctr_config c;
		if (ctr_config_read(root, ids[i], &c, NULL) < 0)
			continue;
		for (size_t j = 0; j < c.nmounts; j++)
			found |= c.mounts[j].type == CTR_MOUNT_VOLUME && strcmp(c.mounts[j].src, name) == 0;
		ctr_config_free(&c);
	}
	return found;
}

int cmd_volume_prune(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt volume prune [-f]\n"
				    "Remove every volume that no container uses or names (-f: do not ask).\n";
	_cleanup_strv_ char **names = NULL;
	bool force = argc > 1 && (strcmp(argv[1], "-f") == 0 || strcmp(argv[1], "--force") == 0);
	struct err e = { 0 };
	unsigned n = 0;

	if (vol_help(usage, argc, argv))
		return 0;
	if (argc > (force ? 2 : 1)) {
		fprintf(stderr, "%s", usage);
		return EXIT_RUNTIME;
	}
	if (!vol_confirm("pruning unused volumes", force))
		return EXIT_RUNTIME;
	if (volume_list(ctx->root, &names, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; names && names[i]; i++) {
		if (vol_referenced(ctx->root, names[i]) || volume_remove(ctx->root, names[i], NULL) < 0)
			continue;
		printf("%s\n", names[i]);
		n++;
	}
	fprintf(stderr, "Removed %u volumes\n", n);
	return 0;
}
