/* Streaming pull: layers go into the image's disk while they download.
 *
 * The registry client calls the hook below: start() with the manifest (the
 * config is then in the store, so the chain id and the disk's name are
 * known), then per layer present() or advance()... done(), layers
 * downloading concurrently. One writer fiber applies the layers in
 * manifest order through ext4w. The registry writes every byte to
 * ingest/<hex> before advance() tells, so the writer needs no copy of its
 * own: advance() only moves the layer's high-water mark and wakes the
 * writer, which reads the bytes back (from the page cache) through
 * store_ingest_reader(), valid across the blob's commit. A layer that is
 * not the current one thus waits buffered on disk, and the download never
 * waits for the writer. restart() (a server that ignored Range) only
 * lowers the mark: the bytes come again, the same ones, and the writer
 * waits until they pass what it has read.
 *
 * A layer's end of stream is its done() with success: the digest has been
 * verified by then, so a corrupt blob can only fail the writer, never
 * reach the final name. On any failure the writer is aborted (temp file
 * removed) and the pull fails with the writer's error: a disk that cannot
 * be written from these layers now cannot be built from the store later.
 * A disk that fills up (the size was guessed before the uncompressed
 * sizes or the number of entries were known) is not a failure: once the
 * pull is over, the writer builds it again from the stored blobs with the
 * geometry ext4w counted while reading the layers to the end. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container-internal.h"
#include "err.h"
#include "ext4/ext4.h"
#include "fiber.h"
#include "log.h"
#include "oci/oci.h"
#include "registry/registry.h"
#include "store/store.h"
#include "util.h"

/* The disk is created before any uncompressed size is known: compressed
 * layers are guessed at this ratio, and the disk is never smaller than
 * CTR_STREAM_MIN. Both are generous because the file is sparse and a large
 * empty ext4 costs almost nothing (a 64 GiB one: 0.01 s, 212 KiB of
 * metadata); layers that still do not fit (or hold more entries than it
 * has inodes) get the disk rebuilt with what they were counted to need. */
#define CTR_STREAM_RATIO 8
#define CTR_STREAM_MIN (1ULL << 30)
#define CTR_STREAM_STACK (1u << 20)

struct ctr_stream_layer {
	char *digest, *media_type;
	uint64_t delivered;	/* bytes on disk, as advance() said */
	uint64_t off;		/* bytes the writer has consumed */
	bool present, done, live;
	int status;
	int fd;
};

struct ctr_stream {
	struct loop *l;
	struct store *s;
	struct ctr_stream_layer *layers;
	size_t n, cur;
	struct ext4w *w;
	struct fiber *writer;	/* set while it runs */
	bool parked;		/* writer waits for bytes */
	struct fiber *waiter;	/* the pull fiber waiting for the writer */
	bool pull_ended;
	int r;
	struct err err;
	int lock_fd;
	char *chain, *path;
};

struct ctr_stream *ctr_stream_new(struct loop *l, struct store *s)
{
	struct ctr_stream *st = xcalloc(1, sizeof(*st));
	st->l = l;
	st->s = s;
	st->lock_fd = -1;
	return st;
}

static void ctr_stream_unlock(struct ctr_stream *st)
{
	if (st->lock_fd >= 0)
		store_rootfs_unlock(st->s, st->chain, st->lock_fd);
	st->lock_fd = -1;
	free(st->chain);
	st->chain = NULL;
}

/* In the writer fiber: wait for ctr_stream_kick(). */
static void ctr_stream_park(struct ctr_stream *st)
{
	st->parked = true;
	fiber_suspend();
	st->parked = false;
}

static void ctr_stream_kick(struct ctr_stream *st)
{
	if (st->writer && st->parked) {
		st->parked = false;
		fiber_wake(st->writer);
	}
}

/* ext4w's read callback, in the writer fiber: bytes up to the high-water
 * mark, or park until advance()/done() moves it. */
