/* The container's data mounts (PROTO_A_MOUNT in CONFIG): shared host
 * directories and files over virtio-9p, ext4 disks (volumes, input disks)
 * found by their virtio-blk serial, and tmpfs. All happen in the
 * container's root before the main process starts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gi.h"

/* Measured in docs/run.md: msize 512 KiB is the most the 6.1 virtio
 * transport takes (128 ring slots of 4 KiB); cache=mmap keeps the host's
 * view coherent (no page cache of file data in the guest) while still
 * allowing mmap, which programs loaded from a share need. */
#define GI_9P_OPTS "trans=virtio,version=9p2000.L,msize=524288,cache=mmap"
#define GI_STAGE "/run/ucrt-mnt"

/* mkdir -p inside the root, or an empty file as the last component when
 * file is set (the target of a single-file bind). */
static int gi_make_target(const char *path, bool file)
{
	char p[PROTO_MAX_PATH + 1];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (file) {
		/* An existing target is enough (a read-only root has it, and
		 * opening it for writing there fails). */
		if (access(p, F_OK) == 0)
			return 0;
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EISDIR)
			return -errno;
		if (fd >= 0)
			close(fd);
		return 0;
	}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* /dev/vdX whose virtio-blk serial is serial; disks may probe a little
 * after the agent connected. */
static int gi_disk_by_serial(const char *serial, char *dev, size_t cap)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int waited = 0; waited <= 5000; waited += 10) {
		DIR *d = opendir("/sys/block");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char path[300], buf[64];
			ssize_t n;
			int fd;

			if (strncmp(e->d_name, "vd", 2) != 0)
				continue;
			if (strlen(e->d_name) > 32)
				continue;
			snprintf(path, sizeof(path), "/sys/block/%.32s/serial", e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = 0;
			buf[strcspn(buf, "\n")] = 0;
			if (strcmp(buf, serial) == 0) {
				snprintf(dev, cap, "/dev/%s", e->d_name);
				closedir(d);
				return 0;
			}
		}
		if (d)
			closedir(d);
		nanosleep(&ts, NULL);
	}
	return -ENODEV;
}

/* tmpfs options from the host: size=, mode= and nr_inodes= with plain
 * values, nothing that could smuggle other mount options. */
static bool gi_tmpfs_opts_ok(const char *o)
{
	for (; *o; o++) {
		if (!((*o >= 'a' && *o <= 'z') || (*o >= 'A' && *o <= 'Z') || (*o >= '0' && *o <= '9') ||
		      *o == '=' || *o == ',' || *o == '_' || *o == '%'))
			return false;
	}
	return true;
}

