/* `ucrt image ls|inspect|tag|rm|prune|save|load`: local operations on
 * the store (no reactor needed). */
#include "cli.h"
#include "cmd-image.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"

int cli_find_image(struct store *s, const char *what, struct store_image *out, struct err *err)
{
	return cli_find_image_platform(s, what, NULL, out, err);
}

int cli_find_image_platform(struct store *s, const char *what, const struct oci_platform *want,
			    struct store_image *out, struct err *err)
{
	int r = store_image_find_platform(s, what, want, out, err);
	if (r != -ENOENT)
		return r;
	struct oci_ref ref;
	if (oci_ref_parse(what, &ref, NULL) < 0)
		return r;
	_cleanup_free_ char *full = oci_ref_string(&ref);
	oci_ref_free(&ref);
	struct err e2 = { 0 };
	r = store_image_find_platform(s, full, want, out, &e2);
	/* A name stored only for other platforms says which. */
	if (r == -ENOENT && want && strstr(err_msg(&e2), "platform"))
		err_set(err, ENOENT, "%s", err_msg(&e2));
	else if (r == -ENOENT)
		err_set(err, ENOENT, "no such image: %s", what);
	return r;
}

static int open_store(struct cli_ctx *ctx, struct store **s)
{
	struct err e = { 0 };
	if (store_open(s, ctx->root, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return -1;
	}
	return 0;
}

static uint64_t image_size(struct store *s, const struct store_image *img)
{
	_cleanup_strv_ char **blobs = NULL;
	uint64_t total = 0, sz;
	if (store_closure(s, img->manifest, &blobs, NULL) < 0)
		return 0;
	for (char **b = blobs; b && *b; b++)
		if (store_blob_stat(s, *b, &sz) == 0)
			total += sz;
	return total;
}

int cmd_image_ls(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
					      { "quiet", no_argument, NULL, 'q' }, { 0 } };
	bool json = false, quiet = false;
	int c;
	if (cli_help(argc, argv, "Usage: ucrt image ls [--format table|json] [-q]\nList images, one line per platform.\n"))
		return 0;
	while ((c = getopt_long(argc, argv, "f:q", opts, NULL)) != -1) {
		if (c == 'f' && strcmp(optarg, "json") == 0)
			json = true;
		else if (c == 'q')
			quiet = true;
		else if (c == 'f' && strcmp(optarg, "table") == 0)
			json = false;
		else {
			cli_error("usage: ucrt image ls [--format table|json] [-q]");
			return EXIT_RUNTIME;
		}
	}
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0)
		return EXIT_RUNTIME;
	struct store_image *v;
	size_t n;
	struct err e = { 0 };
	if (store_image_list(s, &v, &n, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &b, true);
	if (json)
		jw_arr_begin(&w);
	else if (!quiet)
		printf("%-50s %-14s %-16s %-12s %s\n", "NAME", "IMAGE ID", "PLATFORM", "SIZE", "CREATED");
	for (size_t i = 0; i < n; i++) {
		/* -q prints ids only: no manifest walk and blob stats. */
		uint64_t size = json || !quiet ? image_size(s, &v[i]) : 0;
		if (json) {
			jw_obj_begin(&w);
			jw_key(&w, "name"), jw_str(&w, v[i].name);
			jw_key(&w, "id"), jw_str(&w, v[i].config ? v[i].config : "");
			jw_key(&w, "digest"), jw_str(&w, v[i].digest);
			jw_key(&w, "manifest"), jw_str(&w, v[i].manifest);
			jw_key(&w, "platform"), jw_str(&w, v[i].platform ? v[i].platform : "");
			jw_key(&w, "size"), jw_uint(&w, size);
			jw_key(&w, "created"), jw_int(&w, v[i].created);
			jw_obj_end(&w);
		} else if (quiet) {
			printf("%.12s\n", v[i].config ? v[i].config + 7 : "");
		} else {
			char when[32] = "-";
			time_t t = (time_t)v[i].created;
			struct tm tm;
			if (t && localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
			char sz[32];
			snprintf(sz, sizeof(sz), "%.1f MB", (double)size / 1e6);
			printf("%-50s %-14.12s %-16s %-12s %s\n", v[i].name, v[i].config ? v[i].config + 7 : "",
			       v[i].platform ? v[i].platform : "", sz, when);
		}
	}
	if (json) {
		jw_arr_end(&w);
		printf("%s\n", b.data);
	}
	store_images_free(v, n);
	return 0;
}

static void inspect_one(struct json_writer *w, struct store *s, const struct store_image *img)
{
	jw_obj_begin(w);
	jw_key(w, "Name"), jw_str(w, img->name);
	jw_key(w, "Id"), jw_str(w, img->config ? img->config : "");
	jw_key(w, "Digest"), jw_str(w, img->digest);
	jw_key(w, "Manifest"), jw_str(w, img->manifest);
	jw_key(w, "Platform"), jw_str(w, img->platform ? img->platform : "");
	jw_key(w, "Source"), jw_str(w, img->source ? img->source : "");
	jw_key(w, "Size"), jw_uint(w, image_size(s, img));
	_cleanup_free_ char *cfg = NULL, *man = NULL;
	size_t cl, ml;
	char chain[OCI_DIGEST_LEN + 1];
	if (img->config && store_image_chain_id(s, img->config, chain, NULL) == 0)
		jw_key(w, "ChainId"), jw_str(w, chain);
	if (store_blob_read(s, img->manifest, OCI_MAX_MANIFEST, &man, &ml, NULL) == 0)
		jw_key(w, "ManifestDocument"), jw_raw(w, man, ml);
	if (img->config && store_blob_read(s, img->config, OCI_MAX_CONFIG, &cfg, &cl, NULL) == 0)
		jw_key(w, "Config"), jw_raw(w, cfg, cl);
	jw_obj_end(w);
}

int cmd_image_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "platform", required_argument, NULL, 'p' },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	static const char usage[] = "usage: ucrt image inspect [--platform OS/ARCH[/VARIANT]] IMAGE...";
	struct oci_platform plat = { 0 };
	struct err pe = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("%s\nShow images' manifest and config as JSON; one name may hold an\n"
			       "image per platform (default: this host's).\n", usage);
			oci_platform_free(&plat);
			return 0;
		}
		if (c != 'p') {
			cli_error("%s", usage);
			oci_platform_free(&plat);
			return EXIT_RUNTIME;
		}
		oci_platform_free(&plat);
		if (oci_platform_parse(optarg, &plat, &pe) < 0) {
			cli_error("--platform: %s", err_msg(&pe));
			return EXIT_RUNTIME;
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 2) {
		cli_error("%s", usage);
		oci_platform_free(&plat);
		return EXIT_RUNTIME;
	}
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0) {
		oci_platform_free(&plat);
		return EXIT_RUNTIME;
	}
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &b, true);
	jw_arr_begin(&w);
	int ret = 0;
	for (int i = 1; i < argc; i++) {
		struct store_image img = { 0 };
		struct err e = { 0 };
		if (cli_find_image_platform(s, argv[i], plat.os ? &plat : NULL, &img, &e) < 0) {
			cli_error("%s", err_msg(&e));
			ret = EXIT_RUNTIME;
			continue;
		}
		inspect_one(&w, s, &img);
		store_image_free(&img);
	}
	jw_arr_end(&w);
	printf("%s\n", b.data);
	oci_platform_free(&plat);
	return ret;
}