static ssize_t ctr_stream_read(void *arg, void *buf, size_t len)
{
	struct ctr_stream *st = arg;
	struct ctr_stream_layer *ly = &st->layers[st->cur];

	for (;;) {
		if (ly->status < 0)
			return ly->status;
		if (ly->off < ly->delivered || ly->present) {
			if (ly->fd < 0) {
				int fd = store_ingest_reader(st->s, ly->digest);
				if (fd < 0)
					return fd;
				ly->fd = fd;
			}
			size_t want = len;
			if (!ly->present)
				want = (size_t)MIN((uint64_t)len, ly->delivered - ly->off);
			ssize_t n = fiber_read(st->l, ly->fd, buf, want, ly->off);
			if (n < 0)
				return n;
			if (n > 0 || ly->present || ly->done) {
				ly->off += (uint64_t)n;
				return n;
			}
			if (st->pull_ended)
				return -ECANCELED;
		} else if (ly->done) {
			return 0;
		} else if (st->pull_ended) {
			return -ECANCELED;
		}
		ctr_stream_park(st);
	}
}

/* Apply every layer in order into st->w, from each one's first byte. */
static int ctr_stream_apply(struct ctr_stream *st)
{
	int r = 0;

	for (st->cur = 0; st->cur < st->n && r >= 0; st->cur++) {
		struct ctr_stream_layer *ly = &st->layers[st->cur];
		ly->live = !ly->present && !ly->done;
		ly->off = 0;
		struct ext4w_source src = {
			.read = ctr_stream_read, .arg = st, .name = ly->digest, .media_type = ly->media_type,
		};
		r = ext4w_apply_layer(st->w, &src, &st->err);
		if (ly->fd >= 0)
			close(ly->fd);
		ly->fd = -1;
		if (r >= 0)
			log_debug("applied layer %zu %s", st->cur, ly->live ? "while downloading" : "from the store");
	}
	return r;
}

/* Rebuilds of a disk that filled up; the counts make one enough, a
 * second covers what they cannot see (parents no header announces). */
#define CTR_STREAM_REBUILDS 2

static void ctr_stream_writer(void *arg)
{
	struct ctr_stream *st = arg;
	int r;

	for (int rebuilds = 0;; rebuilds++) {
		r = ctr_stream_apply(st);
		/* Finish only once the pull succeeded: the image must be complete. */
		while (r >= 0 && !st->pull_ended)
			ctr_stream_park(st);
		if (r >= 0)
			r = st->r;
		uint64_t size, inodes;
		if (r < 0 || rebuilds == CTR_STREAM_REBUILDS ||
		    ext4w_need(st->w, &size, &inodes) == EXT4W_FITS)
			break;
		/* Every layer is in the store by now: the rebuild reads blobs. */
		log_debug("disk full: building it again with %llu inodes and %llu MiB",
			  (unsigned long long)inodes, (unsigned long long)(size >> 20));
		ext4w_abort(st->w);
		st->w = NULL;
		struct ext4w_opts o = { .loop = st->l, .inodes = inodes, .fsync = true };
		r = ext4w_create(st->path, size, &o, &st->w, &st->err);
		if (r < 0)
			break;
	}
	if (r >= 0) {
		r = ext4w_finish(st->w, &st->err);
		if (r >= 0)
			chmod(st->path, 0444);
	} else {
		ext4w_abort(st->w);
	}
	st->w = NULL;
	st->r = r;
	st->writer = NULL;
	if (st->waiter)
		fiber_wake(st->waiter);
}

/* Take the disk's lock without waiting: if another process builds this
 * disk, do not stream; the non-streaming path waits for it later. */
static bool ctr_stream_lock(struct ctr_stream *st, const char *chain)
{
	if (store_rootfs_exists(st->s, chain))
		return false;	/* built already: no lock file to leave behind */
	st->lock_fd = ctr_disk_lock(st->s, chain, false, &st->err);
	if (st->lock_fd < 0) {
		/* Busy: another process builds it. Else the build from the
		 * store would fail the same way: the pull reports it. */
		if (st->lock_fd != -EWOULDBLOCK)
			st->r = st->lock_fd;
		st->lock_fd = -1;
		return false;
	}
	st->chain = xstrdup(chain);
	if (store_rootfs_exists(st->s, chain)) {
		ctr_stream_unlock(st);
		return false;
	}
	return true;
}

static uint64_t ctr_stream_size(const struct oci_manifest *m)
{
	uint64_t total = 0;
	for (size_t i = 0; i < m->nlayers; i++) {
		const char *mt = m->layers[i].media_type ? m->layers[i].media_type : "";
		uint64_t sz = m->layers[i].size > 0 ? (uint64_t)m->layers[i].size : 0;
		bool plain = strstr(mt, "gzip") == NULL && strstr(mt, "zstd") == NULL && strstr(mt, "tar") != NULL;
		total += plain ? sz : sz * CTR_STREAM_RATIO;
	}
	return MAX(ext4w_size_for(total), CTR_STREAM_MIN);
}

