/* Kubernetes pods (pod.c): the role from the CRI's annotations, the VM
 * sized from the pod's resources, the paths, the exec target of a pod's
 * container, and the host side of a container's root: its bind mount,
 * mounts placed inside it (a symlink in the image resolved inside the
 * root, never out of it), read-only, and the teardown that removes no
 * data behind a mount. Mounting needs root: those parts skip without it. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static void t_role(void)
{
	char *sb[] = { "io.kubernetes.cri.container-type", "sandbox", "io.kubernetes.cri.sandbox-id", "abc", NULL };
	char *ct[] = { "io.kubernetes.cri.container-type", "container", "io.kubernetes.cri.sandbox-id", "abc", NULL };
	char *crio[] = { "io.kubernetes.cri-o.ContainerType", "container", "io.kubernetes.cri-o.SandboxID", "s1", NULL };
	char *bad[] = { "io.kubernetes.cri.container-type", "container", "io.kubernetes.cri.sandbox-id", "../x", NULL };
	char *other[] = { "io.podman.x", "1", NULL };
	const char *s;

	t_is(ctr_pod_role(sb, &s), CTR_POD_SANDBOX, "containerd's sandbox");
	t_is(ctr_pod_role(ct, &s), CTR_POD_MEMBER, "containerd's container");
	t_streq(s, "abc", "... of its sandbox");
	t_is(ctr_pod_role(crio, &s), CTR_POD_MEMBER, "CRI-O's annotations");
	t_is(ctr_pod_role(bad, &s), CTR_POD_NONE, "a sandbox id that is no id: not a pod");
	t_is(ctr_pod_role(other, &s), CTR_POD_NONE, "no CRI annotations");
	t_is(ctr_pod_role(NULL, &s), CTR_POD_NONE, "no annotations");
}

static void t_size(void)
{
	char *a[] = { "io.kubernetes.cri.sandbox-cpu-quota", "250000", "io.kubernetes.cri.sandbox-cpu-period", "100000",
		      "io.kubernetes.cri.sandbox-memory", "402653184", NULL };
	char *small[] = { "io.kubernetes.cri.sandbox-memory", "1048576", "io.kubernetes.cri.sandbox-cpu-quota", "0", NULL };
	struct ctr_bundle b = { .cfg = { .cpus = 1, .mem_mib = 256 } };

	b.annotations = a;
	ctr_pod_size(&b);
	t_ok(b.cfg.cpus == 3 && b.cfg.mem_mib == 384, "2.5 CPUs -> 3 vCPUs, 384 MiB (%u, %u)", b.cfg.cpus, b.cfg.mem_mib);
	b.cfg.cpus = 1;
	b.annotations = small;
	ctr_pod_size(&b);
	t_ok(b.cfg.cpus == 1 && b.cfg.mem_mib == 128, "no quota: vCPUs kept; 1 MiB -> the 128 MiB floor");
	b.annotations = NULL;
}

static void t_paths(void)
{
	char *p = ctr_pod_dir("/r", "sb", NULL), *q = ctr_pod_dir("/r", "sb", "c1"), *g = ctr_pod_guest_root("c1");

	t_streq(p, "/r/pods/sb", "pod directory");
	t_streq(q, "/r/pods/sb/c1", "container directory");
	t_streq(g, "/run/ucrt-pod/c1/rootfs", "root in the guest");
	free(p);
	free(q);
	free(g);
}

static __attribute__((format(printf, 1, 2))) void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		t_diag("failed: %s", cmd);
}

/* The host side with a fake sandbox (its state: this process). */
static void t_member(void)
{
	char dir[] = "/tmp/ucrt-t-pod.XXXXXX", path[512];
	struct ctr_state st = { .status = CTR_RUNNING, .owner = getpid(), .exit_code = -1, .qemu = 0 };
	struct ctr_bundle sbx = { 0 }, b = { 0 };
	struct err e = { 0 };
	char *target = NULL, *groot = NULL;
	struct stat s;

	if (geteuid() != 0 || !mkdtemp(dir)) {
		t_ok(1, "# SKIP mounts need root");
		return;
	}
	st.owner_start = ctr_proc_start_time(st.owner);
	/* rootfs with a hostile symlink; a volume; a file to bind */
	sh("mkdir -p %s/root/containers/sb %s/root/containers/c1 %s/rootfs/etc %s/vol %s/escape && "
	   "ln -s %s/escape %s/rootfs/evil", dir, dir, dir, dir, dir, dir, dir);
	sh("echo 10.0.0.1 h >%s/hosts && echo keep >%s/vol/data && touch %s/rootfs/etc/hosts", dir, dir, dir);
	snprintf(path, sizeof(path), "%s/root", dir);
	t_ok(ctr_state_write(path, "sb", &st) == 0, "a running sandbox's state");
	t_ok(ctr_pod_sandbox_prepare(path, "sb", &sbx, &e) == 0, "sandbox prepared: %s", err_msg(&e));
	t_ok(sbx.cfg.nmounts == 1 && sbx.cfg.mounts[0].pod && strcmp(sbx.cfg.mounts[0].dst, "/run/ucrt-pod") == 0,
	     "the pod share is a mount of the sandbox");
	ctr_bundle_free(&sbx);

	b.cfg.root_dir = xasprintf("%s/rootfs", dir);
	b.cfg.read_only = true;
	b.cfg.mounts = xcalloc(3, sizeof(*b.cfg.mounts));
	b.cfg.mounts[0] = (struct ctr_mount){ .type = CTR_MOUNT_BIND, .src = xasprintf("%s/hosts", dir),
					      .dst = xstrdup("/etc/hosts"), .readonly = true };
	b.cfg.mounts[1] = (struct ctr_mount){ .type = CTR_MOUNT_BIND, .src = xasprintf("%s/vol", dir),
					      .dst = xstrdup("/evil/data") };
	b.cfg.mounts[2] = (struct ctr_mount){ .type = CTR_MOUNT_TMPFS, .dst = xstrdup("/scratch"), .opts = xstrdup("size=1m") };
	b.cfg.nmounts = 3;
	err_clear(&e);
	int pr = ctr_pod_member_prepare(path, "c1", "sb", &b, &e);
	t_ok(pr == 0, "member prepared: %d %s", pr, err_msg(&e));
	snprintf(path, sizeof(path), "%s/root/pods/sb/c1/rootfs/etc/hosts", dir);
	char *text = NULL;
	size_t len;
	t_ok(read_file_at(AT_FDCWD, path, 100, &text, &len) == 0 && strcmp(text, "10.0.0.1 h\n") == 0,
	     "/etc/hosts bound in its root");
	free(text);
	snprintf(path, sizeof(path), "%s/root/pods/sb/c1/rootfs%s/escape/data/data", dir, dir);
	t_ok(stat(path, &s) == 0, "a mount below a symlink lands inside the root");
	snprintf(path, sizeof(path), "%s/escape/data", dir);
	t_ok(stat(path, &s) < 0, "... not where the symlink points on the host");
	snprintf(path, sizeof(path), "%s/root/pods/sb/c1/rootfs/newfile", dir);
	t_ok(open(path, O_CREAT | O_WRONLY, 0644) < 0 && errno == EROFS, "the root is read-only");
	snprintf(path, sizeof(path), "%s/root/pods/sb/c1/rootfs/scratch/x", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	t_ok(fd >= 0, "its tmpfs is writable");
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/root", dir);
	t_is(ctr_pod_exec_target(path, "c1", &target, &groot), 1, "exec into the container goes to its sandbox");
	t_ok(target && strcmp(target, "sb") == 0 && groot && strcmp(groot, "/run/ucrt-pod/c1/rootfs") == 0,
	     "... with its root");
	free(target);
	free(groot);
	groot = NULL;
	t_is(ctr_pod_exec_target(path, "sb", &target, &groot), 0, "the sandbox itself is no member");
	ctr_pod_sandbox_teardown(path, "sb");
	snprintf(path, sizeof(path), "%s/root/pods/sb", dir);
	t_ok(stat(path, &s) < 0, "teardown: the pod directory is gone");
	snprintf(path, sizeof(path), "%s/vol/data", dir);
	t_ok(stat(path, &s) == 0, "... and the volume's data is untouched");
	ctr_bundle_free(&b);
	/* a sandbox that does not run */
	st.owner = 1;
	snprintf(path, sizeof(path), "%s/root", dir);
	ctr_state_write(path, "sb", &st);
	b.cfg.root_dir = xasprintf("%s/rootfs", dir);
	err_clear(&e);
	t_ok(ctr_pod_member_prepare(path, "c2", "sb", &b, &e) < 0 && strstr(e.msg, "not running"),
	     "no running sandbox: refused (%s)", e.msg);
	ctr_bundle_free(&b);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	t_ok(system(path) == 0, "cleanup");
}

int main(void)
{
	t_role();
	t_size();
	t_paths();
	t_member();
	return t_done();
}
