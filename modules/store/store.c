/* Store layout, locks, blobs and ingest files. Everything is opened
 * relative to directory fds with O_NOFOLLOW, and names are built only from
 * validated digests, so nothing under the root can redirect us elsewhere. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "sha256.h"
#include "str.h"
#include "store-internal.h"
#include "util.h"

static int open_dir_at(int dirfd, const char *name)
{
	int r = mkdirat(dirfd, name, 0700);
	if (r < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int store_open(struct store **out, const char *root, struct err *err)
{
	int r = mkdir_p_at(AT_FDCWD, root, 0700);
	if (r < 0)
		return err_setx(err, r, "cannot create store root %s", root);
	struct store *s = xcalloc(1, sizeof(*s));
	s->root = xstrdup(root);
	s->lock_fd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(s->fds); i++)
		s->fds[i] = -1;
	s->fds[STORE_ROOT] = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fds[STORE_ROOT] < 0) {
		r = err_setx(err, errno, "cannot open store root %s", root);
		store_close(s);
		return r;
	}
	static const struct { enum store_dir d; const char *name; } dirs[] = {
		{ STORE_INGEST, "ingest" }, { STORE_IMAGES, "images" },
		{ STORE_ROOTFS, "rootfs" }, { STORE_CONTAINERS, "containers" },
	};
	int blobs = open_dir_at(s->fds[STORE_ROOT], "blobs");
	if (blobs >= 0) {
		s->fds[STORE_BLOBS] = open_dir_at(blobs, "sha256");
		close(blobs);
	}
	r = blobs < 0 ? blobs : s->fds[STORE_BLOBS];
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(dirs); i++)
		r = s->fds[dirs[i].d] = open_dir_at(s->fds[STORE_ROOT], dirs[i].name);
	if (r < 0) {
		r = err_setx(err, r, "cannot set up the store layout in %s", root);
		store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(s->fds); i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->root);
	free(s);
}

/* Blocking flock: callers hold these locks for short metadata updates or
 * take them once at the start of a command, before the reactor runs. */
int store_flock_file(int dirfd, const char *name, int op, struct err *err)
{
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_setx(err, errno, "cannot open lock file %s", name);
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return err_set(err, EBUSY, "the store is in use by another ucrt process");
		return err_setx(err, e, "cannot lock %s", name);
	}
	return fd;
}

int store_lock(struct store *s, bool exclusive, bool wait, struct err *err)
{
	store_unlock(s);
	int fd = store_flock_file(s->fds[STORE_ROOT], "lock", (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB),
				  err);
	if (fd < 0)
		return fd;
	s->lock_fd = fd;
	return 0;
}