static int gi_mount_9p_file(const struct gi_mount *m, unsigned idx, char *msg, size_t msglen)
{
	char tag[64], stage[64], src[PROTO_MAX_PATH + 64];
	const char *slash = strchr(m->src, '/');
	size_t tl = slash ? (size_t)(slash - m->src) : 0;
	unsigned long ro = m->readonly ? MS_RDONLY : 0;
	int r;

	if (!slash || !tl || tl >= sizeof(tag) || !slash[1] || strchr(slash + 1, '/') ||
	    strcmp(slash + 1, "..") == 0 || strcmp(slash + 1, ".") == 0) {
		snprintf(msg, msglen, "mount %s: bad file share %s", m->target, m->src);
		return -EINVAL;
	}
	memcpy(tag, m->src, tl);
	tag[tl] = 0;
	snprintf(stage, sizeof(stage), GI_STAGE "/%u", idx);
	mkdir(GI_STAGE, 0700);
	mkdir(stage, 0700);
	if (mount(tag, stage, "9p", ro, GI_9P_OPTS) < 0)
		goto fail;
	snprintf(src, sizeof(src), "%s/%s", stage, slash + 1);
	r = gi_make_target(m->target, true);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	if (mount(src, m->target, NULL, MS_BIND, NULL) < 0)
		goto fail;
	/* A bind mount takes read-only only from a remount. */
	if (ro && mount(NULL, m->target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		goto fail;
	umount2(stage, MNT_DETACH);
	return 0;
fail:
	r = -errno;
	snprintf(msg, msglen, "mount %s (file %s): %s", m->target, slash + 1, strerror(errno));
	umount2(stage, MNT_DETACH);
	return r;
}

static int gi_mount_one(const struct gi_mount *m, unsigned idx, char *msg, size_t msglen)
{
	unsigned long flags = m->readonly ? MS_RDONLY : 0;
	char dev[300];
	int r;

	if (m->kind == PROTO_MOUNT_9P_FILE)
		return gi_mount_9p_file(m, idx, msg, msglen);
	r = gi_make_target(m->target, false);
	if (r < 0) {
		snprintf(msg, msglen, "mount %s: creating it: %s", m->target, strerror(-r));
		return r;
	}
	switch (m->kind) {
	case PROTO_MOUNT_9P:
		r = mount(m->src, m->target, "9p", flags, GI_9P_OPTS);
		break;
	case PROTO_MOUNT_DISK:
	case PROTO_MOUNT_BINFMT:
		r = gi_disk_by_serial(m->src, dev, sizeof(dev));
		if (r < 0) {
			snprintf(msg, msglen, "mount %s: no disk with serial %s", m->target, m->src);
			return r;
		}
		if (m->kind == PROTO_MOUNT_BINFMT)
			return gi_binfmt_register(dev, m->target, msg, msglen);
		r = mount(dev, m->target, "ext4", flags, GI_EXT4_OPTS);
		break;
	case PROTO_MOUNT_TMPFS:
		if (!gi_tmpfs_opts_ok(m->src)) {
			snprintf(msg, msglen, "mount %s: bad tmpfs options", m->target);
			return -EINVAL;
		}
		r = mount("tmpfs", m->target, "tmpfs", flags | MS_NOSUID | MS_NODEV, m->src);
		break;
	default:
		snprintf(msg, msglen, "mount %s: unknown kind %d", m->target, m->kind);
		return -EINVAL;
	}
	if (r < 0) {
		r = -errno;
		snprintf(msg, msglen, "mount %s: %s", m->target, strerror(errno));
	}
	return r;
}

/* Disks mounted read-write, for gi_unmount_data. */
static char gi_rw_disks[PROTO_MAX_MOUNTS][PROTO_MAX_PATH + 1];
static unsigned gi_nrw_disks;

int gi_mount_data(const struct gi_mount *m, unsigned n, char *msg, size_t msglen)
{
	for (unsigned i = 0; i < n; i++) {
		int r = gi_mount_one(&m[i], i, msg, msglen);
		if (r < 0)
			return r;
		if (m[i].kind == PROTO_MOUNT_DISK && !m[i].readonly && gi_nrw_disks < PROTO_MAX_MOUNTS)
			memcpy(gi_rw_disks[gi_nrw_disks++], m[i].target, sizeof(m[i].target));
		if (gi_debug)
			gi_log("mounted %s", m[i].target);
	}
	return 0;
}

/* A volume left with a dirty journal cannot be mounted from a read-only
 * device later (the kernel refuses to skip the replay): unmount the
 * read-write disks before power-off, or at least make them read-only. */
void gi_unmount_data(void)
{
	while (gi_nrw_disks) {
		const char *t = gi_rw_disks[--gi_nrw_disks];
		if (umount2(t, 0) < 0 && mount(NULL, t, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
			gi_log("unmounting %s: %s", t, strerror(errno));
	}
}

/* One PROTO_A_MOUNT value: the target must be absolute and free of ".."
 * components (a guest path, but a host-chosen one: no surprises). */
int gi_mount_parse(const uint8_t *v, size_t len, struct gi_mount *m)
{
	size_t sl, tl;

	if (len < 4)
		return -EINVAL;
	sl = proto_get16(v + 2);
	if (sl == 0 || sl >= sizeof(m->src) || 4 + sl >= len)
		return -EINVAL;
	tl = len - 4 - sl;
	if (tl >= sizeof(m->target))
		return -EINVAL;
	if (!proto_str_ok(v + 4, sl) || !proto_str_ok(v + 4 + sl, tl))
		return -EINVAL;
	m->kind = v[0];
	m->readonly = v[1] & PROTO_MOUNT_RO;
	memcpy(m->src, v + 4, sl);
	m->src[sl] = 0;
	memcpy(m->target, v + 4 + sl, tl);
	m->target[tl] = 0;
	if (m->kind < PROTO_MOUNT_9P || m->kind > PROTO_MOUNT_BINFMT || m->target[0] != '/' ||
	    strstr(m->target, "/../") || (tl >= 3 && strcmp(m->target + tl - 3, "/..") == 0))
		return -EINVAL;
	return 0;
}
