/* `ucrt image ls|inspect|tag|rm|prune|save|load`: local operations on
 * the store (no reactor needed). */
#include "cli.h"
#include "cmd-image.h"
#include "cli-format.h"

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

/* The name as docker shows it: Docker Hub's default domain and library/
 * dropped; split into repository and tag (or "<none>" for a digest). */
static void image_repo_tag(const char *name, char **repo, char **tag)
{
	const char *n = name;
	if (str_startswith(n, "docker.io/library/"))
		n += strlen("docker.io/library/");
	else if (str_startswith(n, "docker.io/"))
		n += strlen("docker.io/");
	const char *at = strchr(n, '@');
	const char *slash = strrchr(n, '/');
	const char *colon = strrchr(slash ? slash : n, ':');
	if (at) {
		*repo = xstrndup(n, (size_t)(at - n));
		*tag = xstrdup("<none>");
	} else if (colon) {
		*repo = xstrndup(n, (size_t)(colon - n));
		*tag = xstrdup(colon + 1);
	} else {
		*repo = xstrdup(n);
		*tag = xstrdup("<none>");
	}
}

/* `image ls REPO[:TAG]`: the stored name's repository (as given or in
 * full form) and, when given, its tag. */
static bool image_ls_match(const char *name, const char *want)
{
	struct oci_ref a, b;
	bool ok = false;

	if (!want)
		return true;
	if (oci_ref_parse(name, &a, NULL) < 0)
		return false;
	if (oci_ref_parse(want, &b, NULL) == 0) {
		_cleanup_free_ char *na = oci_ref_name(&a);
		_cleanup_free_ char *nb = oci_ref_name(&b);
		/* oci_ref_parse fills "latest" in; only a tag written counts */
		bool tagged = strchr(strrchr(want, '/') ? strrchr(want, '/') : want, ':') != NULL;
		ok = strcmp(na, nb) == 0 && (!tagged || (a.tag && b.tag && strcmp(a.tag, b.tag) == 0));
		oci_ref_free(&b);
	}
	oci_ref_free(&a);
	return ok;
}

static void image_ls_row(struct buf *b, struct store *s, const struct store_image *img, bool trunc, bool sizes)
{
	struct json_writer w;
	_cleanup_free_ char *repo = NULL, *tag = NULL;
	char when[40], ago[48], size[32];
	const char *id = img->config ? img->config : "";

	image_repo_tag(img->name, &repo, &tag);
	jw_init(&w, b, false);
	jw_obj_begin(&w);
	cli_rfc3339(when, sizeof(when), img->created);
	cli_ago(ago, sizeof(ago), img->created);
	/* -q prints ids only: no manifest walk and blob stats */
	cli_human_size(size, sizeof(size), sizes ? (double)image_size(s, img) : 0);
	jw_key(&w, "CreatedAt"), jw_str(&w, when);
	jw_key(&w, "CreatedSince"), jw_str(&w, ago);
	jw_key(&w, "Digest"), jw_str(&w, img->digest ? img->digest : "");
	if (trunc && str_startswith(id, "sha256:"))
		jw_key(&w, "ID"), jw_strn(&w, id + 7, strlen(id + 7) < 12 ? strlen(id + 7) : 12);
	else
		jw_key(&w, "ID"), jw_str(&w, id);
	jw_key(&w, "Manifest"), jw_str(&w, img->manifest ? img->manifest : "");
	jw_key(&w, "Name"), jw_str(&w, img->name);
	jw_key(&w, "Platform"), jw_str(&w, img->platform ? img->platform : "");
	jw_key(&w, "Repository"), jw_str(&w, repo);
	jw_key(&w, "Size"), jw_str(&w, size);
	jw_key(&w, "Tag"), jw_str(&w, tag);
	jw_obj_end(&w);
}

static const char image_ls_usage[] =
	"Usage: ucrt image ls [-q] [--no-trunc] [--format FORMAT] [REPOSITORY[:TAG]]\n"
	"List images, one line per platform (only REPOSITORY's, or that tag's).\n"
	"  -q, --quiet      image ids only\n"
	"      --no-trunc   full image ids\n"
	"      --format F   table, json (one object a line), table TEMPLATE or\n"
	"                   TEMPLATE: fields .Repository .Tag .ID .Digest .Platform\n"
	"                   .CreatedAt .CreatedSince .Size .Name (docs/format.md)\n";

static const struct cli_header image_ls_headers[] = {
	{ "ID", "IMAGE ID" }, { "CreatedSince", "CREATED" }, { "CreatedAt", "CREATED AT" }, { NULL, NULL }
};

int cmd_image_ls(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_NOTRUNC = 256 };
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
					      { "quiet", no_argument, NULL, 'q' },
					      { "no-trunc", no_argument, NULL, O_NOTRUNC },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	const char *format = NULL;
	bool quiet = false, trunc = true;
	int c, status = 0;
	if (cli_help(argc, argv, image_ls_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "f:qh", opts, NULL)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'q')
			quiet = true;
		else if (c == O_NOTRUNC)
			trunc = false;
		else {
			fputs(image_ls_usage, stderr);
			return EXIT_RUNTIME;
		}
	}
	if (argc - optind > 1) {
		fputs(image_ls_usage, stderr);
		return EXIT_RUNTIME;
	}
	const char *want = optind < argc ? argv[optind] : NULL;
	struct oci_ref wref;
	if (want && oci_ref_parse(want, &wref, NULL) < 0) {
		cli_error("image ls: '%s' is not a repository name", want);
		return EXIT_RUNTIME;
	}
	if (want)
		oci_ref_free(&wref);
	struct cli_fmt f;
	if (cli_fmt_init(&f, quiet ? "{{.ID}}" : format,
			 "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Platform}}\t{{.CreatedSince}}\t{{.Size}}",
			 image_ls_headers) < 0)
		return EXIT_RUNTIME;
	_cleanup_store_ struct store *s = NULL;
	if (open_store(ctx, &s) < 0) {
		cli_fmt_free(&f);
		return EXIT_RUNTIME;
	}
	struct store_image *v;
	size_t n;
	struct err e = { 0 };
	if (store_image_list(s, &v, &n, &e) < 0) {
		cli_error("%s", err_msg(&e));
		cli_fmt_free(&f);
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < n && !status; i++) {
		if (!image_ls_match(v[i].name, want))
			continue;
		_cleanup_buf_ struct buf row = BUF_INIT;
		image_ls_row(&row, s, &v[i], trunc, !quiet);
		if (cli_fmt_row(&f, row.data, row.len) < 0)
			status = EXIT_RUNTIME;
	}
	if (!status)
		cli_fmt_end(&f);
	cli_fmt_free(&f);
	store_images_free(v, n);
	return status;
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
	if (img->config && store_image_chain_id(s, img->config, NULL, chain, NULL) == 0)
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
	char freed[32];
	cli_human_size(freed, sizeof(freed), (double)st.bytes);
	printf("Removed %u blobs, %u partial downloads, %u image disks\nTotal reclaimed space: %s\n", st.blobs,
	       st.ingest, st.rootfs, freed);
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