void store_unlock(struct store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

int store_blob_stat(struct store *s, const char *digest, uint64_t *size)
{
	if (!oci_digest_valid(digest))
		return -EINVAL;
	struct stat st;
	if (fstatat(s->fds[STORE_BLOBS], digest + 7, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EUCLEAN;
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

int store_blob_open(struct store *s, const char *digest)
{
	if (!oci_digest_valid(digest))
		return -EINVAL;
	int fd = openat(s->fds[STORE_BLOBS], digest + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int store_blob_read(struct store *s, const char *digest, size_t max, char **data, size_t *len, struct err *err)
{
	if (!oci_digest_valid(digest))
		return err_set(err, EINVAL, "invalid digest '%s'", digest);
	_cleanup_free_ char *buf = NULL;
	size_t n;
	int r = read_file_at(s->fds[STORE_BLOBS], digest + 7, max, &buf, &n);
	if (r < 0)
		return err_setx(err, r, "reading blob %s", digest);
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(buf, n, hex);
	if (strcmp(hex, digest + 7) != 0)
		return err_set(err, EUCLEAN, "blob %s in the store is corrupt (content hashes to sha256:%s)", digest, hex);
	*data = TAKE_PTR(buf);
	*len = n;
	return 0;
}

int store_blob_put(struct store *s, const void *data, size_t len, const char *want, char out[OCI_DIGEST_LEN + 1],
		   struct err *err)
{
	char d[OCI_DIGEST_LEN + 1] = "sha256:";
	sha256_hex(data, len, d + 7);
	if (want && strcmp(want, d) != 0)
		return err_set(err, EUCLEAN, "content of %s does not match its digest (got %s)", want, d);
	if (out)
		memcpy(out, d, sizeof(d));
	if (store_blob_stat(s, d, NULL) == 0)
		return 0;
	int r = write_file_atomic_at(s->fds[STORE_BLOBS], d + 7, data, len, 0644);
	if (r < 0)
		return err_setx(err, r, "writing blob %s", d);
	return 1;
}

int store_blob_remove(struct store *s, const char *digest)
{
	if (!oci_digest_valid(digest))
		return -EINVAL;
	return unlinkat(s->fds[STORE_BLOBS], digest + 7, 0) < 0 ? -errno : 0;
}

int store_blob_list(struct store *s, char ***out)
{
	*out = NULL;
	int fd = dup(s->fds[STORE_BLOBS]);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		char dg[OCI_DIGEST_LEN + 8] = "sha256:";
		if (strlen(de->d_name) != SHA256_HEX_LEN)
			continue;
		memcpy(dg + 7, de->d_name, SHA256_HEX_LEN + 1);
		if (oci_digest_valid(dg))
			strv_push(out, dg);
	}
	closedir(d);
	if (!*out)
		*out = xcalloc(1, sizeof(char *));
	return 0;
}

/* An ingest file left behind for a blob that is committed meanwhile: drop
 * it, but only if the name still refers to the file we hold locked. */
static void ingest_drop_stale(struct store *s, const char *digest, int fd)
{
	struct stat a, b;
	if (fstat(fd, &a) == 0 && fstatat(s->fds[STORE_INGEST], digest + 7, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		unlinkat(s->fds[STORE_INGEST], digest + 7, 0);
}

/* Open and lock ingest/<hex>. Between our open and our lock the previous
 * holder may have committed the file (renamed it into blobs/: return 1)
 * or discarded it (unlinked it: open again). */
static int ingest_open_locked(struct store *s, const char *digest, int *out, struct err *err)
{
	for (int tries = 0; tries < 16; tries++) {
		_cleanup_close_ int fd = openat(s->fds[STORE_INGEST], digest + 7,
						O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return err_setx(err, errno, "opening ingest file for %s", digest);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				return err_set(err, EBUSY, "%s is being downloaded by another process", digest);
			return err_setx(err, errno, "locking ingest file for %s", digest);
		}
		if (store_blob_stat(s, digest, NULL) == 0) {
			ingest_drop_stale(s, digest, fd);
			return 1;
		}
		struct stat st;
		if (fstat(fd, &st) < 0)
			return err_setx(err, errno, "ingest file for %s", digest);
		if (!S_ISREG(st.st_mode))
			return err_set(err, EUCLEAN, "ingest file for %s is not a regular file", digest);
		if (st.st_nlink == 0)
			continue;
		*out = TAKE_FD(fd);
		return 0;
	}
	return err_set(err, EBUSY, "%s: ingest file keeps changing under us", digest);
}

int store_ingest_begin(struct store *s, const char *digest, uint64_t want_size, struct store_ingest *in,
		       struct err *err)
{
	memset(in, 0, sizeof(*in));
	in->fd = -1;
	in->s = s;
	if (!oci_digest_valid(digest))
		return err_set(err, EINVAL, "invalid digest '%s'", digest);
	memcpy(in->digest, digest, OCI_DIGEST_LEN + 1);
	if (store_blob_stat(s, digest, NULL) == 0)
		return 1;
	_cleanup_close_ int fd = -1;
	int r = ingest_open_locked(s, digest, &fd, err);
	if (r != 0)
		return r;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_setx(err, errno, "ingest file for %s", digest);
	in->have = (uint64_t)st.st_size;
	if (in->have > want_size) {
		log_debug("discarding oversized partial of %s", digest);
		if (ftruncate(fd, 0) < 0)
			return err_setx(err, errno, "truncating ingest file for %s", digest);
		in->have = 0;
	}
	in->fd = TAKE_FD(fd);
	return 0;
}

void store_ingest_end(struct store_ingest *in, bool discard)
{
	if (in->fd < 0)
		return;
	/* Unlink while still holding the lock so nobody resumes a bad file. */
	if (discard)
		unlinkat(in->s->fds[STORE_INGEST], in->digest + 7, 0);
	close(in->fd);
	in->fd = -1;
}

void store_defer_dir_sync(struct store *s, bool defer)
{
	s->defer_dir_sync = defer;
}

int store_sync_blobs(struct store *s, struct err *err)
{
	if (!s->blobs_dirty)
		return 0;
	if (fsync(s->fds[STORE_BLOBS]) < 0)
		return err_setx(err, errno, "fsync of blobs/");
	s->blobs_dirty = false;
	return 0;
}

int store_ingest_reader(struct store *s, const char *digest)
{
	if (!oci_digest_valid(digest))
		return -EINVAL;
	/* Blob first: between the two opens a commit may move the file from
	 * ingest/ to blobs/, so look in blobs/ once more after a miss. */
	for (int tries = 0; tries < 2; tries++) {
		int fd = openat(s->fds[STORE_BLOBS], digest + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd >= 0 ? fd : -errno;
		fd = openat(s->fds[STORE_INGEST], digest + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd >= 0 ? fd : -errno;
	}
	return -ENOENT;
}

int store_ingest_commit(struct store_ingest *in, const char *got_digest, uint64_t got_size, uint64_t want_size,
			bool synced, struct err *err)
{
	struct store *s = in->s;
	if (got_size != want_size) {
		store_ingest_end(in, true);
		return err_set(err, EUCLEAN, "%s: size mismatch (got %llu bytes, want %llu)", in->digest,
			       (unsigned long long)got_size, (unsigned long long)want_size);
	}
	if (strcmp(got_digest, in->digest) != 0) {
		store_ingest_end(in, true);
		return err_set(err, EUCLEAN, "%s: digest mismatch (content hashes to %s)", in->digest, got_digest);
	}
	if (!synced && fsync(in->fd) < 0)
		return err_setx(err, errno, "%s: fsync", in->digest);
	if (fchmod(in->fd, 0644) < 0 ||
	    renameat(s->fds[STORE_INGEST], in->digest + 7, s->fds[STORE_BLOBS], in->digest + 7) < 0)
		return err_setx(err, errno, "%s: committing to the store", in->digest);
	/* The rename is durable only once the directory is; a pull syncs
	 * it once for all its blobs (store_sync_blobs). */
	if (s->defer_dir_sync)
		s->blobs_dirty = true;
	else if (fsync(s->fds[STORE_BLOBS]) < 0)
		return err_setx(err, errno, "%s: fsync of blobs/", in->digest);
	store_ingest_end(in, false);
	return 0;
}
