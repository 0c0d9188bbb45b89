/* The content store under the root directory (default /var/lib/ucrt):
 *
 *   blobs/sha256/<hex>     verified content (temp name, fsync, rename)
 *   ingest/<hex>           partial downloads, one per blob, flock'ed by the
 *                          process writing it; resumable with HTTP Range
 *   images/index.json      name:tag -> digests, replaced atomically
 *   rootfs/<chain>.ext4    flattened image disks (written by modules/ext4)
 *   containers/<id>/       per-container state (modules/vm, cli)
 *   lock, lock.add,        flock files (see docs/images.md)
 *   images/lock
 *
 * All access is relative to directory fds opened once (O_NOFOLLOW on every
 * leaf), and a digest is validated before it becomes a file name. Calls
 * here are short blocking file operations: the registry client does the
 * long writes through the reactor and hands finished files over. */
#ifndef UCRT_STORE_H
#define UCRT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/oci.h"

struct check_report;
struct err;
struct store;

/* Create the layout when missing; returns -errno with err set. */
int store_open(struct store **out, const char *root, struct err *err);
void store_close(struct store *s);
static inline void store_closep(struct store **s) { if (*s) store_close(*s); }
#define _cleanup_store_ __attribute__((cleanup(store_closep)))

/* Users of blobs (pull, push, save, run) hold the store lock shared for
 * their whole run, prune holds it exclusive: a blob committed but not yet
 * named by an image is never collected under a running pull. With wait
 * false, -EBUSY when the other side holds it. */
int store_lock(struct store *s, bool exclusive, bool wait, struct err *err);
void store_unlock(struct store *s);

/* ---- blobs ----------------------------------------------------------------*/
/* 0 and *size when present, -ENOENT when not, -EINVAL for a bad digest. */
int store_blob_stat(struct store *s, const char *digest, uint64_t *size);
/* Read-only fd of a blob, or -errno. */
int store_blob_open(struct store *s, const char *digest);
/* Read a small blob (manifest, config) and check its digest. */
int store_blob_read(struct store *s, const char *digest, size_t max, char **data, size_t *len, struct err *err);
/* Store bytes as a blob; when want is given the content must hash to it.
 * out (may be NULL) receives the digest. Idempotent: 1 when this call wrote
 * the blob, 0 when it was there. */
int store_blob_put(struct store *s, const void *data, size_t len, const char *want,
		   char out[OCI_DIGEST_LEN + 1], struct err *err);
int store_blob_remove(struct store *s, const char *digest);
/* Every blob digest in the store (NULL-terminated vector). */
int store_blob_list(struct store *s, char ***out);

/* ---- ingest: a blob being written --------------------------------------- */
struct store_ingest {
	struct store *s;
	char digest[OCI_DIGEST_LEN + 1];
	int fd;			/* O_RDWR, flock'ed exclusively */
	uint64_t have;		/* bytes already in the file (resume point) */
};
/* Open (or resume) ingest/<hex> for digest, locked against other processes.
 * Returns 0 (write from in->have on), 1 when the blob is already committed
 * (nothing to do; in->fd is -1), -EBUSY when another process is writing the
 * same blob (wait and try again), or -errno. A partial longer than
 * want_size is discarded. */
int store_ingest_begin(struct store *s, const char *digest, uint64_t want_size, struct store_ingest *in,
		       struct err *err);
/* Check got_digest/got_size (computed by the writer while the bytes went
 * in) against the target, fsync unless synced, rename into blobs/, fsync the
 * directory. On mismatch the partial is deleted and err names the digest. */
int store_ingest_commit(struct store_ingest *in, const char *got_digest, uint64_t got_size, uint64_t want_size,
			bool synced, struct err *err);
/* Release the lock and fd; discard deletes the partial file. */
void store_ingest_end(struct store_ingest *in, bool discard);
/* A pull commits several blobs: with defer set, store_ingest_commit
 * leaves the fsync of blobs/ (what makes each rename durable) to one
 * store_sync_blobs() before the image is named. Each blob's own data is
 * fsynced before its rename either way, so a blob that is in blobs/ after
 * a crash is complete; one whose rename was lost is fetched again. */
void store_defer_dir_sync(struct store *s, bool defer);
int store_sync_blobs(struct store *s, struct err *err);
/* A read-only fd on digest's bytes for a consumer that follows a download:
 * the committed blob, else ingest/<hex>. It stays valid across the commit
 * (a rename keeps the inode), so one open serves the whole download. A
 * restarted download truncates the file: bytes read past what the writer
 * has rewritten since read back as zeros or short, never stale content.
 * -ENOENT when neither exists. */
int store_ingest_reader(struct store *s, const char *digest);

/* ---- images: name -> digests ---------------------------------------------*/
struct store_image {
	char *name;	/* "docker.io/library/alpine:latest" */
	char *digest;	/* what the name resolved to (index or manifest) */
	char *manifest;	/* the platform's image manifest */
	char *config;	/* config digest = image id */
	char *platform;	/* "linux/amd64" */
	char *source;	/* "registry/repo" it was pulled from, for cross-repo mounts */
	int64_t created;	/* unix time it was named */
};
void store_image_free(struct store_image *img);
void store_images_free(struct store_image *v, size_t n);
int store_image_list(struct store *s, struct store_image **out, size_t *n, struct err *err);
/* Add or replace the entry with img->name and img->platform (atomic
 * replace of the index). */
