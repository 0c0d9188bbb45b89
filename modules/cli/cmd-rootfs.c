/* `ucrt rootfs build`: apply layer files, in order, into an ext4 image.
 * A thin shell over modules/ext4 (used by tests and benchmarks). The
 * writer runs in a fiber on the reactor, as it does during a pull, so the
 * image's blocks go out through io_uring with write-behind. */
#include "cli.h"

#include "err.h"
#include "ext4/ext4.h"
#include "fiber.h"
#include "log.h"
#include "loop.h"
#include "str.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void rootfs_usage(FILE *f)
{
	fprintf(f, "Usage: ucrt rootfs build [--size S] [--no-fsync] [--max-entry-size S]\n"
		   "           [--max-layer-size S] [--max-ratio N] -o OUT.ext4 LAYER.tar[.gz|.zst]...\n"
		   "Apply the layers in order into a new ext4 image OUT.ext4.\n");
}

static int parse_size_opt(const char *name, const char *s, uint64_t *out)
{
	if (str_to_size(s, out) < 0 || *out == 0) {
		cli_error("invalid %s '%s' (want a size like 512M or 4G)", name, s);
		return -EINVAL;
	}
	return 0;
}

/* Layer files, opened again for each (re)build of the image. */
struct rootfs_files {
	char **paths;
	int fd;
};

static int rootfs_open(void *arg, size_t i, struct ext4w_source *src, struct err *err)
{
	struct rootfs_files *f = arg;
	f->fd = open(f->paths[i], O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return err_setx(err, errno, "%s", f->paths[i]);
	*src = (struct ext4w_source){
		.read = ext4w_fd_read, .arg = (void *)(intptr_t)f->fd, .name = f->paths[i],
	};
	return 0;
}

static void rootfs_close(void *arg, size_t i)
{
	struct rootfs_files *f = arg;
	close(f->fd);
	f->fd = -1;
}

static int build(const char *out, uint64_t size, const struct ext4w_opts *o, char **layers, int n)
{
	struct err e = { 0 };
	bool grow = !size;
	if (!size) {
		uint64_t total = 0;
		for (int i = 0; i < n; i++) {
			uint64_t est;
			int r = ext4w_estimate_file(layers[i], &est);
			if (r < 0) {
				cli_error("%s: %s", layers[i], strerror(-r));
				return EXIT_RUNTIME;
			}
			total += est;
		}
		size = ext4w_size_for(total);
	}
	struct rootfs_files f = { .paths = layers, .fd = -1 };
	struct ext4w_layers ls = { .n = (size_t)n, .open = rootfs_open, .close = rootfs_close, .arg = &f };
	struct ext4w_stats st = { 0 };
	/* A --size given is kept (a full image then fails, saying what the
	 * layers need); an estimated one grows when the layers need more. */
	if (ext4w_build(out, size, grow, o, &ls, &st, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	log_info("%s: %llu entries, %llu bytes of tar from %llu, %llu writes", out,
		 (unsigned long long)st.entries, (unsigned long long)st.bytes_out,
		 (unsigned long long)st.bytes_in, (unsigned long long)st.writes);
	return 0;
}

/* libarchive and libext2fs run on this stack. */
#define ROOTFS_STACK (1u << 20)

struct rootfs_job {
	const char *out;
	uint64_t size;
	const struct ext4w_opts *o;
	char **layers;
	int n;
	int status;
};

static void rootfs_fiber(void *arg)
{
	struct rootfs_job *j = arg;
	j->status = build(j->out, j->size, j->o, j->layers, j->n);
}

int cmd_rootfs_build(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "no-fsync", no_argument, NULL, 'F' },
		{ "max-entry-size", required_argument, NULL, 'E' },
		{ "max-layer-size", required_argument, NULL, 'L' },
		{ "max-ratio", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct ext4w_opts o = { .fsync = true };
	const char *out = NULL;
	uint64_t size = 0, v;
	int c;
	while ((c = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 's':
			if (parse_size_opt("--size", optarg, &size) < 0)
				return EXIT_RUNTIME;
			break;
		case 'F':
			o.fsync = false;
			break;
		case 'E':
			if (parse_size_opt("--max-entry-size", optarg, &o.max_entry_size) < 0)
				return EXIT_RUNTIME;
			break;
		case 'L':
			if (parse_size_opt("--max-layer-size", optarg, &o.max_layer_bytes) < 0)
				return EXIT_RUNTIME;
			break;
		case 'R':
			if (str_to_u64(optarg, &v) < 0 || v == 0 || v > UINT32_MAX) {
				cli_error("invalid --max-ratio '%s'", optarg);
				return EXIT_RUNTIME;
			}
			o.max_ratio = (uint32_t)v;
			break;
		case 'h':
			rootfs_usage(stdout);
			return 0;
		default:
			rootfs_usage(stderr);
			return EXIT_RUNTIME;
		}
	}
	if (!out || optind >= argc) {
		rootfs_usage(stderr);
		return EXIT_RUNTIME;
	}
	struct rootfs_job j = {
		.out = out, .size = size, .o = &o, .layers = argv + optind, .n = argc - optind,
		.status = EXIT_RUNTIME,
	};
	o.loop = cli_loop();
	fiber_spawn(o.loop, rootfs_fiber, &j, ROOTFS_STACK);
	int r = loop_run(o.loop);
	if (r < 0) {
		cli_error("reactor: %s", strerror(-r));
		return EXIT_RUNTIME;
	}
	return j.status;
}
