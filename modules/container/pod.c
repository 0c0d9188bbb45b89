/* Kubernetes pods as one VM each (Kata's model), behind containerd's CRI
 * and its runc v2 shim (docs/scale-out.md). The CRI marks a pod's sandbox
 * (pause) container and each of its containers with annotations; the shim
 * calls ucrt-oci create/start for each with one --root.
 *
 *  - The sandbox container boots the pod's VM, as any bundle does (in the
 *    pod's network namespace, sized by the pod's resources), with one more
 *    share: <root>/pods/<sandbox>/, mounted in the guest at
 *    /run/ucrt-pod, with real owners and remapped inode numbers.
 *  - A container of the pod gets no VM: its root filesystem (containerd's
 *    snapshot mount) is bind-mounted on the host at
 *    <root>/pods/<sandbox>/<id>/rootfs, its mounts (/etc/hosts,
 *    /etc/resolv.conf, volumes, secrets) bind-mounted in place below that
 *    (resolved inside the root, never through a symlink out of it), the
 *    whole made read-only if asked: the guest sees it at once through the
 *    share. Its per-container process waits for start, then runs the
 *    process in the sandbox's VM over the sandbox's ctl.sock (the exec
 *    protocol of ctl.c), chrooted at /run/ucrt-pod/<id>/rootfs by
 *    guest-init (PROTO_A_ROOT), relays its stdio and signals, and exits
 *    with its status, which the shim reports.
 *
 * Nothing under <root>/pods is ever removed recursively: a member's
 * mounts are detached, then its empty directories removed, so a bind
 * mount left by a crash cannot lead a clean-up into a volume's data. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"

#define POD_MIN_MEM_MIB 128u

static const char *pod_annotation(char *const *a, const char *key)
{
	for (; a && a[0] && a[1]; a += 2) {
		if (strcmp(a[0], key) == 0)
			return a[1];
	}
	return NULL;
}

static bool pod_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (!n || n > CTR_ID_LEN || id[0] == '.')
		return false;
	for (const char *p = id; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return false;
	}
	return true;
}

enum ctr_pod_role ctr_pod_role(char *const *annotations, const char **sandbox)
{
	const char *type = pod_annotation(annotations, "io.kubernetes.cri.container-type");
	const char *sb = pod_annotation(annotations, "io.kubernetes.cri.sandbox-id");

	if (!type)
		type = pod_annotation(annotations, "io.kubernetes.cri-o.ContainerType");
	if (!sb)
		sb = pod_annotation(annotations, "io.kubernetes.cri-o.SandboxID");
	*sandbox = NULL;
	if (!type)
		return CTR_POD_NONE;
	if (strcmp(type, "sandbox") == 0)
		return CTR_POD_SANDBOX;
	if (strcmp(type, "container") == 0 && pod_id_ok(sb)) {
		*sandbox = sb;
		return CTR_POD_MEMBER;
	}
	return CTR_POD_NONE;
}

char *ctr_pod_dir(const char *root, const char *sandbox, const char *id)
{
	return id ? xasprintf("%s/pods/%s/%s", root, sandbox, id) : xasprintf("%s/pods/%s", root, sandbox);
}

char *ctr_pod_guest_root(const char *id)
{
	return xasprintf(CTR_POD_GUEST_DIR "/%s/rootfs", id);
}

static bool pod_num(char *const *a, const char *key, int64_t *v)
{
	const char *s = pod_annotation(a, key);
	uint64_t u;

	if (!s || str_to_u64(s, &u) < 0 || u > INT64_MAX || u == 0)
		return false;
	*v = (int64_t)u;
	return true;
}

void ctr_pod_size(struct ctr_bundle *b)
{
	int64_t quota, period, mem;

	/* containerd's annotations of the pod's resources (the sum of its
	 * containers' limits, from kubelet), which the sandbox's own
	 * linux.resources do not carry. */
	if (pod_num(b->annotations, "io.kubernetes.cri.sandbox-cpu-quota", &quota)) {
		if (!pod_num(b->annotations, "io.kubernetes.cri.sandbox-cpu-period", &period))
			period = 100000;
		b->cfg.cpus = (unsigned)MIN((quota + period - 1) / period, 64);
	}
	if (pod_num(b->annotations, "io.kubernetes.cri.sandbox-memory", &mem))
		b->cfg.mem_mib = (unsigned)MIN(MAX((uint64_t)mem >> 20, POD_MIN_MEM_MIB), 1u << 20);
}

