/* An image in the store -> its read-only disk rootfs/<chain-hex>.ext4.
 *
 * The disk is named by the chain id of the image's layers, so images that
 * share all layers share one disk. It is built once: under an exclusive
 * flock of rootfs/<chain-hex>.lock, re-checked after the lock is taken,
 * written by ext4w into a temp file and renamed into place, then made
 * read-only (0444). Containers never write it: they get a qcow2 overlay
 * or QEMU's snapshot mode.
 *
 * Blocking setup work: it runs before any VM of this process starts (a
 * deliberate exception to "nothing blocks the reactor": the reactor has
 * nothing else to do yet). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/container.h"
#include "container-internal.h"
#include "err.h"
#include "ext4/ext4.h"
#include "log.h"
#include "loop.h"
#include "oci/oci.h"
#include "store/store.h"
#include "util.h"

void ctr_image_release(struct ctr_image *img)
{
	free(img->ref);
	free(img->id);
	free(img->chain_id);
	free(img->disk);
	if (img->config) {
		oci_config_free(img->config);
		free(img->config);
	}
	if (img->store)
		store_close(img->store);
	memset(img, 0, sizeof(*img));
}

int ctr_image_from_disk(const char *disk, struct ctr_image *out, struct err *err)
{
	char *abs = realpath(disk, NULL);

	if (!abs)
		return err_setx(err, errno, "image disk %s", disk);
	memset(out, 0, sizeof(*out));
	out->ref = xstrdup(disk);
	out->id = xstrdup("");
	out->chain_id = xstrdup("");
	out->disk = abs;
	out->config = xcalloc(1, sizeof(*out->config));
	out->t_ready = out->t_disk = loop_now_ns();
	return 0;
}

/* Layers of the image's manifest, in order. */
static int ctr_image_manifest(struct store *s, const struct store_image *si, struct oci_manifest *m,
			      struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = store_blob_read(s, si->manifest, OCI_MAX_MANIFEST, &data, &len, err);

	if (r < 0)
		return err_wrap(err, "manifest of %s", si->name);
	return oci_manifest_parse(data, len, NULL, m, err);
}

static int ctr_image_config(struct store *s, const char *digest, struct oci_image_config *c,
			    struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = store_blob_read(s, digest, OCI_MAX_CONFIG, &data, &len, err);

	if (r < 0)
		return err_wrap(err, "image config");
	r = oci_config_parse(data, len, c, err);
	return r < 0 ? err_wrap(err, "image config %.19s", digest) : 0;
}

/* The manifest's layers as stored blobs, opened again for each rebuild. */
struct ctr_disk_layers {
	struct store *s;
	const struct oci_manifest *m;
	int fd;
};

static int ctr_disk_open(void *arg, size_t i, struct ext4w_source *src, struct err *err)
{
	struct ctr_disk_layers *dl = arg;
	const struct oci_descriptor *d = &dl->m->layers[i];

	dl->fd = store_blob_open(dl->s, d->digest);
	if (dl->fd < 0)
		return err_setx(err, dl->fd, "layer %.19s", d->digest);
	*src = (struct ext4w_source){
		.read = ext4w_fd_read, .arg = (void *)(intptr_t)dl->fd,
		.name = d->digest, .media_type = d->media_type,
	};
	return 0;
}

static void ctr_disk_close(void *arg, size_t i)
{
	struct ctr_disk_layers *dl = arg;

	close(dl->fd);
	dl->fd = -1;
}

static int ctr_disk_build(struct loop *l, struct store *s, const struct oci_manifest *m,
			  const char *path, struct err *err)
{
	uint64_t total = 0;
	int r;

	for (size_t i = 0; i < m->nlayers; i++) {
		int fd = store_blob_open(s, m->layers[i].digest);
		uint64_t est;
		r = fd < 0 ? fd : ext4w_estimate_fd(fd, &est);
		if (fd >= 0)
			close(fd);
		if (r < 0)
			return err_setx(err, r, "layer %.19s", m->layers[i].digest);
		total += est;
	}
	struct ext4w_opts o = { .loop = l, .fsync = true };
	struct ctr_disk_layers dl = { .s = s, .m = m, .fd = -1 };
	struct ext4w_layers ls = { .n = m->nlayers, .open = ctr_disk_open, .close = ctr_disk_close, .arg = &dl };
	/* The estimate knows bytes, not entries: grow when the layers need more. */
	r = ext4w_build(path, ext4w_size_for(total), true, &o, &ls, NULL, err);
	if (r < 0)
		return r;
	chmod(path, 0444);
	return 0;
}