static int ctr_stream_start(void *arg, const struct oci_manifest *m)
{
	struct ctr_stream *st = arg;
	char chain[OCI_DIGEST_LEN + 1];
	struct err e = { 0 };
	size_t ndiff;

	/* A config that does not fit the manifest: the non-streaming path
	 * reports it. */
	if (!m->nlayers || store_image_chain_id(st->s, m->config.digest, &ndiff, chain, &e) < 0 ||
	    ndiff != m->nlayers || !ctr_stream_lock(st, chain))
		return 0;
	st->path = store_rootfs_path(st->s, chain);
	struct ext4w_opts o = { .loop = st->l, .fsync = true };
	int r = ext4w_create(st->path, ctr_stream_size(m), &o, &st->w, &st->err);
	if (r < 0) {
		/* A build from the store would meet the same failure (a full or
		 * read-only store): the pull reports it once the layers are in. */
		st->r = r;
		return 0;
	}
	st->n = m->nlayers;
	st->layers = xcalloc(st->n, sizeof(*st->layers));
	for (size_t i = 0; i < st->n; i++) {
		st->layers[i].digest = xstrdup(m->layers[i].digest);
		st->layers[i].media_type = m->layers[i].media_type ? xstrdup(m->layers[i].media_type) : NULL;
		st->layers[i].fd = -1;
	}
	st->writer = fiber_spawn(st->l, ctr_stream_writer, st, CTR_STREAM_STACK);
	return 0;
}

static void ctr_stream_present(void *arg, size_t layer, const char *digest)
{
	struct ctr_stream *st = arg;
	(void)digest;
	if (layer < st->n) {
		st->layers[layer].present = true;
		if (layer == st->cur)
			ctr_stream_kick(st);
	}
}

static int ctr_stream_advance(void *arg, size_t layer, uint64_t bytes_on_disk)
{
	struct ctr_stream *st = arg;
	if (layer < st->n) {
		st->layers[layer].delivered = bytes_on_disk;
		if (layer == st->cur)
			ctr_stream_kick(st);
	}
	return 0;
}

/* The bytes come again from 0, identical or the pull fails: what the
 * writer read stays good, it only must not read past the new mark. */
static void ctr_stream_restart(void *arg, size_t layer)
{
	struct ctr_stream *st = arg;
	if (layer < st->n)
		st->layers[layer].delivered = 0;
}

static void ctr_stream_done(void *arg, size_t layer, int status)
{
	struct ctr_stream *st = arg;
	if (layer < st->n) {
		st->layers[layer].done = true;
		st->layers[layer].status = status < 0 ? status : 0;
		ctr_stream_kick(st);
	}
}

void ctr_stream_hook(struct ctr_stream *st, struct reg_layer_hook *hk)
{
	*hk = (struct reg_layer_hook){
		.start = ctr_stream_start, .present = ctr_stream_present, .advance = ctr_stream_advance,
		.restart = ctr_stream_restart, .done = ctr_stream_done, .arg = st,
	};
}

int ctr_stream_end(struct ctr_stream *st, int pull_status, struct err *err)
{
	st->pull_ended = true;
	if (st->r >= 0 && pull_status < 0)
		st->r = pull_status;
	while (st->writer) {
		st->waiter = fiber_current();
		ctr_stream_kick(st);
		fiber_suspend();
	}
	st->waiter = NULL;
	if (pull_status < 0 || st->r >= 0)
		return pull_status < 0 ? pull_status : 0;
	*err = st->err;
	return err_wrap(err, "writing the image's disk");
}

void ctr_stream_free(struct ctr_stream *st)
{
	if (!st)
		return;
	ext4w_abort(st->w);
	for (size_t i = 0; i < st->n; i++) {
		free(st->layers[i].digest);
		free(st->layers[i].media_type);
		if (st->layers[i].fd >= 0)
			close(st->layers[i].fd);
	}
	free(st->layers);
	ctr_stream_unlock(st);
	free(st->path);
	free(st);
}
