/* `ucrt image pull|push` and `ucrt login|logout`: thin wrappers over
 * modules/registry with per-layer progress bars on a terminal. */
#include "cli.h"
#include "cmd-image.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "loop.h"
#include "registry/registry.h"
#include "str.h"
#include "util.h"

enum { OPT_TLS = 1000, OPT_CERT, OPT_CREDS, OPT_AUTHFILE, OPT_JOBS, OPT_PLATFORM, OPT_RETRIES, OPT_CHUNK,
       OPT_STALL, OPT_STDIN };	/* up to OPT_STALL in xfer_opts' order: it names them */

static const struct option xfer_opts[] = {
	{ "tls-verify", required_argument, NULL, OPT_TLS },
	{ "cert-dir", required_argument, NULL, OPT_CERT },
	{ "creds", required_argument, NULL, OPT_CREDS },
	{ "authfile", required_argument, NULL, OPT_AUTHFILE },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "chunk-size", required_argument, NULL, OPT_CHUNK },
	{ "stall-timeout", required_argument, NULL, OPT_STALL },
	{ "quiet", no_argument, NULL, 'q' },
	{ "username", required_argument, NULL, 'u' },
	{ "password", required_argument, NULL, 'p' },
	{ "password-stdin", no_argument, NULL, OPT_STDIN },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

struct xfer_args {
	struct reg_opts ro;
	const char *platform, *user, *pass;
	bool quiet, pass_stdin;
};

/* Returns 0, or the exit status on a usage error. */
static int parse_xfer(int argc, char **argv, struct xfer_args *a, const char *usage)
{
	reg_opts_default(&a->ro);
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "qu:p:h", xfer_opts, NULL)) != -1) {
		switch (c) {
		case OPT_TLS:
			a->ro.tls_verify = !(strcmp(optarg, "false") == 0 || strcmp(optarg, "0") == 0);
			break;
		case OPT_CERT: a->ro.cert_dir = optarg; break;
		case OPT_CREDS: a->ro.creds = optarg; break;
		case OPT_AUTHFILE: a->ro.auth_file = optarg; break;
		case OPT_PLATFORM: a->platform = optarg; break;
		case OPT_JOBS:
		case OPT_RETRIES:
		case OPT_CHUNK:
		case OPT_STALL:
			if ((c == OPT_CHUNK ? str_to_size(optarg, &v) : str_to_u64(optarg, &v)) < 0 || v == 0 ||
			    v > (c == OPT_CHUNK ? (1ull << 32) : c == OPT_STALL ? REG_STALL_TIMEOUT_MAX : REG_RETRIES_MAX)) {
				cli_error("invalid value '%s' for --%s", optarg, xfer_opts[c - OPT_TLS].name);
				return EXIT_RUNTIME;
			}
			if (c == OPT_JOBS)
				a->ro.jobs = (unsigned)v;
			else if (c == OPT_RETRIES)
				a->ro.retries = (unsigned)v;
			else if (c == OPT_STALL)
				a->ro.stall_timeout_s = (unsigned)v;
			else
				a->ro.chunk_size = (size_t)v;
			break;
		case 'q': a->quiet = true; break;
		case 'u': a->user = optarg; break;
		case 'p': a->pass = optarg; break;
		case OPT_STDIN: a->pass_stdin = true; break;
		case 'h':
			printf("Usage: %s\n", usage);
			return -1;
		default:
			fprintf(stderr, "Usage: %s\n", usage);
			return EXIT_RUNTIME;
		}
	}
	return 0;
}

struct xfer_job {
	struct reg_client *rc;
	struct store *s;
	struct oci_ref ref;
	struct oci_platform plat;
	struct store_image img;
	struct cli_progress pg;
	struct reg_pull_result res;
	char digest[OCI_DIGEST_LEN + 1];
	const char *user, *pass;
	int r;
	struct err err;
};

static void push_fn(void *arg)
{
	struct xfer_job *j = arg;
	struct reg_push_opts po = { cli_progress_event, &j->pg };
	j->r = reg_push(j->rc, j->s, &j->img, &j->ref, &po, j->digest, &j->err);
}

