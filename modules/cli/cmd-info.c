/* `ucrt info`: what this host can run, and how. Today: the platforms, each
 * native or emulated by qemu-user inside the VM (docs/platforms.md). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "container/container.h"
#include "json.h"
#include "util.h"

static const char *info_how(const struct ctr_platform_info *p)
{
	if (p->how == CTR_PLATFORM_NATIVE)
		return "native";
	return p->how == CTR_PLATFORM_EMULATED ? "emulated" : "unsupported";
}

int cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	static const char usage[] = "usage: ucrt info [--format table|json]";
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("%s\nThe platforms this host runs images of: natively, or emulated by\n"
			       "qemu-user inside the VM (from the Debian package qemu-user-static).\n", usage);
			return 0;
		}
		if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0)) {
			json = strcmp(optarg, "json") == 0;
			continue;
		}
		cli_error("%s", usage);
		return EXIT_RUNTIME;
	}
	if (optind != argc) {
		cli_error("%s", usage);
		return EXIT_RUNTIME;
	}
	struct ctr_platform_info p[16];
	size_t n = ctr_platforms(p, ARRAY_SIZE(p));
	if (json) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		struct json_writer w;
		jw_init(&w, &b, true);
		jw_obj_begin(&w);
		jw_key(&w, "platforms");
		jw_arr_begin(&w);
		for (size_t i = 0; i < n; i++) {
			jw_obj_begin(&w);
			jw_key(&w, "platform"), jw_str(&w, p[i].platform);
			jw_key(&w, "how"), jw_str(&w, info_how(&p[i]));
			if (p[i].how == CTR_PLATFORM_EMULATED) {
				jw_key(&w, "emulator"), jw_str(&w, p[i].emulator);
				jw_key(&w, "available"), jw_bool(&w, p[i].emulator_found);
			}
			jw_obj_end(&w);
		}
		jw_arr_end(&w);
		jw_obj_end(&w);
		printf("%s\n", b.data);
		return 0;
	}
	printf("%-16s %-10s %s\n", "PLATFORM", "HOW", "EMULATOR");
	for (size_t i = 0; i < n; i++)
		printf("%-16s %-10s %s%s\n", p[i].platform, info_how(&p[i]), p[i].emulator,
		       p[i].how == CTR_PLATFORM_EMULATED && !p[i].emulator_found ?
			       " (missing: install the Debian package qemu-user-static)" : "");
	return 0;
}
