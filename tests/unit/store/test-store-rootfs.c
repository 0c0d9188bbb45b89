/* The store owns rootfs/ and ingest/: a disk's path and existence by
 * chain id, its build lock (exclusive across handles, without waiting
 * -EWOULDBLOCK, the file removed on unlock, a stale lock file not taken),
 * and a reader of a blob being downloaded that survives the commit. */
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "oci/oci.h"
#include "sha256.h"
#include "store/store.h"
#include "util.h"

static char root[] = "/tmp/ucrt-store-rootfs-XXXXXX";

/* Count fsyncs of directories (the store's blobs/) and of files. */
static int t_dir_syncs, t_file_syncs;
int fsync(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		t_dir_syncs++;
	else
		t_file_syncs++;
	return fdatasync(fd);
}
#define CHAIN "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static bool t_exists(const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
	return access(p, F_OK) == 0;
}

static void t_rootfs(struct store *s, struct store *s2)
{
	struct err e = { 0 };
	_cleanup_free_ char *path = store_rootfs_path(s, CHAIN);
	_cleanup_free_ char *want = xasprintf("%s/rootfs/1111111111111111111111111111111111111111111111111111111111111111.ext4", root);
	const char *lock = "rootfs/1111111111111111111111111111111111111111111111111111111111111111.lock";

	t_streq(path, want, "store_rootfs_path: rootfs/<hex>.ext4");
	t_ok(store_rootfs_path(s, "sha256:../../x") == NULL, "an invalid chain id is never a path");
	t_ok(!store_rootfs_exists(s, CHAIN), "not built yet");

	int fd = store_rootfs_lock(s, CHAIN, false, &e);
	t_ok(fd >= 0 && t_exists(lock), "lock taken, its file exists");
	t_is(store_rootfs_lock(s2, CHAIN, false, &e), -EWOULDBLOCK, "another handle: -EWOULDBLOCK without wait");
	t_is(store_rootfs_lock(s, "sha256:nothex", false, &e), -EINVAL, "invalid chain id: -EINVAL");
	close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0444));
	t_ok(store_rootfs_exists(s, CHAIN), "exists once the file is there");
	store_rootfs_unlock(s, CHAIN, fd);
	t_ok(!t_exists(lock), "unlock removes the lock file");
	fd = store_rootfs_lock(s2, CHAIN, false, &e);
	t_ok(fd >= 0, "free again for the other handle");

	/* A waiter that opened the old lock file before the holder removed
	 * it must not count that lock: it takes the new file. */
	_cleanup_free_ char *lp = xasprintf("%s/%s", root, lock);
	int stale = open(lp, O_RDWR | O_CLOEXEC);
	store_rootfs_unlock(s2, CHAIN, fd);
	t_ok(stale >= 0 && flock(stale, LOCK_EX | LOCK_NB) == 0, "the removed file's inode can still be locked");
	fd = store_rootfs_lock(s, CHAIN, false, &e);
	struct stat a, b;
	t_ok(fd >= 0 && fstat(fd, &a) == 0 && fstat(stale, &b) == 0 && a.st_ino != b.st_ino,
	     "but store_rootfs_lock takes a new file, not that one");
	store_rootfs_unlock(s, CHAIN, fd);
	close(stale);
	unlink(path);
	t_ok(!store_rootfs_exists(s, CHAIN), "gone with its file");
	/* A directory by that name is no disk. */
	mkdir(path, 0700);
	t_ok(!store_rootfs_exists(s, CHAIN), "a directory is no disk");
	rmdir(path);
}

static void t_reader(struct store *s)
{
	char d[OCI_DIGEST_LEN + 1] = "sha256:";
	struct store_ingest in;
	struct err e = { 0 };
	char buf[16] = { 0 };

	sha256_hex("0123456789", 10, d + 7);
	t_is(store_ingest_reader(s, d), -ENOENT, "no blob, no ingest file: -ENOENT");
	t_is(store_ingest_reader(s, "sha256:zz"), -EINVAL, "invalid digest: -EINVAL");
	t_is(store_ingest_begin(s, d, 10, &in, &e), 0, "download begins");
	t_ok(pwrite(in.fd, "01234", 5, 0) == 5, "first half written");
	int r = store_ingest_reader(s, d);
	t_ok(r >= 0 && pread(r, buf, sizeof(buf), 0) == 5 && memcmp(buf, "01234", 5) == 0,
	     "the reader sees the bytes written so far");
	t_ok(pwrite(in.fd, "56789", 5, 5) == 5, "second half written");
	t_is(store_ingest_commit(&in, d, 10, 10, false, &e), 0, "committed");
	t_ok(pread(r, buf, sizeof(buf), 0) == 10 && memcmp(buf, "0123456789", 10) == 0,
	     "the same reader reads the whole blob after the commit");
	close(r);
	r = store_ingest_reader(s, d);
	struct stat a;
	t_ok(r >= 0 && fstat(r, &a) == 0 && a.st_size == 10, "a new reader opens the committed blob");
	close(r);
}

/* A pull syncs blobs/ once for all its commits. */
static void t_deferred(struct store *s)
{
	const char *texts[] = { "first blob", "second blob" };
	struct err e = { 0 };

	store_defer_dir_sync(s, true);
	t_dir_syncs = t_file_syncs = 0;
	for (int i = 0; i < 2; i++) {
		char d[OCI_DIGEST_LEN + 1] = "sha256:";
		struct store_ingest in;
		size_t n = strlen(texts[i]);
		sha256_hex(texts[i], n, d + 7);
		store_ingest_begin(s, d, n, &in, &e);
		t_ok(pwrite(in.fd, texts[i], n, 0) == (ssize_t)n && store_ingest_commit(&in, d, n, n, false, &e) == 0 &&
		     store_blob_stat(s, d, NULL) == 0, "deferred commit %d: the blob is there", i + 1);
	}
	t_ok(t_file_syncs == 2 && t_dir_syncs == 0, "each blob's data synced, blobs/ not yet (%d, %d)",
	     t_file_syncs, t_dir_syncs);
	t_is(store_sync_blobs(s, &e), 0, "store_sync_blobs");
	t_is(t_dir_syncs, 1, "syncs blobs/ once");
	t_is(store_sync_blobs(s, &e), 0, "again");
	t_is(t_dir_syncs, 1, "nothing left to sync");
	store_defer_dir_sync(s, false);
	char d[OCI_DIGEST_LEN + 1] = "sha256:";
	struct store_ingest in;
	sha256_hex("third", 5, d + 7);
	store_ingest_begin(s, d, 5, &in, &e);
	t_ok(pwrite(in.fd, "third", 5, 0) == 5 && store_ingest_commit(&in, d, 5, 5, false, &e) == 0 && t_dir_syncs == 2,
	     "not deferred: the commit syncs blobs/ itself");
}

int main(void)
{
	struct store *s, *s2;
	struct err e = { 0 };

	if (!mkdtemp(root))
		t_skip_all("mkdtemp failed");
	if (store_open(&s, root, &e) < 0 || store_open(&s2, root, &e) < 0)
		t_skip_all(e.msg);
	t_rootfs(s, s2);
	t_reader(s);
	t_deferred(s);
	store_close(s);
	store_close(s2);
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
	if (system(cmd) != 0)
		t_diag("cleanup of %s failed", root);
	return t_done();
}