static void login_fn(void *arg)
{
	struct xfer_job *j = arg;
	j->r = reg_login_check(j->rc, j->ref.domain, j->user, j->pass, &j->err);
}

/* Open the store (shared lock) and the client, run fn in a fiber. */
static int run_job(struct cli_ctx *ctx, struct xfer_job *j, const struct reg_opts *ro, void (*fn)(void *))
{
	struct loop *l = cli_loop();
	cli_progress_init(&j->pg, stdout, j->pg.quiet);
	if (!j->s && (j->r = store_open(&j->s, ctx->root, &j->err)) < 0)
		return j->r;
	if ((j->r = store_lock(j->s, false, true, &j->err)) < 0)
		return j->r;
	if ((j->r = reg_client_new(&j->rc, l, ro, &j->err)) < 0)
		return j->r;
	int r = reg_run(l, fn, j);
	if (r < 0 && j->r >= 0)
		j->r = err_setx(&j->err, r, "event loop");
	reg_client_free(j->rc);
	/* Let curl's closed sockets' cancelled polls complete. */
	loop_drain(l);
	cli_progress_end(&j->pg);
	return j->r;
}

static void job_free(struct xfer_job *j)
{
	oci_ref_free(&j->ref);
	oci_platform_free(&j->plat);
	store_image_free(&j->img);
	if (j->s)
		store_close(j->s);
}

int cmd_image_pull(struct cli_ctx *ctx, int argc, char **argv)
{
	struct xfer_args a = { 0 };
	int r = parse_xfer(argc, argv, &a, "ucrt image pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] "
					   "[--cert-dir DIR] [--creds USER:PASS] [--authfile FILE] [--jobs N] [--retries N] "
					   "[--stall-timeout SECONDS] [-q] IMAGE");
	if (r)
		return r < 0 ? 0 : r;
	if (optind != argc - 1) {
		cli_error("image pull: expected one image reference");
		return EXIT_RUNTIME;
	}
	struct xfer_job j = { .pg.quiet = a.quiet };
	if (oci_ref_parse(argv[optind], &j.ref, &j.err) < 0 ||
	    (a.platform && oci_platform_parse(a.platform, &j.plat, &j.err) < 0)) {
		cli_error("%s", err_msg(&j.err));
		job_free(&j);
		return EXIT_RUNTIME;
	}
	/* The image's disk is written while the layers download. */
	struct ctr_pull_opts po = { .reg = &a.ro, .platform = a.platform ? &j.plat : NULL,
				    .progress = cli_progress_event, .progress_arg = &j.pg, .stream_disk = true };
	cli_progress_init(&j.pg, stdout, a.quiet);
	if ((r = store_open(&j.s, ctx->root, &j.err)) >= 0 && (r = store_lock(j.s, false, true, &j.err)) >= 0)
		r = ctr_pull(cli_loop(), j.s, &j.ref, &po, &j.res, &j.err);
	cli_progress_end(&j.pg);
	if (r < 0) {
		cli_error("pulling %s: %s", argv[optind], err_msg(&j.err));
	} else if (a.quiet) {
		printf("%s\n", j.res.digest);
	} else {
		_cleanup_free_ char *name = oci_ref_string(&j.ref);
		printf("Pulled %s\nDigest: %s\nImage ID: %.19s\n", name, j.res.digest, j.res.config);
	}
	job_free(&j);
	return r < 0 ? EXIT_RUNTIME : 0;
}

