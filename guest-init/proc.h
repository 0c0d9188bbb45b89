/* guest-init: process specs and spawning (proc.c). */
#ifndef UCRT_GI_PROC_H
#define UCRT_GI_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "gi.h"

struct gi_spec {
	char **argv;		/* NULL-terminated, at least one */
	char **envp;		/* NULL-terminated */
	char *cwd;		/* NULL: "/" */
	char *root;		/* PROTO_A_ROOT (pod.c), NULL: the guest's root */
	uint32_t uid, gid;
	gid_t groups[PROTO_MAX_GROUPS];
	size_t ngroups;
	bool tty, stdin_open, have_ws;
	uint16_t ws[4];		/* rows, cols, xpixel, ypixel */
	char *arena;		/* one allocation behind all of the above */
};

int gi_spec_parse(struct gi_spec *s, const uint8_t *p, size_t len, char *msg, size_t msglen);
void gi_spec_free(struct gi_spec *s);

struct gi_child {
	pid_t pid;
	int in_fd;		/* our end of its stdin, or -1 */
	int out_fd[3];		/* [1] stdout (the pty master with a tty), [2] stderr */
};

/* In the child, before the user changes: a mount namespace of its own
 * with the guest's /proc, /sys and /dev under root, then chroot there
 * (pod.c). Exits 126 with the reason on stderr when it cannot. */
void gi_pod_enter(const char *root);

/* Fork and exec; the child's fds are nonblocking on our side. */
int gi_spawn(const struct gi_spec *s, struct gi_child *c, char *msg, size_t msglen);

#endif
