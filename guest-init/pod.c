/* A Kubernetes pod's container in the pod's VM (docs/scale-out.md): the
 * host shares the container's root filesystem (and its mounts, already
 * in place on the host) under /run/ucrt-pod/<id>/rootfs; its processes
 * run chrooted there. Each gets a mount namespace of its own, so the
 * /proc, /sys and /dev put under that root vanish with the process and
 * nothing is left to clean up in the guest when the container goes. The
 * containers of one pod share the VM, its network and its pid space, as
 * the containers of a Kata pod do. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"

static __attribute__((noreturn)) void gi_pod_fail(const char *what, const char *path, int err)
{
	dprintf(STDERR_FILENO, "ucrt: pod container: %s %s: %s\n", what, path, strerror(err));
	_exit(126);
}

static void gi_pod_mount(const char *root, const char *dir, const char *src, const char *type,
			 unsigned long flags)
{
	char path[PROTO_MAX_PATH + 16];

	snprintf(path, sizeof(path), "%s%s", root, dir);
	/* The host made these in a read-only root; a writable one may lack them. */
	mkdir(path, 0755);
	if (mount(src, path, type, flags, NULL) < 0)
		gi_pod_fail("mounting", dir, errno);
}

void gi_pod_enter(const char *root)
{
	if (unshare(CLONE_NEWNS) < 0)
		gi_pod_fail("unshare", "mount namespace", errno);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		gi_pod_fail("making private", "/", errno);
	gi_pod_mount(root, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	gi_pod_mount(root, "/sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
	gi_pod_mount(root, "/dev", "/dev", NULL, MS_BIND | MS_REC);
	if (chroot(root) < 0)
		gi_pod_fail("chroot to", root, errno);
	if (chdir("/") < 0)
		gi_pod_fail("chdir to", "/", errno);
}