int cmd_image_push(struct cli_ctx *ctx, int argc, char **argv)
{
	struct xfer_args a = { 0 };
	int r = parse_xfer(argc, argv, &a, "ucrt image push [--tls-verify=false] [--cert-dir DIR] [--creds USER:PASS] "
					   "[--jobs N] [--chunk-size SIZE] [--retries N] [--stall-timeout SECONDS] [-q] "
					   "IMAGE [DESTINATION]");
	if (r)
		return r < 0 ? 0 : r;
	if (optind != argc - 1 && optind != argc - 2) {
		cli_error("image push: expected IMAGE [DESTINATION]");
		return EXIT_RUNTIME;
	}
	struct xfer_job j = { .pg.quiet = a.quiet };
	const char *src = argv[optind], *dst = optind == argc - 2 ? argv[optind + 1] : src;
	if (oci_ref_parse(dst, &j.ref, &j.err) < 0 || store_open(&j.s, ctx->root, &j.err) < 0 ||
	    cli_find_image(j.s, src, &j.img, &j.err) < 0) {
		cli_error("push: %s", err_msg(&j.err));
		job_free(&j);
		return EXIT_RUNTIME;
	}
	r = run_job(ctx, &j, &a.ro, push_fn);
	if (r < 0)
		cli_error("pushing %s: %s", dst, err_msg(&j.err));
	else
		printf(a.quiet ? "%s\n" : "Pushed, digest: %s\n", j.digest);
	job_free(&j);
	return r < 0 ? EXIT_RUNTIME : 0;
}

static char *read_password_stdin(void)
{
	char line[4096];
	if (!fgets(line, sizeof(line), stdin))
		return NULL;
	line[strcspn(line, "\r\n")] = 0;
	return xstrdup(line);
}

int cmd_login(struct cli_ctx *ctx, int argc, char **argv)
{
	struct xfer_args a = { 0 };
	int r = parse_xfer(argc, argv, &a, "ucrt login [-u USER] [-p PASS | --password-stdin] [--authfile FILE] "
					   "[--tls-verify=false] [--cert-dir DIR] REGISTRY");
	if (r)
		return r < 0 ? 0 : r;
	if (optind != argc - 1) {
		cli_error("login: expected one REGISTRY");
		return EXIT_RUNTIME;
	}
	/* docker asks on a terminal for what the command line did not give */
	_cleanup_free_ char *asked_user = !a.user && !a.pass_stdin ? cli_prompt("Username: ", true) : NULL;
	const char *user = a.user ? a.user : asked_user;
	if (!user || !*user) {
		cli_error("login: give a user with -u (or type it on a terminal)");
		return EXIT_RUNTIME;
	}
	_cleanup_free_ char *pass = a.pass ? xstrdup(a.pass) : a.pass_stdin ? read_password_stdin() :
						     cli_prompt("Password: ", false);
	if (!pass || !*pass) {
		cli_error("login: give a password with -p or --password-stdin (or type it on a terminal)");
		return EXIT_RUNTIME;
	}
	struct xfer_job j = { .pg.quiet = true, .user = user, .pass = pass };
	j.ref.domain = xstrdup(argv[optind]);
	a.ro.creds = NULL;
	r = run_job(ctx, &j, &a.ro, login_fn);
	_cleanup_free_ char *file = a.ro.auth_file ? xstrdup(a.ro.auth_file) : reg_auth_file_default();
	if (r >= 0)
		r = reg_auth_store(file, argv[optind], user, pass, &j.err);
	if (r < 0)
		cli_error("%s", err_msg(&j.err));
	else
		printf("Login Succeeded\n");
	job_free(&j);
	return r < 0 ? EXIT_RUNTIME : 0;
}

int cmd_logout(struct cli_ctx *ctx, int argc, char **argv)
{
	struct xfer_args a = { 0 };
	int r = parse_xfer(argc, argv, &a, "ucrt logout [--authfile FILE] REGISTRY");
	if (r)
		return r < 0 ? 0 : r;
	if (optind != argc - 1) {
		cli_error("logout: expected one REGISTRY");
		return EXIT_RUNTIME;
	}
	struct err e = { 0 };
	_cleanup_free_ char *file = a.ro.auth_file ? xstrdup(a.ro.auth_file) : reg_auth_file_default();
	if (reg_auth_remove(file, argv[optind], &e) < 0) {
		cli_error("logout: %s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	printf("Removed login credentials for %s\n", argv[optind]);
	return 0;
}