int ctr_pod_sandbox_prepare(const char *root, const char *id, struct ctr_bundle *b, struct err *err)
{
	_cleanup_free_ char *pods = xasprintf("%s/pods", root);
	char *dir = ctr_pod_dir(root, id, NULL);
	struct ctr_config *c = &b->cfg;

	if (mkdir(pods, 0700) < 0 && errno != EEXIST) {
		free(dir);
		return err_setx(err, errno, "creating %s", pods);
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err_setx(err, errno, "creating %s", dir);
		free(dir);
		return -EIO;
	}
	ctr_pod_size(b);
	c->mounts = xrealloc(c->mounts, (c->nmounts + 1) * sizeof(*c->mounts));
	c->mounts[c->nmounts++] = (struct ctr_mount){
		.type = CTR_MOUNT_BIND, .src = dir, .dst = xstrdup(CTR_POD_GUEST_DIR), .pod = true,
	};
	return 0;
}

/* dst below the member's root, resolved as the container would see it
 * (symlinks stay inside the root): an O_PATH fd whose /proc/self/fd
 * path is the mount target. */
static int pod_open_in_root(int rootfd, const char *rel, bool dir);

static int pod_target(int rootfd, const char *dst)
{
	while (*dst == '/')
		dst++;
	return pod_open_in_root(rootfd, dst, false);
}

static int pod_open_in_root(int rootfd, const char *rel, bool dir)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0),
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
}

/* mkdir -p of dst inside the root, symlinks followed as the container
 * would (inside the root; a dangling one has its target made), and dst
 * an empty file when file. */
static int pod_make_in_root(int rootfd, const char *dst, bool file, unsigned depth)
{
	_cleanup_free_ char *p = xstrdup(dst);
	char *rel = p, *s;
	int r = 0;

	if (depth > 40)
		return -ELOOP;
	while (*rel == '/')
		rel++;
	for (s = rel; r == 0 && *rel; s++) {
		bool last = !strchr(s, '/');
		char save, *end = last ? s + strlen(s) : strchr(s, '/');
		int fd;

		save = *end;
		*end = 0;
		fd = pod_open_in_root(rootfd, rel, false);
		if (fd >= 0) {
			close(fd);
		} else if (errno == ENOENT) {
			char *slash = strrchr(rel, '/');
			const char *name = slash ? slash + 1 : rel;
			struct stat st;
			int parent;

			if (slash)
				*slash = 0;
			parent = pod_open_in_root(rootfd, slash ? rel : "", true);
			if (parent < 0) {
				r = -errno;
			} else if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
				char tgt[PATH_MAX];
				ssize_t n = readlinkat(parent, name, tgt, sizeof(tgt) - 1);

				if (n <= 0) {
					r = -EINVAL;
				} else {
					tgt[n] = 0;
					const char *rest = last ? "" : end + 1;
					_cleanup_free_ char *np = tgt[0] == '/'
						? xasprintf("%s%s%s", tgt, *rest ? "/" : "", rest)
						: xasprintf("/%s%s%s%s%s", slash ? rel : "", slash ? "/" : "", tgt,
							    *rest ? "/" : "", rest);
					close(parent);
					parent = -1;
					/* the same walk on the link's target */
					*end = save;
					return pod_make_in_root(rootfd, np, file, depth + 1);
				}
			} else if (last && file) {
				fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (fd >= 0)
					close(fd);
				else if (errno != EEXIST)
					r = -errno;
			} else if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST) {
				r = -errno;
			}
			if (parent >= 0)
				close(parent);
			if (slash)
				*slash = '/';
		} else {
			r = -errno;
		}
		*end = save;
		if (last)
			break;
		s = end;
	}
	return r;
}

