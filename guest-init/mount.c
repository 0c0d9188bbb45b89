/* Filesystems of the VM: the early API mounts, kernel modules from the
 * initramfs, the container root disk and the switch into it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gi.h"

#define GI_RAMFS_MAGIC 0x858458f6
#define GI_TMPFS_MAGIC 0x01021994

struct gi_mnt {
	const char *src, *dst, *type;
	unsigned long flags;
	const char *data;
};

/* /dev first: kmsg is where errors go. */
static const struct gi_mnt gi_early[] = {
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5" },
	{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
};

void gi_mount_early(void)
{
	for (size_t i = 0; i < sizeof(gi_early) / sizeof(gi_early[0]); i++) {
		const struct gi_mnt *m = &gi_early[i];

		mkdir(m->dst, 0755);
		if (mount(m->src, m->dst, m->type, m->flags, m->data) < 0 && errno != EBUSY)
			gi_log("mount %s: %s", m->dst, strerror(errno));
	}
	/* devtmpfs has no ptmx link to the devpts instance. */
	unlink("/dev/ptmx");
	if (symlink("pts/ptmx", "/dev/ptmx") < 0)
		gi_log("/dev/ptmx: %s", strerror(errno));
	symlink("/proc/self/fd", "/dev/fd");
	symlink("/proc/self/fd/0", "/dev/stdin");
	symlink("/proc/self/fd/1", "/dev/stdout");
	symlink("/proc/self/fd/2", "/dev/stderr");
}

/* Parameters for a loadable module come from "MOD.param=value" words of
 * the kernel command line, as modprobe does (the kernel applies them only
 * to built-in code). '-' and '_' are the same in module names. */
static void gi_module_params(const char *file, const char *cmdline, char *out, size_t cap)
{
	char mod[64];
	size_t n = strcspn(file, "."), len = 0;

	if (n >= sizeof(mod))
		n = sizeof(mod) - 1;
	for (size_t i = 0; i < n; i++)
		mod[i] = file[i] == '-' ? '_' : file[i];
	mod[n] = 0;
	out[0] = 0;
	while (*cmdline) {
		size_t w;

		cmdline += strspn(cmdline, " \t\n");
		w = strcspn(cmdline, " \t\n");
		if (w > n + 1 && cmdline[n] == '.' && strncmp(cmdline, mod, n) == 0 && len + w - n < cap) {
			memcpy(out + len, cmdline + n + 1, w - n - 1);
			len += w - n - 1;
			out[len++] = ' ';
			out[len] = 0;
		}
		cmdline += w;
	}
}

static void gi_load_one(int dirfd, const char *name, const char *cmdline)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char params[1024];

	if (fd < 0) {
		gi_log("module %s: %s", name, strerror(errno));
		return;
	}
	gi_module_params(name, cmdline, params, sizeof(params));
	if (syscall(SYS_finit_module, fd, params, 0) < 0 && errno != EEXIST)
		gi_log("module %s: %s", name, strerror(errno));
	else if (gi_debug)
		gi_log("loaded %s", name);
	close(fd);
}

/* The initramfs (written by modules/vm) holds the modules (NAME.ko files) in /modules and
 * /modules/order, one file name per line, dependencies first. A kernel
 * with everything built in has neither. */
void gi_load_modules(const char *cmdline)
{
	char list[8192], *line, *save = NULL;
	int dirfd, fd;
	ssize_t n;

	dirfd = open("/modules", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return;
	fd = openat(dirfd, "order", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		close(dirfd);
		return;
	}
	n = read(fd, list, sizeof(list) - 1);
	close(fd);
	list[n > 0 ? n : 0] = 0;
	for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (*line && *line != '#' && !strchr(line, '/'))
			gi_load_one(dirfd, line, cmdline);
	}
	close(dirfd);
}

/* Block devices show up in devtmpfs when their driver probes, which may
 * trail module loading a little. */
