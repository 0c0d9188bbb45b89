/* `ucrt-oci`: the runc-compatible command line (docs/oci-runtime.md).
 * The same binary as `ucrt`; main.c picks this one by program name,
 * because podman, conmon and containerd call `<runtime> [global
 * options] create ...` with runc's syntax. */
#ifndef UCRT_CLI_OCI_H
#define UCRT_CLI_OCI_H

#include <stdbool.h>

#define OCI_PROG "ucrt-oci"
#define OCI_DEFAULT_ROOT "/run/ucrt-oci"

struct oci_ctx {
	const char *root;		/* --root: state of every container */
	const char *log;		/* --log FILE, NULL: stderr only */
	bool log_json;			/* --log-format json */
};

int oci_main(int argc, char **argv);

/* An error for the user: stderr, and --log in the format asked for
 * (podman and containerd show the last JSON line's "msg"). */
void oci_error(const struct oci_ctx *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set in the per-container process when stderr is the --log file: errors
 * are then written to it once, in the log's format. */
extern bool oci_quiet_stderr;

/* The commands (oci-cmds.c, oci-exec.c); argv[0] is the command name. */
int oci_create(struct oci_ctx *o, int argc, char **argv);
int oci_start(struct oci_ctx *o, int argc, char **argv);
int oci_run(struct oci_ctx *o, int argc, char **argv);
int oci_state(struct oci_ctx *o, int argc, char **argv);
int oci_kill(struct oci_ctx *o, int argc, char **argv);
int oci_delete(struct oci_ctx *o, int argc, char **argv);
int oci_list(struct oci_ctx *o, int argc, char **argv);
int oci_ps(struct oci_ctx *o, int argc, char **argv);
int oci_exec(struct oci_ctx *o, int argc, char **argv);
int oci_features(struct oci_ctx *o, int argc, char **argv);

/* Shared by the commands (oci-cmds.c). */
bool oci_id_valid(const char *id);
/* The pid file: the decimal PID without a newline, as runc writes it,
 * renamed into place so a reader never sees it half-written. */
int oci_write_pid_file(const char *path, int pid);
/* Send fd over the unix socket at path (runc's --console-socket). */
int oci_send_console(const char *path, int fd, const char *name);

#endif
