/* Pull: manifest (and index -> platform manifest), then config and layers
 * downloaded concurrently by a few worker fibers. Every blob goes to
 * ingest/<hex>, hashed as the bytes arrive, resumed with Range after an
 * interruption, and committed only when digest and size match. */
#include "registry-internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fiber.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

#define PULL_REHASH_CHUNK (1u << 20)
#define PULL_BUSY_WAIT_NS (200ull * 1000000ull)

struct pull_blob {
	const struct oci_descriptor *d;
	ssize_t layer;		/* manifest layer index, -1 for the config */
};

struct pull {
	struct reg_client *c;
	struct reg_host *h;
	struct store *s;
	const struct oci_ref *ref;
	const struct reg_pull_opts *o;
	struct pull_blob *blobs;
	size_t nblobs, next;	/* next: the first blob the pool takes */
	int status;
	struct err err;
	struct store_add add;	/* manifests and config this pull stored */
};

/* One blob download in flight. */
struct pull_dl {
	struct pull *p;
	struct pull_blob *b;
	struct store_ingest in;
	struct sha256 h;
	uint64_t off;		/* bytes in the ingest file and in the hash */
	struct loop_op wb;	/* writeback started on what is written */
	uint64_t wb_mark;
	struct fiber *wb_waiter;
	struct err err;
};

/* The device writes the blob while it downloads: its fsync at the commit
 * then waits for the last few MiB only. */
#define PULL_WRITEBACK_STEP (8u << 20)

static void dl_wb_done(struct loop_op *op, int res, uint32_t flags)
{
	struct pull_dl *dl = container_of(op, struct pull_dl, wb);
	(void)res;	/* a hint only: the fsync reports failures */
	(void)flags;
	if (dl->wb_waiter)
		fiber_wake(dl->wb_waiter);
}

static void dl_writeback(struct pull_dl *dl)
{
	if (dl->off - dl->wb_mark < PULL_WRITEBACK_STEP || loop_op_active(&dl->wb))
		return;
	dl->wb.cb = dl_wb_done;
	if (loop_writeback(dl->p->c->loop, &dl->wb, dl->in.fd, dl->wb_mark, dl->off - dl->wb_mark) == 0)
		dl->wb_mark = dl->off;
}

/* Before dl goes away: its op must have completed. */
static void dl_writeback_settle(struct pull_dl *dl)
{
	while (loop_op_active(&dl->wb)) {
		dl->wb_waiter = fiber_current();
		fiber_suspend();
	}
	dl->wb_waiter = NULL;
}

static void progress(struct pull *p, enum reg_event ev, const char *digest, uint64_t done, uint64_t total)
{
	if (!p->o || !p->o->progress)
		return;
	struct reg_progress pr = { ev, digest, done, total, NULL };
	p->o->progress(p->o->progress_arg, &pr);
}

static const struct reg_layer_hook *hook_for(struct pull_dl *dl)
{
	const struct reg_layer_hook *hk = dl->p->o ? dl->p->o->hook : NULL;
	return dl->b->layer >= 0 ? hk : NULL;
}

static int hook_advance(struct pull_dl *dl)
{
	const struct reg_layer_hook *hk = hook_for(dl);
	if (!hk || !hk->advance)
		return 0;
	int r = hk->advance(hk->arg, (size_t)dl->b->layer, dl->off);
	if (r < 0)
		err_setx(&dl->err, r, "%s: layer consumer", dl->b->d->digest);
	return r;
}

static int dl_sink(struct reg_call *call, const char *data, size_t len)
{
	struct pull_dl *dl = call->sink_arg;
	struct reg_client *c = dl->p->c;
	/* Asked for a range but got the whole blob: start over. */
	if (call->range_from && call->status == 200 && dl->off == call->range_from) {
		if (ftruncate(dl->in.fd, 0) < 0)
			return err_setx(&dl->err, errno, "%s: truncating partial", dl->b->d->digest);
		sha256_abort(&dl->h);
		sha256_init(&dl->h);
		dl->off = dl->wb_mark = 0;
		call->range_from = 0;
		const struct reg_layer_hook *hk = hook_for(dl);
		if (hk && hk->restart)
			hk->restart(hk->arg, (size_t)dl->b->layer);
	}
	if (dl->off + len > (uint64_t)dl->b->d->size)
		return err_set(&dl->err, EUCLEAN, "%s: registry sent more than the %lld bytes the manifest says",
			       dl->b->d->digest, (long long)dl->b->d->size);
	ssize_t w = fiber_write_all(c->loop, dl->in.fd, data, len, dl->off);
	if (w == -ENOSPC || w == -EDQUOT)
		return err_set(&dl->err, (int)-w, "%s: the store's filesystem is full (%s) after %llu of %lld bytes; "
			       "the partial download was removed", dl->b->d->digest, strerror((int)-w),
			       (unsigned long long)dl->off, (long long)dl->b->d->size);
	if (w < 0)
		return err_setx(&dl->err, (int)w, "%s: writing ingest file", dl->b->d->digest);
	sha256_update(&dl->h, data, len);
	dl->off += len;
	dl_writeback(dl);
	progress(dl->p, REG_EV_BLOB_PROGRESS, dl->b->d->digest, dl->off, (uint64_t)dl->b->d->size);
	return hook_advance(dl);
}

