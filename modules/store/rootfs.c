/* rootfs/: image disks named by the chain id of their layers, and the
 * per-disk lock a builder holds. The names are made here and nowhere else:
 * rootfs/<chain-hex>.ext4 and rootfs/<chain-hex>.lock. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "store-internal.h"
#include "util.h"

int store_image_chain_id(struct store *s, const char *config_digest, size_t *nlayers,
			 char out[OCI_DIGEST_LEN + 1], struct err *err)
{
	_cleanup_free_ char *data = NULL;
	struct oci_image_config c;
	size_t len;
	int r = store_blob_read(s, config_digest, OCI_MAX_CONFIG, &data, &len, err);

	if (r < 0)
		return r;
	r = oci_config_parse(data, len, &c, err);
	if (r < 0)
		return r;
	if (nlayers)
		*nlayers = c.ndiff_ids;
	r = oci_chain_id(c.diff_ids, c.ndiff_ids, out);
	oci_config_free(&c);
	if (r < 0)
		return err_set(err, -r, "image config %s has no layers", config_digest);
	return 0;
}

char *store_rootfs_path(struct store *s, const char *chain)
{
	if (!oci_digest_valid(chain))
		return NULL;
	return xasprintf("%s/rootfs/%s.ext4", s->root, chain + 7);
}

bool store_rootfs_exists(struct store *s, const char *chain)
{
	_cleanup_free_ char *name = NULL;
	struct stat st;

	if (!oci_digest_valid(chain))
		return false;
	name = xasprintf("%s.ext4", chain + 7);
	return fstatat(s->fds[STORE_ROOTFS], name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int store_rootfs_lock(struct store *s, const char *chain, bool wait, struct err *err)
{
	int dir = s->fds[STORE_ROOTFS];
	_cleanup_free_ char *lock = NULL;

	if (!oci_digest_valid(chain))
		return err_set(err, EINVAL, "invalid chain id '%s'", chain);
	lock = xasprintf("%s.lock", chain + 7);
	for (;;) {
		int fd = openat(dir, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		struct stat a, b;
		if (fd < 0)
			return err_setx(err, errno, "rootfs lock %s", lock);
		while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
			int r = errno;
			if (r == EINTR)
				continue;
			close(fd);
			return r == EWOULDBLOCK ? -EWOULDBLOCK : err_setx(err, r, "locking %s", lock);
		}
		/* The holder before us unlinks the file before it lets go: a
		 * lock on that old inode excludes nobody. Take the new one. */
		if (fstat(fd, &a) == 0 && fstatat(dir, lock, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
}

void store_rootfs_unlock(struct store *s, const char *chain, int fd)
{
	if (fd < 0)
		return;
	if (oci_digest_valid(chain)) {
		_cleanup_free_ char *lock = xasprintf("%s.lock", chain + 7);
		unlinkat(s->fds[STORE_ROOTFS], lock, 0);
	}
	close(fd);
}
