/* `ucrt version`: the client and what a run would boot (QEMU, kernel,
 * guest-init) with their versions; `ucrt --version` is the one line. */
#include "cli.h"
#include "host-info.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "json.h"

static const char version_usage[] =
	"Usage: ucrt version [--format json]\n"
	"Versions of ucrt and of the QEMU, guest kernel and guest-init a run uses.\n";

int cmd_version(struct cli_ctx *ctx, int argc, char **argv)
{
	bool json = false;

	if (argc == 0) {	/* ucrt --version */
		printf("ucrt version %s\n", UCRT_VERSION);
		return 0;
	}
	if (cli_help(argc, argv, version_usage))
		return 0;
	if (argc == 3 && strcmp(argv[1], "--format") == 0 && strcmp(argv[2], "json") == 0) {
		json = true;
	} else if (argc != 1) {
		fputs(version_usage, stderr);
		return EXIT_RUNTIME;
	}
	struct cli_host_info hi;
	struct err e = { 0 };
	bool have = cli_host_info(ctx, &hi, &e) == 0;
	if (json) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		struct json_writer w;
		jw_init(&w, &b, true);
		jw_obj_begin(&w);
		jw_key(&w, "Client"), jw_obj_begin(&w);
		jw_key(&w, "Version"), jw_str(&w, UCRT_VERSION);
		jw_obj_end(&w);
		if (have) {
			const struct { const char *k, *v, *path; } parts[] = {
				{ "Qemu", hi.qemu_version, hi.qemu },
				{ "Kernel", hi.kernel_version, hi.kernel },
				{ "GuestInit", hi.init_version, hi.init },
			};
			for (size_t i = 0; i < 3; i++) {
				jw_key(&w, parts[i].k), jw_obj_begin(&w);
				jw_key(&w, "Version"), jw_str(&w, parts[i].v);
				jw_key(&w, "Path"), jw_str(&w, parts[i].path);
				jw_obj_end(&w);
			}
		} else {
			jw_key(&w, "Error"), jw_str(&w, err_msg(&e));
		}
		jw_obj_end(&w);
		printf("%s\n", b.data);
		return 0;
	}
	printf("Client:      ucrt %s\n", UCRT_VERSION);
	if (!have) {
		printf("VM:          not usable: %s\n", err_msg(&e));
		return 0;
	}
	printf("QEMU:        %s (%s)\n", hi.qemu_version, hi.qemu);
	printf("Kernel:      %s (%s%s)\n", hi.kernel_version, hi.kernel_builtin ? "ucrt's own, " : "", hi.kernel);
	printf("Guest-init:  %s (%s)\n", hi.init_version, hi.init);
	return 0;
}