int store_image_set(struct store *s, const struct store_image *img, struct err *err);
/* Name an image whose blobs are in the store: digest is a manifest or an
 * index (then the manifest for want, default the host, is recorded). */
int store_image_register(struct store *s, const char *name, const char *digest, const struct oci_platform *want,
			 const char *source, struct err *err);
/* Remove by exact name, every platform: -ENOENT when absent. */
int store_image_remove(struct store *s, const char *name, struct err *err);
/* Find by exact name, by a digest any field holds, or by an image id prefix
 * (>= 4 hex digits of the config digest). -ENOENT, or -EINVAL if ambiguous. */
int store_image_find(struct store *s, const char *what, struct store_image *out, struct err *err);
/* The same, among the entries of one name or digest, the one for want:
 * -ENOENT naming the platforms stored when none fits. want NULL: the
 * host's platform if stored, else any. */
int store_image_find_platform(struct store *s, const char *what, const struct oci_platform *want,
			      struct store_image *out, struct err *err);

/* ---- adding: blobs of a pull or load that no image names yet ----------- */
/* A pull or load holds the store's "lock.add" shared from its first blob to
 * its image name. When a pull fails, the manifests, indexes and configs it
 * added (store_add_blob) would stay unnamed until a prune; store_add_end
 * removes those no image reaches, but only with that lock exclusive (no
 * other pull or load running: one of them may have found the same blob
 * present and count on it); otherwise they are left to prune. Layers are
 * kept: they are what a retry would download again. */
struct store_add {
	struct store *s;
	int fd;
	char **added;
};
int store_add_begin(struct store *s, struct store_add *a, struct err *err);
void store_add_blob(struct store_add *a, const char *digest);
/* failed: remove the added blobs as above. Returns how many were removed. */
int store_add_end(struct store_add *a, bool failed);

/* ---- closure, gc, OCI layout ------------------------------------------- */
/* Blobs reachable from a manifest or index digest that are present in the
 * store (index children not pulled are skipped): the digest itself, child
 * manifests, configs, layers. Appends to *out (deduplicated). */
int store_closure(struct store *s, const char *digest, char ***out, struct err *err);
struct store_prune_stats {
	unsigned blobs, ingest, rootfs;
	uint64_t bytes;
};
/* Remove blobs no image reaches, unlocked ingest files, and rootfs disks of
 * no image. Takes the store lock exclusive (-EBUSY while others run).
 * bytes is the space given back: allocated blocks (st_blocks * 512), so a
 * sparse disk counts what it held, not its apparent size. */
int store_prune(struct store *s, struct store_prune_stats *st, struct err *err);

/* ---- rootfs: image disks (rootfs.c) ------------------------------------
 * An image's disk is named by the chain id of its layers, so images that
 * share all layers share one disk: rootfs/<chain-hex>.ext4, built under
 * rootfs/<chain-hex>.lock. */
/* The chain id of a stored image config's diff ids; *nlayers (may be
 * NULL) gets how many there are, to check against a manifest. */
int store_image_chain_id(struct store *s, const char *config_digest, size_t *nlayers,
			 char out[OCI_DIGEST_LEN + 1], struct err *err);
/* Absolute path of chain's disk (malloc'ed; NULL for an invalid chain). */
char *store_rootfs_path(struct store *s, const char *chain);
/* The disk is there (a regular file: built and renamed into place). */
bool store_rootfs_exists(struct store *s, const char *chain);
/* Take chain's build lock: its fd, or -EWOULDBLOCK when another process
 * holds it and !wait. A lock file the previous holder removed is not
 * taken (that would exclude nobody). */
int store_rootfs_lock(struct store *s, const char *chain, bool wait, struct err *err);
/* Remove the lock file (the disk is built or given up) and release it. */
void store_rootfs_unlock(struct store *s, const char *chain, int fd);
/* Write an OCI image-layout tar (oci-layout, index.json, blobs/sha256/..)
 * of the given images to fd; each index.json entry carries the image name
 * in org.opencontainers.image.ref.name (tag) and io.containerd.image.name. */
int store_save(struct store *s, const struct store_image *imgs, size_t n, int fd, struct err *err);
/* Read such a tar: blobs are verified and committed, names registered
 * (entries without a name get default_name if given). Returns the number
 * of images loaded; *names lists them. */
int store_load(struct store *s, int fd, const char *default_name, char ***names, struct err *err);

/* ---- consistency check (check.c, `ucrt system check`) ------------------ */
struct store_check_stats {
	unsigned blobs, images, disks;	/* checked */
};
/* Re-hash every blob, check the name index and that every name's blobs
 * are there, e2fsck -fn every rootfs disk, and find partial downloads,
 * temp files and lock files that dead processes left. With repair: bad
 * blobs (and an unreadable index) go to quarantine/, names missing blobs
 * are removed, bad disks and leftovers deleted; repair needs the store lock
 * exclusive (-EBUSY while anything uses the store). Each problem goes to
 * rep (core/check.h; what: "blob sha256:...", "image NAME", "rootfs/X",
 * "ingest/X") and adds to its counts. Returns 0 when the check ran (st
 * says what it checked). */
int store_check(struct store *s, bool repair, struct check_report *rep, struct store_check_stats *st,
		struct err *err);

#endif