int cmd_image_tag(struct cli_ctx *ctx, int argc, char **argv)
{
	if (cli_help(argc, argv, "Usage: ucrt image tag SOURCE TARGET\nGive an image another name.\n"))
		return 0;
	if (argc != 3) {
		cli_error("usage: ucrt image tag SOURCE TARGET");
		return EXIT_RUNTIME;
	}
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0)
		return EXIT_RUNTIME;
	struct store_image img = { 0 };
	struct oci_ref ref;
	struct err e = { 0 };
	int r = cli_find_image(s, argv[1], &img, &e);
	if (r >= 0)
		r = oci_ref_parse(argv[2], &ref, &e);
	if (r >= 0) {
		free(img.name);
		img.name = oci_ref_string(&ref);
		img.created = 0;
		oci_ref_free(&ref);
		r = store_image_set(s, &img, &e);
	}
	store_image_free(&img);
	if (r < 0)
		cli_error("tag: %s", err_msg(&e));
	return r < 0 ? EXIT_RUNTIME : 0;
}

int cmd_image_rm(struct cli_ctx *ctx, int argc, char **argv)
{
	if (cli_help(argc, argv, "Usage: ucrt image rm IMAGE...\nRemove image names (every platform of a name).\n"))
		return 0;
	if (argc < 2) {
		cli_error("usage: ucrt image rm IMAGE...");
		return EXIT_RUNTIME;
	}
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0)
		return EXIT_RUNTIME;
	int ret = 0;
	for (int i = 1; i < argc; i++) {
		struct store_image img = { 0 };
		struct err e = { 0 };
		int r = cli_find_image(s, argv[i], &img, &e);
		if (r >= 0)
			r = store_image_remove(s, img.name, &e);
		if (r < 0) {
			cli_error("rm: %s", err_msg(&e));
			ret = EXIT_RUNTIME;
		} else {
			printf("Untagged: %s\n", img.name);
		}
		store_image_free(&img);
	}
	return ret;
}