static int pod_mount_one(int rootfd, const struct ctr_mount *m, struct err *err)
{
	char target[64];
	struct stat st;
	int fd, r = 0;
	bool file = false;

	if (m->type == CTR_MOUNT_BIND) {
		if (!m->src || stat(m->src, &st) < 0)
			return err_setx(err, errno ? errno : EINVAL, "mount source %s", m->src ? m->src : "(none)");
		file = !S_ISDIR(st.st_mode);
	} else if (m->type != CTR_MOUNT_TMPFS) {
		return 0;
	}
	if ((r = pod_make_in_root(rootfd, m->dst, file, 0)) < 0)
		return err_setx(err, r, "making the mount point %s", m->dst);
	fd = pod_target(rootfd, m->dst);
	if (fd < 0)
		return err_setx(err, errno, "mount point %s", m->dst);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (m->type == CTR_MOUNT_BIND) {
		if (mount(m->src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			r = err_setx(err, errno, "binding %s on %s", m->src, m->dst);
	} else {
		if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, m->opts && *m->opts ? m->opts : "mode=1777") < 0)
			r = err_setx(err, errno, "tmpfs on %s", m->dst);
	}
	if (r == 0 && m->readonly) {
		close(fd);
		/* the mount now covers the path: reopen to reach it */
		fd = pod_target(rootfd, m->dst);
		snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
		if (fd < 0 || mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC, NULL) < 0)
			r = err_setx(err, errno, "making %s read-only", m->dst);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int ctr_pod_member_prepare(const char *root, const char *id, const char *sandbox, struct ctr_bundle *b,
			   struct err *err)
{
	static const char *const kernel_dirs[] = { "/proc", "/sys", "/dev" };
	_cleanup_free_ char *sdir = ctr_pod_dir(root, sandbox, NULL);
	_cleanup_free_ char *dir = ctr_pod_dir(root, sandbox, id);
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
	_cleanup_free_ char *marker = ctr_path(root, id, "pod-sandbox");
	struct ctr_state ss;
	struct stat st;
	int rootfd = -1, r = 0;

	if (!b->cfg.root_dir)
		return err_set(err, EINVAL, "a pod's container needs a root directory");
	if (stat(sdir, &st) < 0 || ctr_state_read(root, sandbox, &ss) < 0 || ss.status == CTR_EXITED ||
	    !ctr_proc_alive(ss.owner, ss.owner_start))
		return err_set(err, ESRCH, "pod sandbox %.64s is not running under this ucrt-oci root", sandbox);
	if (mkdir(dir, 0700) < 0 || mkdir(rootfs, 0755) < 0) {
		r = err_setx(err, errno, "creating %s", rootfs);
		goto fail;
	}
	if (mount(b->cfg.root_dir, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
		r = err_setx(err, errno, "binding the root %s", b->cfg.root_dir);
		goto fail;
	}
	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = err_setx(err, errno, "%s", rootfs);
		goto fail;
	}
	/* guest-init mounts /proc, /sys and /dev there for each process. */
	for (size_t i = 0; i < ARRAY_SIZE(kernel_dirs); i++)
		pod_make_in_root(rootfd, kernel_dirs[i], false, 0);
	for (size_t i = 0; r == 0 && i < b->cfg.nmounts; i++)
		r = pod_mount_one(rootfd, &b->cfg.mounts[i], err);
	if (r == 0 && b->cfg.read_only &&
	    mount(NULL, rootfs, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		r = err_setx(err, errno, "making the root read-only");
	if (r == 0 && (r = write_file_atomic_at(AT_FDCWD, marker, sandbox, strlen(sandbox), 0600)) < 0)
		err_setx(err, r, "writing %s", marker);
	close(rootfd);
	if (r == 0)
		return 0;
fail:
	ctr_pod_member_teardown(root, sandbox, id);
	return err_wrap(err, "pod %.12s, container %.12s", sandbox, id);
}

void ctr_pod_member_teardown(const char *root, const char *sandbox, const char *id)
{
	_cleanup_free_ char *dir = ctr_pod_dir(root, sandbox, id);
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);

	/* MNT_DETACH takes the mounts below along; rmdir only removes what
	 * is empty, so data behind a mount that stayed is never touched. */
	for (int i = 0; i < 16 && umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++)
		;
	if (rmdir(rootfs) < 0 && errno != ENOENT)
		log_warn("pod %.12s: %s stays: %s", sandbox, rootfs, strerror(errno));
	rmdir(dir);
}

void ctr_pod_sandbox_teardown(const char *root, const char *id)
{
	_cleanup_free_ char *dir = ctr_pod_dir(root, id, NULL);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] != '.' && pod_id_ok(de->d_name))
			ctr_pod_member_teardown(root, id, de->d_name);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int ctr_pod_exec_target(const char *root, const char *id, char **target, char **guest_root)
{
	_cleanup_free_ char *marker = ctr_path(root, id, "pod-sandbox");
	char *text = NULL;
	size_t len;

	*target = NULL;
	if (read_file_at(AT_FDCWD, marker, CTR_ID_LEN + 1, &text, &len) < 0)
		return 0;
	if (!pod_id_ok(text)) {
		free(text);
		return 0;
	}
	*target = text;
	free(*guest_root);
	*guest_root = ctr_pod_guest_root(id);
	return 1;
}

int ctr_pod_member_run(const struct ctr_bundle_run *o, struct ctr_bundle *b, const char *sandbox)
{
	_cleanup_free_ char *fifo = ctr_path(o->root, b->cfg.id, "start.fifo");
	struct ctr_state st = { .status = CTR_CREATED, .owner = getpid(), .exit_code = -1 }, ss;
	struct ctr_spec s = b->cfg.spec;
	struct err e = { 0 };
	int fd, status;
	char c;
	ssize_t n;

	st.owner_start = ctr_proc_start_time(st.owner);
	ctr_state_write(o->root, b->cfg.id, &st);
	/* Read-write: the read waits for `start` instead of seeing EOF. */
	fd = open(fifo, O_RDWR | O_CLOEXEC);
	if (o->ready_fd >= 0) {
		if (fd < 0) {
			char msg[300];
			int k = snprintf(msg, sizeof(msg), "E%s: %s", fifo, strerror(errno));
			write_all(o->ready_fd, msg, (size_t)MIN(k, (int)sizeof(msg) - 1));
		} else {
			write_all(o->ready_fd, "R", 1);
		}
		close(o->ready_fd);
	}
	if (fd < 0)
		return 125;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n != 1)
		return 125;
	if (ctr_state_read(o->root, sandbox, &ss) == 0) {
		st.qemu = ss.qemu;
		st.qemu_start = ss.qemu_start;
	}
	st.status = CTR_RUNNING;
	st.started = (int64_t)time(NULL);
	ctr_state_write(o->root, b->cfg.id, &st);
	s.root = ctr_pod_guest_root(b->cfg.id);
	s.tty = b->terminal;
	status = ctr_ctl_exec(o->root, sandbox, &s, &e);
	free(s.root);
	if (e.code) {
		snprintf(st.error, sizeof(st.error), "%s", err_msg(&e));
		if (o->error)
			o->error(err_msg(&e), o->ud);
	}
	st.status = CTR_EXITED;
	st.exit_code = status;
	st.finished = (int64_t)time(NULL);
	ctr_state_write(o->root, b->cfg.id, &st);
	return status;
}