static void dl_prepare(struct reg_call *call)
{
	struct pull_dl *dl = call->sink_arg;
	call->range_from = dl->off;
}

static uint64_t dl_missing(struct reg_call *call)
{
	struct pull_dl *dl = call->sink_arg;
	return (uint64_t)dl->b->d->size - dl->off;
}

/* Hash what an earlier run left in ingest/; the hook reads it itself. */
static int dl_rehash(struct pull_dl *dl)
{
	if (!dl->in.have)
		return 0;
	_cleanup_free_ char *buf = xmalloc(PULL_REHASH_CHUNK);
	while (dl->off < dl->in.have) {
		ssize_t n = fiber_read(dl->p->c->loop, dl->in.fd, buf, MIN((uint64_t)PULL_REHASH_CHUNK, dl->in.have - dl->off),
				       dl->off);
		if (n <= 0)
			return err_setx(&dl->err, n < 0 ? (int)n : EIO, "%s: reading partial download", dl->b->d->digest);
		sha256_update(&dl->h, buf, (size_t)n);
		dl->off += (uint64_t)n;
	}
	int r = hook_advance(dl);
	if (r < 0)
		return r;
	log_debug("resuming %s at %llu bytes", dl->b->d->digest, (unsigned long long)dl->off);
	return 0;
}

static int dl_fetch(struct pull_dl *dl)
{
	struct pull *p = dl->p;
	const struct oci_descriptor *d = dl->b->d;
	int r = dl_rehash(dl);
	if (r < 0 || dl->off == (uint64_t)d->size)
		return r;
	struct reg_call call = { .method = "GET", .url = reg_url(p->h, "%s/blobs/%s", p->ref->path, d->digest),
				 .repo = p->ref->path, .actions = "pull", .sink = dl_sink, .sink_arg = dl,
				 .prepare = dl_prepare, .missing = dl_missing, .body_max = 64u << 10 };
	r = reg_call(p->c, p->h, &call, &dl->err);
	if (r >= 0 && call.status == 416 && call.range_from) {
		/* What we have is all the registry has: the blob is short. */
		r = err_set(&dl->err, EUCLEAN, "%s: truncated (got %llu of %lld bytes; the registry has no more)",
			    d->digest, (unsigned long long)dl->off, (long long)d->size);
	} else if (r >= 0 && call.status != 200 && call.status != 206) {
		char desc[512];
		reg_describe_status(&call, desc, sizeof(desc));
		char tries[48] = "";
		if (call.tries > 1)
			snprintf(tries, sizeof(tries), " (gave up after %u tries)", call.tries);
		r = err_set(&dl->err, call.status == 404 ? ENOENT : EIO, "%s: %s%s", d->digest, desc, tries);
	} else if (r >= 0 && dl->off != (uint64_t)d->size) {
		r = err_set(&dl->err, EUCLEAN, "%s: truncated (got %llu of %lld bytes)", d->digest,
			    (unsigned long long)dl->off, (long long)d->size);
	} else if (r < 0 && !dl->err.code) {
		err_wrap(&dl->err, "%s", d->digest);
	}
	/* A wrong or short blob must not be resumed from; a partial that
	 * filled the disk must not keep it full. */
	if (r == -EUCLEAN || r == -ENOSPC || r == -EDQUOT)
		store_ingest_end(&dl->in, true);
	reg_call_reset(&call);
	return r;
}

static int dl_commit(struct pull_dl *dl)
{
	struct loop_op op = FIBER_OP_INIT;
	int r = loop_fsync(dl->p->c->loop, &op, dl->in.fd, false);
	if (r >= 0)
		r = fiber_await(&op);
	if (r < 0)
		return err_setx(&dl->err, r, "%s: fsync", dl->b->d->digest);
	char got[OCI_DIGEST_LEN + 1] = "sha256:";
	sha256_final_hex(&dl->h, got + 7);
	dl->h.ctx = NULL;
	return store_ingest_commit(&dl->in, got, dl->off, (uint64_t)dl->b->d->size, true, &dl->err);
}

