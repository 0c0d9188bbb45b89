/* `ucrt bundle create IMAGE DIR [CMD...]`: an OCI bundle (config.json +
 * rootfs) from an image, for Slurm's `--container DIR` and any OCI
 * runtime (docs/scale-out.md). The image is pulled when missing, as for
 * `ucrt run`; the process is the image's unless told otherwise. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "util.h"

static const char bundle_usage[] =
	"Usage: ucrt bundle create [OPTIONS] IMAGE DIR [COMMAND [ARG...]]\n"
	"Write an OCI runtime bundle for IMAGE into DIR (created if missing, must not\n"
	"hold a bundle): DIR/config.json from the image's config and DIR/rootfs.\n"
	"For Slurm (srun/sbatch --container DIR) with ucrt-oci, or any OCI runtime.\n"
	"\nOptions:\n"
	"      --disk             DIR/rootfs is the image's ext4 disk (attached\n"
	"                         read-only by ucrt-oci; no unpacking) instead of\n"
	"                         the unpacked tree (a directory, shared over 9p)\n"
	"      --writable         root.readonly false (directory root only)\n"
	"  -e, --env K=V          set an environment variable (K alone: from here)\n"
	"      --entrypoint CMD   override the image's entrypoint (\"\" for none)\n"
	"  -w, --workdir DIR      working directory in the container\n"
	"  -u, --user USER[:GRP]  user (names resolved in the image)\n"
	"      --cpus N           vCPUs (linux.resources.cpu)\n"
	"  -m, --memory SIZE      guest memory (linux.resources.memory)\n"
	"      --pull missing|never  pull IMAGE when it is not in the store (default)\n"
	"      --tls-verify=false plain HTTP / unverified TLS for the registry\n"
	"  -q, --quiet            no pull progress\n";

enum { O_DISK = 256, O_WRITABLE, O_ENTRYPOINT, O_CPUS, O_PULL, O_TLS };

static const struct option bundle_longopts[] = {
	{ "disk", no_argument, NULL, O_DISK },
	{ "writable", no_argument, NULL, O_WRITABLE },
	{ "env", required_argument, NULL, 'e' },
	{ "entrypoint", required_argument, NULL, O_ENTRYPOINT },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "memory", required_argument, NULL, 'm' },
	{ "pull", required_argument, NULL, O_PULL },
	{ "tls-verify", required_argument, NULL, O_TLS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int cmd_bundle_create(struct cli_ctx *ctx, int argc, char **argv)
{
	struct ctr_overrides ov = { 0 };
	struct ctr_image_opts io = { .pull_missing = true, .tls_verify = true };
	struct ctr_bundle_make mk = { 0 };
	struct ctr_image img = { 0 };
	struct ctr_spec spec = { 0 };
	_cleanup_(strv_freep) char **env = NULL;
	struct err e = { 0 };
	uint64_t v;
	int c, r;

	if (cli_help(argc, argv, bundle_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "+e:w:u:m:qh", bundle_longopts, NULL)) != -1) {
		switch (c) {
		case O_DISK: mk.as_disk = true; break;
		case O_WRITABLE: mk.writable = true; break;
		case 'e':
			if (ctr_env_arg(&env, optarg, cli_getenv, &e) < 0) {
				cli_error("%s", err_msg(&e));
				return EXIT_RUNTIME;
			}
			break;
		case O_ENTRYPOINT:
			ov.entrypoint = optarg;
			ov.entrypoint_set = true;
			break;
		case 'w': ov.workdir = optarg; break;
		case 'u': ov.user = optarg; break;
		case O_CPUS:
			if (str_to_u64(optarg, &v) < 0 || v < 1 || v > 64) {
				cli_error("invalid --cpus '%s' (want 1 to 64)", optarg);
				return EXIT_RUNTIME;
			}
			mk.cpus = (unsigned)v;
			break;
		case 'm':
			if (str_to_size(optarg, &v) < 0 || v < (64u << 20) || v > (1ull << 40)) {
				cli_error("invalid --memory '%s' (want a size from 64M, like 512M or 2G)", optarg);
				return EXIT_RUNTIME;
			}
			mk.mem_mib = (unsigned)(v >> 20);
			break;
		case O_PULL:
			if (strcmp(optarg, "missing") && strcmp(optarg, "never")) {
				cli_error("invalid --pull '%s' (want missing or never)", optarg);
				return EXIT_RUNTIME;
			}
			io.pull_missing = strcmp(optarg, "never") != 0;
			break;
		case O_TLS: io.tls_verify = strcmp(optarg, "false") != 0; break;
		case 'q': io.quiet = true; break;
		case 'h': fputs(bundle_usage, stdout); return 0;
		default: fputs(bundle_usage, stderr); return EXIT_RUNTIME;
		}
	}
	if (argc - optind < 2) {
		cli_error("\"ucrt bundle create\" requires an image and a directory: "
			  "ucrt bundle create [OPTIONS] IMAGE DIR [COMMAND [ARG...]]");
		return EXIT_RUNTIME;
	}
	if (mk.as_disk && mk.writable) {
		cli_error("--writable: an ext4 root (--disk) is always attached read-only");
		return EXIT_RUNTIME;
	}
	ov.env = env;
	ov.cmd = argc - optind > 2 ? argv + optind + 2 : NULL;
	mk.dir = argv[optind + 1];
	r = ctr_image_get(cli_loop(), ctx->root, argv[optind], &io, &img, &e);
	if (r == 0 && (r = ctr_spec_build(img.config, &ov, &spec, &e)) == 0)
		r = ctr_spec_resolve_user(&spec, img.disk, &e);
	if (r == 0) {
		mk.spec = &spec;
		mk.disk = img.disk;
		mk.image_ref = img.ref;
		mk.image_id = img.id;
		r = ctr_bundle_make(&mk, &e);
	}
	if (r < 0)
		cli_error("%s", err_msg(&e));
	else if (!io.quiet)
		fprintf(stderr, "bundle %s: %s root, %s\n", mk.dir, mk.as_disk ? "ext4 disk" : "directory",
			img.ref);
	ctr_spec_free(&spec);
	ctr_image_release(&img);
	return r < 0 ? EXIT_RUNTIME : 0;
}
