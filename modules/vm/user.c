/* Who QEMU runs as. QEMU parses what a hostile guest sends (virtio rings,
 * 9p requests, MMIO), so when ucrt is root each QEMU becomes an
 * unprivileged user before exec: no capabilities, no_new_privs, only the
 * fds ucrt opened for it. docs/security.md states what this defends. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

static bool vm_is_root_name(const char *name)
{
	return strcmp(name, "root") == 0 || strcmp(name, "0") == 0;
}

/* A name, or a number without a passwd entry (its gid is then the same
 * number, as for docker's --user). */
static int vm_user_lookup(const char *name, uid_t *uid, gid_t *gid, struct err *err)
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	uint64_t n;
	int r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);

	if (r == 0 && res) {
		*uid = res->pw_uid;
		*gid = res->pw_gid;
		return 0;
	}
	if (str_to_u64(name, &n) == 0 && n < UINT32_MAX) {
		*uid = (uid_t)n;
		*gid = (gid_t)n;
		return 0;
	}
	return err_set(err, ENOENT,
		       "QEMU user '%s' does not exist: create it (make install or ./configure --install-deps "
		       "add '" VM_QEMU_USER "'; or: useradd --system --no-create-home --shell /usr/sbin/nologin "
		       "%s), or pick one with --qemu-user or UCRT_QEMU_USER",
		       name, name);
}

/* What a 9p server that keeps real ownership does as root: create and
 * chown files for any uid, read and write whatever the guest's own checks
 * allowed, set the mode bits and make device nodes. */
#define VM_FILE_CAPS                                                                               \
	((1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_DAC_READ_SEARCH) |        \
	 (1ull << CAP_FOWNER) | (1ull << CAP_FSETID) | (1ull << CAP_MKNOD))

int vm_qemu_user_resolve(struct vm_host *h, const char *name, bool owns_files, struct err *err)
{
	struct stat st;
	int r;

	h->root_caps = 0;
	h->drop = false;
	h->uid = geteuid();
	h->gid = getegid();
	h->kvm_gid = (gid_t)-1;
	snprintf(h->user, sizeof(h->user), "uid %u", (unsigned)h->uid);
	if (h->uid != 0) {
		uid_t u;
		gid_t g;
		/* Rootless: QEMU is the invoking user's process anyway. */
		if (name && (vm_user_lookup(name, &u, &g, err) < 0 || u != h->uid))
			return err_set(err, EPERM, "--qemu-user %s: only root can run QEMU as another user", name);
		return 0;
	}
	if ((!name || !*name) && owns_files) {
		snprintf(h->user, sizeof(h->user), "root (file capabilities only)");
		h->root_caps = VM_FILE_CAPS;
		return 0;
	}
	if (!name || !*name)
		name = VM_QEMU_USER;
	if (vm_is_root_name(name)) {
		snprintf(h->user, sizeof(h->user), "root");
		return 0;
	}
	r = vm_user_lookup(name, &h->uid, &h->gid, err);
	if (r < 0)
		return r;
	snprintf(h->user, sizeof(h->user), "%s", name);
	if (h->uid == 0) {
		h->gid = 0;
		return 0;
	}
	h->drop = true;
	/* QEMU opens /dev/kvm itself (7.2 takes no fd for it): its group,
	 * and no other, becomes QEMU's supplementary group. */
	if (h->accel == VM_ACCEL_KVM && stat("/dev/kvm", &st) == 0 && st.st_gid != h->gid)
		h->kvm_gid = st.st_gid;
	return 0;
}

bool vm_user_can_read(const struct vm_host *h, const char *path)
{
	struct stat st;

	if (!h->drop)
		return true;
	if (stat(path, &st) < 0)
		return false;
	if (st.st_uid == h->uid)
		return st.st_mode & S_IRUSR;
	if (st.st_gid == h->gid || (h->kvm_gid != (gid_t)-1 && st.st_gid == h->kvm_gid))
		return st.st_mode & S_IRGRP;
	return st.st_mode & S_IROTH;
}

/* Between fork and exec (async-signal-safe calls only): "pre what: errno"
 * goes to QEMU's stderr pipe, which ucrt logs (debug) and shows when QEMU
 * "exits". False when even that failed. */
static bool vm_child_say(const char *pre, const char *what)
{
	const char *e = strerror(errno);

	return write(2, pre, strlen(pre)) >= 0 && write(2, what, strlen(what)) >= 0 &&
	       write(2, ": ", 2) >= 0 && write(2, e, strlen(e)) >= 0 && write(2, "\n", 1) >= 0;
}

static void vm_child_fail(const char *what)
{
	vm_child_say("ucrt: cannot start QEMU unprivileged: ", what);
	_exit(127);
}

void vm_ns_proc(void)
{
	/* Slave first: host mounts still propagate in, but the /proc below
	 * must never propagate out to the host's (shared) mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		vm_child_say("ucrt: QEMU keeps the host's /proc: ", "making / a slave mount");
		return;
	}
	/* Refused where a container masks parts of the host's /proc (the
	 * kernel's mount_too_revealing); QEMU then still runs in its own
	 * PID namespace. */
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		vm_child_say("ucrt: QEMU keeps the host's /proc: ", "mounting proc");
}

/* Cut the bounding set to keep (bits of CAP_*), so that nothing QEMU
 * execs (it may not: -sandbox spawn=deny) could get a capability back. */
static void vm_capbset_keep(uint64_t keep)
{
	for (int cap = 0; cap <= 63; cap++) {
		if (keep & (1ull << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;		/* past the kernel's last capability */
			vm_child_fail("dropping capabilities");
		}
	}
}

void vm_confine(const struct vm_host *h)
{
	if (h->drop) {
		gid_t groups[1] = { h->kvm_gid };

		vm_capbset_keep(0);
		/* Raw system calls: after a raw clone (launch.c) glibc still
		 * lists ucrt's threads and its wrappers would try to signal
		 * them to change their credentials too; this child is the one
		 * thread there is. */
		if (syscall(SYS_setgroups, h->kvm_gid == (gid_t)-1 ? 0 : 1, groups) < 0)
			vm_child_fail("setgroups");
		if (syscall(SYS_setresgid, h->gid, h->gid, h->gid) < 0)
			vm_child_fail("setresgid");
		/* From uid 0 to another: permitted, effective and ambient
		 * capabilities are cleared by the kernel. */
		if (syscall(SYS_setresuid, h->uid, h->uid, h->uid) < 0)
			vm_child_fail("setresuid");
	}
	/* uid 0 execs QEMU with its whole bounding set as capabilities:
	 * cutting the set is what limits them. */
	if (h->root_caps)
		vm_capbset_keep(h->root_caps);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		vm_child_fail("no_new_privs");
}