int ctr_disk_lock(struct store *s, const char *chain, bool wait, struct err *err)
{
	int fd = store_rootfs_lock(s, chain, wait, err);
	_cleanup_free_ char *path = NULL;

	if (fd < 0)
		return fd;
	path = store_rootfs_path(s, chain);
	int n = ext4w_clean_temps(path);
	if (n > 0)
		log_debug("removed %d stale temp file(s) of %s", n, path);
	return fd;
}

/* rootfs/<hex>.ext4 exists when this returns 0: built here under its lock
 * unless someone else did meanwhile. */
static int ctr_disk_ensure(struct loop *l, struct store *s, const struct oci_manifest *m,
			   const char *chain, char **disk, struct err *err)
{
	_cleanup_free_ char *path = store_rootfs_path(s, chain);
	int lfd, r;

	*disk = NULL;
	if (!path)
		return err_set(err, EINVAL, "invalid chain id %s", chain);
	if (!store_rootfs_exists(s, chain)) {
		if ((lfd = ctr_disk_lock(s, chain, true, err)) < 0)
			return lfd;
		if (!store_rootfs_exists(s, chain)) {
			uint64_t t = loop_now_ns();
			r = ctr_disk_build(l, s, m, path, err);
			if (r < 0) {
				store_rootfs_unlock(s, chain, lfd);
				return err_wrap(err, "building the disk of %.19s", chain);
			}
			log_debug("disk %s built in %.1f ms", path, (double)(loop_now_ns() - t) / 1e6);
		}
		store_rootfs_unlock(s, chain, lfd);
	}
	*disk = TAKE_PTR(path);
	return 0;
}

static int ctr_image_lookup(struct store *s, const char *ref, const struct oci_platform *want,
			    struct store_image *si, char **norm, struct err *err)
{
	struct oci_ref pr = { 0 };
	struct err e2 = { 0 };
	int r;

	free(*norm);
	*norm = NULL;
	if (oci_ref_parse(ref, &pr, &e2) == 0) {
		*norm = oci_ref_string(&pr);
		oci_ref_free(&pr);
		r = store_image_find_platform(s, *norm, want, si, &e2);
		if (r != -ENOENT)
			return r < 0 ? err_set(err, -r, "%s", err_msg(&e2)) : 0;
	}
	/* An image id prefix or a digest. */
	r = store_image_find_platform(s, ref, want, si, err);
	return r;
}

int ctr_image_get(struct loop *l, const char *root, const char *ref,
		  const struct ctr_image_opts *o, struct ctr_image *out, struct err *err)
{
	struct store_image si = { 0 };
	struct oci_manifest m = { 0 };
	_cleanup_free_ char *norm = NULL;
	char chain[OCI_DIGEST_LEN + 1];
	struct store *s;
	int r;

	memset(out, 0, sizeof(*out));
	r = store_open(&s, root, err);
	if (r < 0)
		return r;
	out->store = s;
	/* Held shared for the whole run: a prune cannot take our blobs or disk. */
	r = store_lock(s, false, true, err);
	if (r < 0)
		goto fail;
	bool pull_failed = false;
	r = ctr_image_lookup(s, ref, o->platform, &si, &norm, err);
	if (r == -ENOENT && o->pull_missing && norm) {
		err_clear(err);
		r = ctr_image_pull(l, s, norm, o, err);
		pull_failed = r < 0;
		if (r == 0)
			r = ctr_image_lookup(s, ref, o->platform, &si, &norm, err);
		out->pulled = r == 0;
	}
	if (r < 0) {
		/* A pull's own error (a platform the index lacks) says more. */
		if (r == -ENOENT && !pull_failed)
			err_set(err, ENOENT, "image %s not found", ref);
		goto fail;
	}
	out->t_ready = loop_now_ns();
	out->config = xcalloc(1, sizeof(*out->config));
	if ((r = ctr_image_config(s, si.config, out->config, err)) < 0 ||
	    (r = ctr_image_manifest(s, &si, &m, err)) < 0)
		goto fail;
	size_t ndiff;
	if ((r = store_image_chain_id(s, si.config, &ndiff, chain, err)) < 0) {
		err_wrap(err, "image %s", si.name);
		goto fail;
	}
	if (m.nlayers != ndiff) {
		r = err_set(err, EINVAL, "image %s: %zu layers but %zu diff ids", si.name, m.nlayers, ndiff);
		goto fail;
	}
	r = ctr_disk_ensure(l, s, &m, chain, &out->disk, err);
	if (r < 0)
		goto fail;
	out->t_disk = loop_now_ns();
	out->ref = xstrdup(si.name);
	out->id = xstrdup(si.config);
	out->chain_id = xstrdup(chain);
	oci_manifest_free(&m);
	store_image_free(&si);
	return 0;
fail:
	oci_manifest_free(&m);
	store_image_free(&si);
	ctr_image_release(out);
	return r;
}
