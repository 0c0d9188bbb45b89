/* Push: config and layers concurrently (HEAD to skip what the registry
 * has, cross-repository mount when the image came from another repository
 * of the same registry, else a monolithic PUT or PATCH chunks), then the
 * manifest last so the registry never names an incomplete image. Blob
 * bytes are read with reactor ops from a fiber, one chunk in memory at a
 * time. */
#include "registry-internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fiber.h"
#include "log.h"
#include "util.h"

struct push {
	struct reg_client *c;
	struct reg_host *h;
	struct store *s;
	const struct oci_ref *dst;
	const struct store_image *img;
	const char *mount_from;	/* source repo on the same registry, or NULL */
	const struct reg_push_opts *o;
	struct oci_descriptor *blobs[OCI_MAX_LAYERS + 1];	/* config + layers */
	size_t nblobs;
	int status;
	struct err err;
};

static void push_progress(struct push *p, enum reg_event ev, const char *digest, uint64_t done, uint64_t total)
{
	if (!p->o || !p->o->progress)
		return;
	struct reg_progress pr = { ev, digest, done, total, NULL };
	p->o->progress(p->o->progress_arg, &pr);
}

static int expect(struct reg_call *call, long want, const char *what, const char *digest, struct err *err)
{
	if (call->status == want)
		return 0;
	char desc[512];
	reg_describe_status(call, desc, sizeof(desc));
	return err_set(err, call->status == 401 || call->status == 403 ? EACCES : EIO, "%s %s: %s", what, digest, desc);
}

/* POST an upload session (trying a mount first). 1 when mounted. */
static int upload_start(struct push *p, const char *digest, char **location, struct err *err)
{
	struct reg_call call = { .method = "POST", .repo = p->dst->path, .actions = "pull,push", .no_retry = false };
	if (p->mount_from)
		call.url = reg_url(p->h, "%s/blobs/uploads/?mount=%s&from=%s", p->dst->path, digest, p->mount_from);
	else
		call.url = reg_url(p->h, "%s/blobs/uploads/", p->dst->path);
	int r = reg_call(p->c, p->h, &call, err);
	if (r >= 0 && call.status == 201) {
		r = 1;
	} else if (r >= 0 && (r = expect(&call, 202, "starting upload of", digest, err)) >= 0) {
		if (!call.location)
			r = err_set(err, EPROTO, "upload of %s: registry gave no Location", digest);
		else
			*location = reg_resolve_location(p->h, call.location);
	}
	reg_call_reset(&call);
	return r;
}

static char *with_digest(const char *loc, const char *digest)
{
	return xasprintf("%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest);
}

static int upload_blob(struct push *p, const struct oci_descriptor *d, struct err *err)
{
	_cleanup_free_ char *loc = NULL;
	int r = upload_start(p, d->digest, &loc, err);
	if (r != 0)
		return r < 0 ? r : 0;
	_cleanup_close_ int fd = store_blob_open(p->s, d->digest);
	if (fd < 0)
		return err_setx(err, fd, "blob %s", d->digest);
	uint64_t size = (uint64_t)d->size, off = 0;
	bool chunked = size > p->c->o.chunk_size;
	size_t csz = chunked ? p->c->o.chunk_size : (size_t)size;
	_cleanup_free_ char *buf = xmalloc(csz ? csz : 1);
	do {
		size_t want = (size_t)MIN((uint64_t)csz, size - off), got = 0;
		while (got < want) {
			ssize_t n = fiber_read(p->c->loop, fd, buf + got, want - got, off + got);
			if (n <= 0)
				return err_setx(err, n < 0 ? (int)n : EIO, "reading blob %s", d->digest);
			got += (size_t)n;
		}
		char range[64];
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + want - (want ? 1 : 0)));
		struct reg_call call = { .method = chunked ? "PATCH" : "PUT", .repo = p->dst->path,
					 .actions = "pull,push", .req_body = buf, .req_len = want, .no_retry = true,
					 .content_type = "application/octet-stream",
					 .content_range = chunked ? range : NULL };
		call.url = chunked ? xstrdup(loc) : with_digest(loc, d->digest);
		r = reg_call(p->c, p->h, &call, err);
		if (r >= 0)
			r = expect(&call, chunked ? 202 : 201, "uploading", d->digest, err);
		if (r >= 0 && chunked && call.location) {
			free(loc);
			loc = reg_resolve_location(p->h, call.location);
		}
		reg_call_reset(&call);
		if (r < 0)
			return r;
		off += want;
		push_progress(p, REG_EV_BLOB_PROGRESS, d->digest, off, size);
	} while (off < size);
	if (!chunked)
		return 0;
	struct reg_call fin = { .method = "PUT", .url = with_digest(loc, d->digest), .repo = p->dst->path,
				.actions = "pull,push", .no_retry = true };
	r = reg_call(p->c, p->h, &fin, err);
	if (r >= 0)
		r = expect(&fin, 201, "finishing upload of", d->digest, err);
	reg_call_reset(&fin);
	return r;
}

