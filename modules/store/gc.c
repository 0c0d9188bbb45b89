/* Reachability from image names, and prune of everything else. */
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
#include "str.h"
#include "store-internal.h"
#include "util.h"

static bool strv_has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

static void push_uniq(char ***v, const char *s)
{
	if (!strv_has(*v, s))
		strv_push(v, s);
}

static int closure_manifest(struct store *s, const char *digest, const char *data, size_t len, char ***out,
			    struct err *err)
{
	struct oci_manifest m;
	int r = oci_manifest_parse(data, len, NULL, &m, err);
	if (r < 0)
		return err_wrap(err, "manifest %s", digest);
	push_uniq(out, digest);
	push_uniq(out, m.config.digest);
	for (size_t i = 0; i < m.nlayers; i++)
		push_uniq(out, m.layers[i].digest);
	oci_manifest_free(&m);
	return 0;
}

int store_closure(struct store *s, const char *digest, char ***out, struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = store_blob_read(s, digest, OCI_MAX_MANIFEST, &data, &len, err);
	if (r < 0)
		return r;
	enum oci_kind k = oci_doc_kind(data, len, NULL);
	if (k == OCI_KIND_MANIFEST)
		return closure_manifest(s, digest, data, len, out, err);
	if (k != OCI_KIND_INDEX)
		return err_set(err, EINVAL, "%s is neither a manifest nor an index", digest);
	struct oci_index ix;
	r = oci_index_parse(data, len, NULL, &ix, err);
	if (r < 0)
		return err_wrap(err, "index %s", digest);
	push_uniq(out, digest);
	for (size_t i = 0; i < ix.n && r >= 0; i++) {
		const char *child = ix.manifests[i].digest;
		/* Only the platforms that were pulled are here. */
		if (store_blob_stat(s, child, NULL) < 0)
			continue;
		_cleanup_free_ char *cd = NULL;
		size_t cl;
		r = store_blob_read(s, child, OCI_MAX_MANIFEST, &cd, &cl, err);
		if (r >= 0 && oci_doc_kind(cd, cl, ix.manifests[i].media_type) == OCI_KIND_MANIFEST)
			r = closure_manifest(s, child, cd, cl, out, err);
	}
	oci_index_free(&ix);
	return r;
}

/* Referenced blobs and rootfs names ("<hex>.ext4") of all images. */
static int collect_live(struct store *s, char ***blobs, char ***disks, struct err *err)
{
	struct store_image *v;
	size_t n;
	int r = store_image_list(s, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = store_closure(s, v[i].digest, blobs, err);
		if (r == -ENOENT) {
			/* A record whose blobs are gone keeps nothing alive. */
			log_warn("image %s: %s", v[i].name, err_msg(err));
			r = 0;
		}
		char chain[OCI_DIGEST_LEN + 1];
		if (r >= 0 && v[i].config && store_image_chain_id(s, v[i].config, NULL, chain, NULL) == 0) {
			_cleanup_free_ char *f = xasprintf("%s.ext4", chain + 7);
			push_uniq(disks, f);
		}
	}
	store_images_free(v, n);
	return r;
}

/* A DIR on a copy of dfd, rewound: the store keeps its own fd. */
static DIR *opendir_dup(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

static void prune_ingest(struct store *s, struct store_prune_stats *st)
{
	DIR *d = opendir_dup(s->fds[STORE_INGEST]);
	if (!d)
		return;
	int fd = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_close_ int f = openat(fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		/* A partial somebody is writing is locked: leave it. */
		if (f < 0 || flock(f, LOCK_EX | LOCK_NB) < 0)
			continue;
		struct stat sb;
		if (fstat(f, &sb) == 0 && unlinkat(fd, de->d_name, 0) == 0) {
			st->ingest++;
			st->bytes += (uint64_t)sb.st_blocks * 512;
		}
	}
	closedir(d);
}

/* Temp files of blob writes that died before their rename (the
 * "<hex>.tmp.<pid>" of write_file_atomic_at): every blob writer holds the
 * store lock shared, so under prune's exclusive lock none of them is live.
 * Counted with the ingest leftovers: both are partial writes. */
static void prune_blob_temps(struct store *s, struct store_prune_stats *st)
{
	DIR *d = opendir_dup(s->fds[STORE_BLOBS]);
	if (!d)
		return;
	int fd = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, ".tmp."))
			continue;
		struct stat sb;
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0) {
			st->ingest++;
			st->bytes += (uint64_t)sb.st_blocks * 512;
		}
	}
	closedir(d);
}

