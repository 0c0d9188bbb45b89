/* Mount points in a read-only bundle root. The guest cannot create a
 * mount point on a read-only root, so, as runc does before it remounts a
 * root read-only, the runtime makes the missing ones in the bundle's root
 * directory on the host: Slurm adds bind mounts to bundles that
 * `ucrt bundle create` made read-only (many tasks share one root). Paths
 * under a tmpfs of the bundle, and under the directories guest-init
 * mounts itself, are left to the guest. Each component is opened with
 * O_NOFOLLOW relative to the root: a symlink in the image never leads the
 * host outside it (such a mount point is left alone, and the guest
 * reports it). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle-internal.h"
#include "container/container.h"
#include "err.h"
#include "str.h"
#include "util.h"

static bool mnt_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

static bool mnt_guest_made(const struct ctr_config *c, const char *dst)
{
	static const char *const own[] = { "/dev", "/proc", "/sys", "/run", "/tmp" };

	for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
		if (mnt_under(dst, own[i]))
			return true;
	}
	for (size_t i = 0; i < c->nmounts; i++) {
		if (c->mounts[i].type == CTR_MOUNT_TMPFS && strcmp(c->mounts[i].dst, dst) != 0 &&
		    mnt_under(dst, c->mounts[i].dst))
			return true;
	}
	return false;
}

int ctr_mountpoint_make(int rootfd, const char *dst, bool file)
{
	_cleanup_free_ char *p = xstrdup(dst);
	char *save = NULL, *comp, *next;
	int cur = dup(rootfd), r = 0;

	if (cur < 0)
		return -errno;
	for (comp = strtok_r(p, "/", &save); comp && r == 0; comp = next) {
		int fd;

		next = strtok_r(NULL, "/", &save);
		if (!next && file) {
			fd = openat(cur, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
			else if (errno != EEXIST)
				r = -errno;
			break;
		}
		if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			break;	/* ELOOP, ENOTDIR: the guest says what is wrong */
		close(cur);
		cur = fd;
	}
	close(cur);
	return r;
}

int ctr_bundle_mountpoints(const struct ctr_bundle *b, struct err *err)
{
	const struct ctr_config *c = &b->cfg;
	_cleanup_close_ int rootfd = -1;

	if (!c->read_only || !c->root_dir)
		return 0;
	rootfd = open(c->root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_setx(err, errno, "root.path %s", c->root_dir);
	for (size_t i = 0; i < c->nmounts; i++) {
		const struct ctr_mount *m = &c->mounts[i];
		struct stat st;
		bool file = m->type == CTR_MOUNT_BIND && m->src && stat(m->src, &st) == 0 && !S_ISDIR(st.st_mode);
		int r;

		if (mnt_guest_made(c, m->dst))
			continue;
		if ((r = ctr_mountpoint_make(rootfd, m->dst, file)) < 0)
			return err_setx(err, r, "making the mount point %s in the read-only root %s", m->dst,
					c->root_dir);
	}
	return 0;
}