static int push_one(struct push *p, const struct oci_descriptor *d, struct err *err)
{
	struct reg_call head = { .method = "HEAD", .url = reg_url(p->h, "%s/blobs/%s", p->dst->path, d->digest),
				 .repo = p->dst->path, .actions = "pull,push" };
	int r = reg_call(p->c, p->h, &head, err);
	long st = head.status;
	reg_call_reset(&head);
	if (r < 0)
		return r;
	if (st == 200) {
		push_progress(p, REG_EV_BLOB_SKIP, d->digest, (uint64_t)d->size, (uint64_t)d->size);
		return 0;
	}
	push_progress(p, REG_EV_BLOB_START, d->digest, 0, (uint64_t)d->size);
	/* Uploads are not idempotent: retry the whole blob from a new session. */
	for (unsigned attempt = 1;; attempt++) {
		r = upload_blob(p, d, err);
		if (r >= 0 || r == -EACCES || attempt >= p->c->o.retries)
			break;
		log_info("push of %s failed (%s); retrying", d->digest, err_msg(err));
		fiber_sleep(p->c->loop, 200ull * 1000000ull * attempt);
	}
	if (r >= 0)
		push_progress(p, REG_EV_BLOB_DONE, d->digest, (uint64_t)d->size, (uint64_t)d->size);
	return r;
}

static int push_job(void *arg, size_t job)
{
	struct push *p = arg;
	struct err e = { 0 };
	int r = push_one(p, p->blobs[job], &e);

	if (r < 0 && p->status >= 0) {
		p->status = r;
		p->err = e;
	}
	return r;
}

static int push_manifest(struct push *p, const char *mt, const char *data, size_t len, const char *digest,
			 const char *ref, struct err *err)
{
	struct reg_call call = { .method = "PUT", .url = reg_url(p->h, "%s/manifests/%s", p->dst->path, ref),
				 .repo = p->dst->path, .actions = "pull,push", .req_body = data, .req_len = len,
				 .content_type = mt };
	int r = reg_call(p->c, p->h, &call, err);
	if (r >= 0)
		r = expect(&call, 201, "putting manifest", digest, err);
	reg_call_reset(&call);
	return r;
}

/* Push the blobs of one image manifest, then the manifest under ref (the
 * tag, or the manifest's own digest for an index's children). */