static int gi_wait_path(const char *path, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int waited = 0; access(path, F_OK) < 0; waited += 10) {
		if (waited >= ms)
			return -ENOENT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Read-only image disk under a tmpfs upper layer: for disks attached
 * read-only, so the container can still write. */
static int gi_mount_overlay(const struct gi_cmdline *c, char *msg, size_t msglen)
{
	unsigned long ro = MS_RDONLY;
	char opts[256];

	mkdir("/.lower", 0755);
	mkdir("/.rw", 0755);
	if (mount(c->root, "/.lower", c->fstype, ro, c->rootflags[0] ? c->rootflags : NULL) < 0)
		goto fail;
	if (mount("tmpfs", "/.rw", "tmpfs", 0, "mode=0755") < 0)
		goto fail;
	mkdir("/.rw/upper", 0755);
	mkdir("/.rw/work", 0755);
	snprintf(opts, sizeof(opts), "lowerdir=/.lower,upperdir=/.rw/upper,workdir=/.rw/work");
	if (mount("overlay", "/newroot", "overlay", 0, opts) < 0)
		goto fail;
	return 0;
fail:
	snprintf(msg, msglen, "overlay root from %s: %s", c->root, strerror(errno));
	return -errno;
}

static void gi_move(const char *from, const char *to)
{
	mkdir(to, 0755);
	if (mount(from, to, NULL, MS_MOVE, NULL) < 0)
		gi_log("moving %s to %s: %s", from, to, strerror(errno));
}

static const char *gi_root_data(const struct gi_cmdline *c)
{
	if (c->rootflags[0])
		return c->rootflags;
	if (strcmp(c->fstype, "ext4") != 0)
		return NULL;
	return c->ephemeral && !c->ro ? GI_EXT4_OPTS_EPHEMERAL : GI_EXT4_OPTS;
}

static int gi_mount_root(const struct gi_cmdline *c)
{
	unsigned long fl = c->ro ? MS_RDONLY : 0;
	const char *data = gi_root_data(c);

	if (mount(c->root, "/newroot", c->fstype, fl, data) == 0)
		return 0;
	/* noload refuses a journal that needs replay (a disk last used by a
	 * VM that died): replay it after all. */
	if (errno == EINVAL && data && strcmp(data, GI_EXT4_OPTS_EPHEMERAL) == 0 &&
	    mount(c->root, "/newroot", c->fstype, fl, GI_EXT4_OPTS) == 0)
		return 0;
	return -errno;
}

int gi_switch_root(const struct gi_cmdline *c, char *msg, size_t msglen)
{
	static const char *const moved[] = { "/dev", "/proc", "/sys", "/tmp", "/run" };
	struct statfs sfs;
	char to[64];
	int r;

	if (statfs("/", &sfs) < 0 || (sfs.f_type != GI_RAMFS_MAGIC && sfs.f_type != GI_TMPFS_MAGIC))
		return 0;	/* booted straight from a disk: already there */
	/* A 9p root (an OCI bundle's rootfs directory, docs/oci-runtime.md)
	 * is a mount tag, not a device node: nothing to wait for, and the
	 * virtio transport is probed when the driver binds, before init. */
	if (strcmp(c->fstype, "9p") != 0 && gi_wait_path(c->root, 5000) < 0) {
		snprintf(msg, msglen, "root disk %s did not appear", c->root);
		return -ENOENT;
	}
	mkdir("/newroot", 0755);
	if (c->overlay) {
		r = gi_mount_overlay(c, msg, msglen);
		if (r < 0)
			return r;
	} else if ((r = gi_mount_root(c)) < 0) {
		snprintf(msg, msglen, "mounting %s (%s) as root: %s", c->root, c->fstype, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		snprintf(to, sizeof(to), "/newroot%s", moved[i]);
		gi_move(moved[i], to);
	}
	/* switch_root: the initramfs stays mounted underneath (its few MB are
	 * not worth a recursive delete in the boot path). */
	if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0) {
		r = -errno;
		snprintf(msg, msglen, "switching to the root disk: %s", strerror(errno));
		return r;
	}
	return 0;
}