static int pull_one(struct pull *p, struct pull_blob *b)
{
	struct pull_dl dl = { .p = p, .b = b };
	const struct oci_descriptor *d = b->d;
	int r;
	for (;;) {
		r = store_ingest_begin(p->s, d->digest, (uint64_t)d->size, &dl.in, &dl.err);
		if (r != -EBUSY)
			break;
		/* Another ucrt process is fetching this blob: wait for it. */
		fiber_sleep(p->c->loop, PULL_BUSY_WAIT_NS);
	}
	const struct reg_layer_hook *hk = hook_for(&dl);
	if (r == 1) {
		progress(p, REG_EV_BLOB_SKIP, d->digest, (uint64_t)d->size, (uint64_t)d->size);
		if (hk && hk->present)
			hk->present(hk->arg, (size_t)b->layer, d->digest);
		return 0;
	}
	if (r < 0) {
		p->err = dl.err;
		return r;
	}
	progress(p, REG_EV_BLOB_START, d->digest, dl.in.have, (uint64_t)d->size);
	sha256_init(&dl.h);
	r = dl_fetch(&dl);
	dl_writeback_settle(&dl);
	if (r >= 0)
		r = dl_commit(&dl);
	if (r >= 0 && b->layer < 0)
		store_add_blob(&p->add, d->digest);
	if (dl.h.ctx)
		sha256_abort(&dl.h);
	store_ingest_end(&dl.in, false);
	if (hk && hk->done)
		hk->done(hk->arg, (size_t)b->layer, r);
	if (r < 0)
		p->err = dl.err;
	else
		progress(p, REG_EV_BLOB_DONE, d->digest, (uint64_t)d->size, (uint64_t)d->size);
	return r;
}

/* One job of the pool: blob p->next + job. The first failure is the one
 * reported (the pool stops starting blobs after it). */
static int pull_job(void *arg, size_t job)
{
	struct pull *p = arg;
	struct err keep = p->err;
	int r = pull_one(p, &p->blobs[p->next + job]);

	if (r < 0 && p->status >= 0)
		p->status = r;
	else if (r < 0)
		p->err = keep;
	return r;
}

static int pull_blobs(struct pull *p, struct err *err)
{
	int r = fiber_pool_run(p->c->loop, p->c->o.jobs, p->nblobs - p->next, pull_job, p, 1u << 20);

	if (r < 0) {
		*err = p->err;
		return p->status < 0 ? p->status : r;
	}
	return 0;
}

/* A hook that wants the manifest up front gets it with the config in the
 * store (a consumer needs the config's diff ids to name its output). */
static int pull_start(struct pull *p, const struct oci_manifest *m, struct err *err)
{
	const struct reg_layer_hook *hk = p->o ? p->o->hook : NULL;
	if (!hk || !hk->start)
		return 0;
	int r = pull_one(p, &p->blobs[p->next++]);
	if (r < 0) {
		*err = p->err;
		return r;
	}
	r = hk->start(hk->arg, m);
	if (r < 0)
		return err_setx(err, r, "layer consumer");
	return 0;
}

/* GET a manifest or index by tag or digest; verify and store it. */
static int fetch_manifest(struct pull *p, const char *what, char digest[OCI_DIGEST_LEN + 1], char **data, size_t *len,
			  char **ctype, struct err *err)
{
	struct reg_call call = { .method = "GET", .url = reg_url(p->h, "%s/manifests/%s", p->ref->path, what),
				 .accept = OCI_ACCEPT_MANIFESTS, .repo = p->ref->path, .actions = "pull",
				 .body_max = OCI_MAX_MANIFEST };
	_cleanup_free_ char *name = oci_ref_name(p->ref);
	int r = reg_call(p->c, p->h, &call, err);
	if (r == -E2BIG)
		r = err_set(err, E2BIG, "manifest %s:%s larger than %u bytes", name, what, OCI_MAX_MANIFEST);
	if (r >= 0 && call.status != 200) {
		char desc[512];
		reg_describe_status(&call, desc, sizeof(desc));
		r = err_set(err, call.status == 404 ? ENOENT : call.status == 401 ? EACCES : EIO,
			    "manifest %s:%s: %s%s%s", name, what, desc,
			    call.status == 401 && p->h->creds_withheld ? "; credentials not sent to the token server " : "",
			    call.status == 401 && p->h->creds_withheld ? p->h->creds_withheld : "");
	}
	if (r >= 0) {
		char got[OCI_DIGEST_LEN + 1];
		const char *want = oci_digest_valid(what) ? what : NULL;
		r = store_blob_put(p->s, call.body.data, call.body.len, want, got, err);
		if (r == 1)
			store_add_blob(&p->add, got);
		if (r >= 0 && !want && call.docker_digest && oci_digest_valid(call.docker_digest) &&
		    strcmp(call.docker_digest, got) != 0)
			r = err_set(err, EUCLEAN, "manifest %s:%s: registry says %s but the content hashes to %s", name,
				    what, call.docker_digest, got);
		if (r >= 0) {
			memcpy(digest, got, sizeof(got));
			*len = call.body.len;
			*data = buf_steal(&call.body);
			*ctype = call.content_type_got ? xstrdup(call.content_type_got) : NULL;
		}
	}
	reg_call_reset(&call);
	return r;
}

