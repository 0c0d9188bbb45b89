/* The host facts `ucrt version` and `ucrt info` print (host-info.c). */
#ifndef UCRT_CLI_HOST_INFO_H
#define UCRT_CLI_HOST_INFO_H

#include <stdbool.h>
#include <stdint.h>

struct cli_ctx;
struct err;

struct cli_host_info {
	char qemu[512], qemu_version[64];
	char kernel[512], kernel_version[64];
	bool kernel_builtin;		/* ucrt's own kernel */
	char init[512], init_version[64];
	bool kvm;
	char accel_note[200];		/* why TCG, or "" */
};

/* What a run would use (vm_host_probe), with versions. -1 with err when
 * no QEMU, kernel or guest-init is found. */
int cli_host_info(struct cli_ctx *ctx, struct cli_host_info *hi, struct err *err);
/* A run on TCG says why once per store, at the default log level (the
 * marker <root>/vm/tcg-noticed remembers); later runs say it at info. */
void cli_accel_notice(struct cli_ctx *ctx, const char *note);
/* Bytes allocated under path (0 when absent). */
uint64_t cli_du(const char *path);

#endif