static int push_image(struct push *p, const char *manifest, const char *ref, struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = store_blob_read(p->s, manifest, OCI_MAX_MANIFEST, &data, &len, err);
	if (r < 0)
		return r;
	struct oci_manifest m;
	r = oci_manifest_parse(data, len, NULL, &m, err);
	if (r < 0)
		return err_wrap(err, "manifest %s", manifest);
	p->nblobs = 0;
	p->status = 0;
	p->blobs[p->nblobs++] = &m.config;
	for (size_t i = 0; i < m.nlayers && p->nblobs < ARRAY_SIZE(p->blobs); i++)
		p->blobs[p->nblobs++] = &m.layers[i];
	fiber_pool_run(p->c->loop, p->c->o.jobs, p->nblobs, push_job, p, 1u << 20);
	if (p->status < 0) {
		*err = p->err;
		r = p->status;
	} else {
		r = push_manifest(p, m.media_type ? m.media_type : OCI_MT_MANIFEST, data, len, manifest, ref, err);
	}
	oci_manifest_free(&m);
	return r;
}

/* The image's index, when the store holds every manifest it names with
 * all their blobs (a `load` of a multi-arch archive); 0 otherwise. */
static int index_complete(struct store *s, const struct store_image *img, struct oci_index *ix, char **data,
			  size_t *len)
{
	if (!img->digest || strcmp(img->digest, img->manifest) == 0 ||
	    store_blob_read(s, img->digest, OCI_MAX_MANIFEST, data, len, NULL) < 0)
		return 0;
	if (oci_index_parse(*data, *len, NULL, ix, NULL) < 0)
		return 0;
	bool ok = ix->n > 0;
	for (size_t i = 0; i < ix->n && ok; i++) {
		_cleanup_strv_ char **cl = NULL;
		ok = oci_media_kind(ix->manifests[i].media_type) != OCI_KIND_INDEX &&
		     store_closure(s, ix->manifests[i].digest, &cl, NULL) == 0;
		for (char **b = cl; ok && b && *b; b++)
			ok = store_blob_stat(s, *b, NULL) == 0;
	}
	if (!ok)
		oci_index_free(ix);
	return ok;
}

static void push_stats_log(const struct push *p, const struct reg_stats *st0)
{
	if (!log_enabled(LOG_DEBUG))
		return;
	_cleanup_free_ char *name = oci_ref_string(p->dst);
	reg_stats_log(p->c, st0, "push", name);
}

int reg_push(struct reg_client *c, struct store *s, const struct store_image *img, const struct oci_ref *dst,
	     const struct reg_push_opts *o, char digest[OCI_DIGEST_LEN + 1], struct err *err)
{
	struct push p = { .c = c, .s = s, .dst = dst, .img = img, .o = o };
	p.h = reg_host_get(c, dst->domain);
	struct reg_stats st0 = c->stats;
	_cleanup_free_ char *src_repo = NULL, *ixdata = NULL;
	/* Same registry, other repository: the registry may link the blob. */
	struct oci_ref src;
	if (img->source && oci_ref_parse(img->source, &src, NULL) == 0) {
		if (strcmp(src.domain, dst->domain) == 0 && strcmp(src.path, dst->path) != 0)
			src_repo = xstrdup(src.path);
		oci_ref_free(&src);
	}
	p.mount_from = src_repo;
	struct oci_index ix;
	size_t ixlen;
	if (!index_complete(s, img, &ix, &ixdata, &ixlen)) {
		/* Only one platform of a multi-arch image is here: push that. */
		int r = push_image(&p, img->manifest, dst->tag ? dst->tag : img->manifest, err);
		if (r >= 0) {
			memcpy(digest, img->manifest, OCI_DIGEST_LEN + 1);
			push_stats_log(&p, &st0);
		}
		return r;
	}
	/* Every platform is here: children by digest, then the index. */
	int r = 0;
	for (size_t i = 0; i < ix.n && r >= 0; i++)
		r = push_image(&p, ix.manifests[i].digest, ix.manifests[i].digest, err);
	if (r >= 0)
		r = push_manifest(&p, ix.media_type ? ix.media_type : OCI_MT_INDEX, ixdata, ixlen, img->digest,
				  dst->tag ? dst->tag : img->digest, err);
	if (r >= 0) {
		memcpy(digest, img->digest, OCI_DIGEST_LEN + 1);
		push_stats_log(&p, &st0);
	}
	oci_index_free(&ix);
	return r;
}