static int pull_resolve(struct pull *p, struct reg_pull_result *res, struct oci_manifest *m, struct err *err)
{
	_cleanup_free_ char *data = NULL, *ctype = NULL;
	size_t len;
	const char *what = p->ref->digest ? p->ref->digest : p->ref->tag;
	int r = fetch_manifest(p, what, res->digest, &data, &len, &ctype, err);
	if (r < 0)
		return r;
	memcpy(res->manifest, res->digest, sizeof(res->digest));
	if (oci_doc_kind(data, len, ctype) == OCI_KIND_INDEX) {
		struct oci_index ix;
		struct oci_platform host = { 0 };
		const struct oci_platform *want = p->o && p->o->platform ? p->o->platform : NULL;
		if (!want) {
			oci_platform_host(&host);
			want = &host;
		}
		r = oci_index_parse(data, len, ctype, &ix, err);
		if (r >= 0) {
			r = oci_index_select(&ix, want, err);
			if (r >= 0) {
				free(data);
				free(ctype);
				data = ctype = NULL;
				r = fetch_manifest(p, ix.manifests[r].digest, res->manifest, &data, &len, &ctype, err);
			}
			oci_index_free(&ix);
		}
		oci_platform_free(&host);
		if (r < 0)
			return r;
	}
	r = oci_manifest_parse(data, len, ctype, m, err);
	if (r < 0)
		return err_wrap(err, "manifest %s", res->manifest);
	memcpy(res->config, m->config.digest, OCI_DIGEST_LEN + 1);
	return 0;
}

int reg_pull(struct reg_client *c, struct store *s, const struct oci_ref *ref, const struct reg_pull_opts *o,
	     struct reg_pull_result *res, struct err *err)
{
	struct pull p = { .c = c, .s = s, .ref = ref, .o = o };
	p.h = reg_host_get(c, ref->domain);
	struct reg_stats st0 = c->stats;
	struct oci_manifest m;
	int r = store_add_begin(s, &p.add, err);
	if (r < 0)
		return r;
	store_defer_dir_sync(s, true);
	r = pull_resolve(&p, res, &m, err);
	if (r < 0) {
		store_defer_dir_sync(s, false);
		store_add_end(&p.add, true);
		return r;
	}
	p.nblobs = m.nlayers + 1;
	p.blobs = xcalloc(p.nblobs, sizeof(*p.blobs));
	p.blobs[0] = (struct pull_blob){ &m.config, -1 };
	for (size_t i = 0; i < m.nlayers; i++)
		p.blobs[i + 1] = (struct pull_blob){ &m.layers[i], (ssize_t)i };
	r = pull_start(&p, &m, err);
	if (r >= 0)
		r = pull_blobs(&p, err);
	if (r >= 0) {
		/* The config must parse: a run would need it. */
		_cleanup_free_ char *cd = NULL;
		size_t cl;
		struct oci_image_config cfg;
		r = store_blob_read(s, m.config.digest, OCI_MAX_CONFIG, &cd, &cl, err);
		if (r >= 0 && (r = oci_config_parse(cd, cl, &cfg, err)) >= 0)
			oci_config_free(&cfg);
	}
	if (r >= 0) {
		_cleanup_free_ char *name = oci_ref_string(ref);
		_cleanup_free_ char *source = oci_ref_name(ref);
		/* Every blob's rename durable before the name that reaches it. */
		r = store_sync_blobs(s, err);
		if (r >= 0)
			r = store_image_register(s, name, res->digest, o ? o->platform : NULL, source, err);
		reg_stats_log(c, &st0, "pull", name);
	}
	store_defer_dir_sync(s, false);
	int dropped = store_add_end(&p.add, r < 0);
	if (dropped)
		log_debug("pull: removed %d manifest and config blobs the failed pull had stored", dropped);
	free(p.blobs);
	oci_manifest_free(&m);
	return r;
}