int cmd_image_prune(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "Usage: ucrt image prune [-f]\n"
				    "Remove blobs, partial downloads and image disks no image uses\n"
				    "(asks on a terminal; -f: do not ask).\n";
	bool force = false;
	char line[16];

	if (cli_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") != 0 && strcmp(argv[i], "--force") != 0) {
			fputs(usage, stderr);
			return EXIT_RUNTIME;
		}
		force = true;
	}
	if (!force && !isatty(STDIN_FILENO)) {
		cli_error("image prune deletes data: confirm with -f");
		return EXIT_RUNTIME;
	}
	if (!force) {
		fprintf(stderr, "Remove what no image uses? [y/N] ");
		if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
			return EXIT_RUNTIME;
	}
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0)
		return EXIT_RUNTIME;
	struct store_prune_stats st;
	struct err e = { 0 };
	if (store_prune(s, &st, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	printf("Removed %u blobs, %u partial downloads, %u image disks; reclaimed %.1f MB\n", st.blobs, st.ingest,
	       st.rootfs, (double)st.bytes / 1e6);
	return 0;
}

int cmd_image_save(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *out = NULL;
	int c;
	if (cli_help(argc, argv, "Usage: ucrt image save -o FILE.tar IMAGE...\nWrite images as an OCI layout tar.\n"))
		return 0;
	while ((c = getopt(argc, argv, "o:")) != -1) {
		if (c != 'o') {
			cli_error("usage: ucrt image save -o FILE.tar IMAGE...");
			return EXIT_RUNTIME;
		}
		out = optarg;
	}
	if (optind >= argc) {
		cli_error("usage: ucrt image save -o FILE.tar IMAGE...");
		return EXIT_RUNTIME;
	}
	if (!out && isatty(STDOUT_FILENO)) {
		cli_error("save: refusing to write a tar to a terminal; use -o FILE or a redirect");
		return EXIT_RUNTIME;
	}
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0)
		return EXIT_RUNTIME;
	size_t n = (size_t)(argc - optind);
	struct store_image *imgs = xcalloc(n, sizeof(*imgs));
	struct err e = { 0 };
	int r = store_lock(s, false, true, &e);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = cli_find_image(s, argv[optind + (int)i], &imgs[i], &e);
	int fd = STDOUT_FILENO;
	if (r >= 0 && out) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			r = err_setx(&e, errno, "cannot create %s", out);
	}
	if (r >= 0)
		r = store_save(s, imgs, n, fd, &e);
	if (fd >= 0 && fd != STDOUT_FILENO && close(fd) < 0 && r >= 0)
		r = err_setx(&e, errno, "closing %s", out);
	store_images_free(imgs, n);
	if (r < 0)
		cli_error("save: %s", err_msg(&e));
	return r < 0 ? EXIT_RUNTIME : 0;
}

int cmd_image_load(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "input", required_argument, NULL, 'i' },
					      { "name", required_argument, NULL, 'n' }, { 0 } };
	const char *in = NULL, *name = NULL;
	int c;
	if (cli_help(argc, argv, "Usage: ucrt image load [-i FILE.tar] [--name NAME]\n"
			       "Read images from an OCI layout tar (standard input without -i).\n"))
		return 0;
	while ((c = getopt_long(argc, argv, "i:n:", opts, NULL)) != -1) {
		if (c == 'i')
			in = optarg;
		else if (c == 'n')
			name = optarg;
		else {
			cli_error("usage: ucrt image load [-i FILE.tar] [--name NAME]");
			return EXIT_RUNTIME;
		}
	}
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0)
		return EXIT_RUNTIME;
	struct err e = { 0 };
	int r = store_lock(s, false, true, &e);
	_cleanup_close_ int fd = in ? open(in, O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
	if (r >= 0 && fd < 0)
		r = err_setx(&e, errno, "cannot open %s", in ? in : "stdin");
	_cleanup_strv_ char **names = NULL;
	if (r >= 0)
		r = store_load(s, fd, name, &names, &e);
	if (r < 0) {
		cli_error("load: %s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	for (char **n = names; n && *n; n++)
		printf("Loaded image: %s\n", *n);
	return 0;
}