static void prune_rootfs(struct store *s, char **live, struct store_prune_stats *st)
{
	DIR *d = opendir_dup(s->fds[STORE_ROOTFS]);
	if (!d)
		return;
	int fd = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		/* Temp disks of builds that died before their rename: every
		 * builder holds the store lock shared, so under prune's exclusive
		 * lock none of them is live. */
		bool temp = strstr(de->d_name, ".ext4.tmp-") != NULL;
		if (!temp && (!str_endswith(de->d_name, ".ext4") || strv_has(live, de->d_name)))
			continue;
		struct stat sb;
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
		    unlinkat(fd, de->d_name, 0) == 0) {
			st->rootfs++;
			st->bytes += (uint64_t)sb.st_blocks * 512;
		}
	}
	closedir(d);
}

int store_prune(struct store *s, struct store_prune_stats *st, struct err *err)
{
	memset(st, 0, sizeof(*st));
	int r = store_lock(s, true, false, err);
	if (r < 0)
		return err_wrap(err, "prune");
	_cleanup_strv_ char **live = NULL, **disks = NULL, **all = NULL;
	r = collect_live(s, &live, &disks, err);
	if (r >= 0)
		r = store_blob_list(s, &all);
	for (char **b = all; r >= 0 && *b; b++) {
		if (strv_has(live, *b))
			continue;
		/* what the disk gets back: allocated blocks, not the
		 * apparent size of a sparse file */
		struct stat sb;
		uint64_t size = fstatat(s->fds[STORE_BLOBS], *b + 7, &sb, AT_SYMLINK_NOFOLLOW) == 0 ?
					(uint64_t)sb.st_blocks * 512 : 0;
		if (store_blob_remove(s, *b) == 0) {
			st->blobs++;
			st->bytes += size;
		}
	}
	if (r >= 0) {
		prune_ingest(s, st);
		prune_blob_temps(s, st);
		prune_rootfs(s, disks, st);
	}
	store_unlock(s);
	if (r < 0 && !err->code)
		return err_setx(err, r, "prune");
	return r;
}

/* ---- blobs a pull adds ----------------------------------------------- */

int store_add_begin(struct store *s, struct store_add *a, struct err *err)
{
	memset(a, 0, sizeof(*a));
	a->s = s;
	/* Blocking even in a fiber: the only exclusive holder is a failed
	 * pull's store_add_end, which unlinks a few files. */
	a->fd = store_flock_file(s->fds[STORE_ROOT], "lock.add", LOCK_SH, err);
	return a->fd < 0 ? a->fd : 0;
}

void store_add_blob(struct store_add *a, const char *digest)
{
	push_uniq(&a->added, digest);
}

static int drop_unreached(struct store *s, char **added)
{
	struct err e = { 0 };
	_cleanup_strv_ char **live = NULL, **disks = NULL;
	if (collect_live(s, &live, &disks, &e) < 0) {
		log_debug("store: keeping the blobs of a failed pull: %s", err_msg(&e));
		return 0;
	}
	int n = 0;
	for (char **b = added; *b; b++)
		if (!strv_has(live, *b) && store_blob_remove(s, *b) == 0)
			n++;
	return n;
}

int store_add_end(struct store_add *a, bool failed)
{
	int n = 0;
	if (a->fd < 0)
		return 0;
	/* On failure Linux has dropped our shared lock too: we are done
	 * with it anyway. */
	if (failed && a->added) {
		if (flock(a->fd, LOCK_EX | LOCK_NB) == 0)
			n = drop_unreached(a->s, a->added);
		else
			log_debug("store: another pull or load is running: %zu blobs of the failed pull are left to prune",
				  strv_len(a->added));
	}
	close(a->fd);
	a->fd = -1;
	strv_free(a->added);
	a->added = NULL;
	return n;
}
