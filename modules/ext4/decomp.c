/* Layer bytes -> tar bytes: gzip through ISA-L's streaming inflate, zstd
 * through libzstd, plain tar passed through. The kind comes from the magic
 * bytes; a media type, when given, must agree with them. Output is checked
 * against the decompression-bomb limits as it is consumed.
 *
 * Compressed layers are inflated on a worker thread, a few MiB ahead of
 * the caller, so inflating overlaps with tar parsing and ext4 writing (on
 * a rootfs that halves the time: see docs/rootfs.md). The worker is pure
 * CPU: the caller's thread still pulls the layer through src->read (which
 * may await the network in a fiber) and hands the compressed chunks over;
 * the worker never calls back into the caller. A caller in a fiber on the
 * reactor waits for the worker by awaiting an eventfd, so the loop goes on
 * serving downloads and VMs meanwhile; elsewhere it waits on a condition
 * variable. */
#include "ext4-internal.h"
#include "err.h"
#include "fiber.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zstd.h>

#define DEC_IN (256 * 1024)
#define DEC_OUT (1024 * 1024)
/* Pipeline depth: compressed chunks queued for the worker, inflated
 * chunks queued for the caller. 16 MiB ahead lets the worker run on while
 * the caller goes through directories of small files (with 6 it waited
 * for a free slot ~25 times per rootfs); the input side covers that much
 * output at gzip's usual 2-3x. */
#define PIPE_IN 24
#define PIPE_OUT 16
/* The ratio limit applies only past this many output bytes, so small
 * layers of zeros are fine. */
#define DEC_RATIO_FLOOR (64ULL << 20)

enum dec_kind { DEC_PLAIN, DEC_GZIP, DEC_ZSTD };

struct pipe_slot {
	uint8_t *buf;
	size_t len;
	uint64_t in_total;	/* compressed bytes consumed when it was made */
};

/* Caller <-> worker hand-over, all under mu. Slots go round: in[] filled
 * by the caller at in_head, consumed by the worker at in_tail; out[] filled
 * by the worker at out_head, consumed by the caller at out_tail. */
struct dec_pipe {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t to_caller, to_worker;
	struct pipe_slot in[PIPE_IN], out[PIPE_OUT];
	unsigned in_head, in_tail, out_head, out_tail;
	bool in_eof;		/* caller: the source ended */
	bool stop;		/* caller: give up */
	bool hungry;		/* worker: waiting for input */
	bool w_done, w_failed;
	struct err w_err;
	bool holding;		/* caller holds out[out_tail] (lent to libarchive) */
	/* Set while a fiber caller awaits efd: the worker then posts it once. */
	bool caller_parked;
	int efd;		/* eventfd, -1 when the caller is not on a reactor */
	bool worker_has_in;	/* worker holds in[in_tail] */
	uint64_t fed;		/* compressed bytes handed over */
};

struct ext4w_dec {
	const struct ext4w_source *src;
	enum dec_kind kind;
	uint8_t *in, *out;	/* decoder's current buffers */
	size_t in_pos, in_len;
	bool in_eof, done;
	struct inflate_state gz;
	ZSTD_DStream *zs;
	uint64_t total_in;	/* consumed by the decoder (worker side) */
	uint64_t in_seen;	/* caller side: total_in behind the output so far */
	uint64_t total_out, max_out;
	uint32_t max_ratio;
	struct loop *loop;	/* the caller's reactor, or NULL */
	struct dec_pipe *p;	/* NULL: plain tar, read in the caller */
	int failed;		/* caller side: sticky error */
};

static const char *kind_name[] = { "tar", "gzip", "zstd" };

/* OCI and Docker media types end in tar, tar+gzip / tar.gzip, tar+zstd. */
static enum dec_kind media_kind(const char *mt)
{
	if (strstr(mt, "gzip"))
		return DEC_GZIP;
	if (strstr(mt, "zstd"))
		return DEC_ZSTD;
	return DEC_PLAIN;
}

static ssize_t pipe_take_input(struct ext4w_dec *d, struct err *err);

/* One read of the layer source, retried on EINTR. */
static ssize_t src_read(const struct ext4w_source *src, void *buf, size_t len, struct err *err)
{
	ssize_t r;
	do
		r = src->read(src->arg, buf, len);
	while (r == -EINTR);
	return r < 0 ? err_setx(err, (int)r, "reading %s", src->name) : r;
}

/* Refill the input buffer when it is empty; returns bytes available. */
static ssize_t dec_fill(struct ext4w_dec *d, struct err *err)
{
	if (d->in_pos < d->in_len || d->in_eof)
		return (ssize_t)(d->in_len - d->in_pos);
	if (d->p)
		return pipe_take_input(d, err);
	ssize_t r = src_read(d->src, d->in, DEC_IN, err);
	if (r < 0)
		return r;
	d->in_pos = 0;
	d->in_len = (size_t)r;
	d->total_in += (uint64_t)r;
	if (r == 0)
		d->in_eof = true;
	return r;
}

static void *pipe_worker(void *arg);

/* Hand the decoder to a worker thread: the sniffed first chunk becomes
 * the first queued input slot. */
static int pipe_start(struct ext4w_dec *d)
{
	struct dec_pipe *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->to_caller, NULL);
	pthread_cond_init(&p->to_worker, NULL);
	p->efd = d->loop && fiber_current() ? eventfd(0, EFD_CLOEXEC) : -1;
	p->in[0].buf = d->in;
	for (size_t i = 1; i < PIPE_IN; i++)
		p->in[i].buf = xmalloc(DEC_IN);
	for (size_t i = 0; i < PIPE_OUT; i++)
		p->out[i].buf = xmalloc(DEC_OUT);
	p->in[0].len = d->in_len;
	p->fed = d->in_len;
	p->in_head = d->in_len ? 1 : 0;
	p->in_eof = d->in_eof;
	d->in = NULL;
	d->in_len = d->in_pos = 0;
	d->in_eof = false;
	d->total_in = 0;
	d->p = p;
	int r = pthread_create(&p->th, NULL, pipe_worker, d);
	if (r == 0)
		pthread_setname_np(p->th, "ucrt-inflate");
	if (r) {
		d->p = NULL;
		d->in = p->in[0].buf;	/* freed by ext4w_dec_free */
		for (size_t i = 1; i < PIPE_IN; i++)
			free(p->in[i].buf);
		for (size_t i = 0; i < PIPE_OUT; i++)
			free(p->out[i].buf);
		if (p->efd >= 0)
			close(p->efd);
		free(p);
		return -r;
	}
	return 0;
}

static enum dec_kind sniff(const uint8_t *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return DEC_GZIP;
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return DEC_ZSTD;
	return DEC_PLAIN;
}

int ext4w_dec_new(const struct ext4w_source *src, const struct ext4w_opts *o,
		  struct ext4w_dec **out, struct err *err)
{
	struct ext4w_dec *d = xcalloc(1, sizeof(*d));
	d->src = src;
	d->in = xmalloc(DEC_IN);
	d->max_out = o->max_layer_bytes;
	d->loop = o->loop;
	d->max_ratio = o->max_ratio;
	/* Sniff from the first read (tiny reads: gather at least 4 bytes). */
	while (d->in_len < 4 && !d->in_eof) {
		ssize_t r = src_read(src, d->in + d->in_len, DEC_IN - d->in_len, err);
		if (r < 0) {
			ext4w_dec_free(d);
			return (int)r;
		}
		if (r == 0)
			d->in_eof = true;
		d->in_len += (size_t)r;
		d->total_in += (uint64_t)r;
	}
	d->kind = sniff(d->in, d->in_len);
	const char *mt = src->media_type;
	if (mt && *mt) {
		enum dec_kind want = media_kind(mt);
		if (want != d->kind) {
			enum dec_kind got = d->kind;
			ext4w_dec_free(d);
			return err_set(err, EINVAL, "%s: media type %s but the data is %s",
				       src->name, mt, kind_name[got]);
		}
	}
	if (d->kind == DEC_GZIP) {
		isal_inflate_init(&d->gz);
		d->gz.crc_flag = ISAL_GZIP;
	} else if (d->kind == DEC_ZSTD) {
		d->zs = ZSTD_createDStream();
		ZSTD_initDStream(d->zs);
	}
	if (d->kind != DEC_PLAIN) {
		int r = pipe_start(d);
		if (r < 0) {
			ext4w_dec_free(d);
			return err_setx(err, r, "%s: starting the inflate thread", src->name);
		}
	}
	*out = d;
	return 0;
}

static int dec_check(struct ext4w_dec *d, struct err *err)
{
	if (d->total_out > d->max_out)
		return err_set(err, EFBIG, "uncompressed layer exceeds the limit of %llu bytes",
			       (unsigned long long)d->max_out);
	if (d->kind != DEC_PLAIN && d->total_out > DEC_RATIO_FLOOR &&
	    d->total_out / (d->in_seen ? d->in_seen : 1) > d->max_ratio)
		return err_set(err, EFBIG,
			       "decompression bomb: %llu bytes from %llu compressed (ratio limit %u)",
			       (unsigned long long)d->total_out, (unsigned long long)d->in_seen,
			       d->max_ratio);
	return 0;
}

static ssize_t dec_gzip(struct ext4w_dec *d, struct err *err)
{
	for (;;) {
		if (d->gz.block_state == ISAL_BLOCK_FINISH) {
			/* Member done: another gzip member may follow. */
			ssize_t a = dec_fill(d, err);
			if (a < 0)
				return a;
			if (a == 0) {
				d->done = true;
				return 0;
			}
			if (d->in[d->in_pos] != 0x1f) {
				/* Trailing zero padding is tolerated, like gzip -d. */
				while (d->in_pos < d->in_len && d->in[d->in_pos] == 0)
					d->in_pos++;
				if (d->in_pos == d->in_len)
					continue;
				return err_set(err, EINVAL, "%s: garbage after the gzip stream", d->src->name);
			}
			isal_inflate_reset(&d->gz);
			d->gz.crc_flag = ISAL_GZIP;
		}
		ssize_t a = dec_fill(d, err);
		if (a < 0)
			return a;
		if (a == 0)
			return err_set(err, EINVAL, "%s: truncated gzip stream", d->src->name);
		d->gz.next_in = d->in + d->in_pos;
		d->gz.avail_in = (uint32_t)(d->in_len - d->in_pos);
		d->gz.next_out = d->out;
		d->gz.avail_out = DEC_OUT;
		int r = isal_inflate(&d->gz);
		d->in_pos = d->in_len - d->gz.avail_in;
		if (r < 0 || r == ISAL_NEED_DICT)
			return err_set(err, EINVAL, "%s: corrupt gzip data (isa-l error %d)", d->src->name, r);
		size_t got = DEC_OUT - d->gz.avail_out;
		if (got)
			return (ssize_t)got;
	}
}

static ssize_t dec_zstd(struct ext4w_dec *d, struct err *err)
{
	for (;;) {
		ssize_t a = dec_fill(d, err);
		if (a < 0)
			return a;
		if (a == 0) {
			if (!d->done)
				return err_set(err, EINVAL, "%s: truncated zstd stream", d->src->name);
			return 0;
		}
		ZSTD_inBuffer ib = { d->in, d->in_len, d->in_pos };
		ZSTD_outBuffer ob = { d->out, DEC_OUT, 0 };
		size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
		d->in_pos = ib.pos;
		if (ZSTD_isError(r))
			return err_set(err, EINVAL, "%s: corrupt zstd data: %s", d->src->name,
				       ZSTD_getErrorName(r));
		/* r == 0: a frame ended; more frames may follow. */
		d->done = (r == 0);
		if (ob.pos)
			return (ssize_t)ob.pos;
	}
}

/* Worker side, under mu: wake the caller. */
static void pipe_wake_caller(struct dec_pipe *p)
{
	pthread_cond_signal(&p->to_caller);
	if (p->caller_parked) {
		uint64_t one = 1;
		p->caller_parked = false;
		if (write(p->efd, &one, sizeof(one)) < 0) {
			/* Cannot fail for a counter this small; a lost post
			 * would hang the caller, so say so loudly. */
			abort();
		}
	}
}

/* Worker side: give back the consumed input slot, wait for the next one.
 * Returns its length, 0 at the end of the source, -ECANCELED on stop. */
static ssize_t pipe_take_input(struct ext4w_dec *d, struct err *err)
{
	struct dec_pipe *p = d->p;
	pthread_mutex_lock(&p->mu);
	if (p->worker_has_in) {
		p->in_tail++;
		p->worker_has_in = false;
	}
	while (p->in_head == p->in_tail && !p->in_eof && !p->stop) {
		p->hungry = true;
		pipe_wake_caller(p);
		pthread_cond_wait(&p->to_worker, &p->mu);
	}
	p->hungry = false;
	ssize_t r;
	if (p->stop) {
		r = err_set(err, ECANCELED, "cancelled");
	} else if (p->in_head == p->in_tail) {
		d->in_eof = true;
		r = 0;
	} else {
		struct pipe_slot *s = &p->in[p->in_tail % PIPE_IN];
		p->worker_has_in = true;
		d->in = s->buf;
		d->in_pos = 0;
		d->in_len = s->len;
		d->total_in += s->len;
		r = (ssize_t)s->len;
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

static void *pipe_worker(void *arg)
{
	struct ext4w_dec *d = arg;
	struct dec_pipe *p = d->p;
	struct err err = { 0 };
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->out_head - p->out_tail == PIPE_OUT && !p->stop)
			pthread_cond_wait(&p->to_worker, &p->mu);
		struct pipe_slot *s = &p->out[p->out_head % PIPE_OUT];
		bool stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		d->out = s->buf;
		ssize_t n = d->kind == DEC_GZIP ? (d->done ? 0 : dec_gzip(d, &err)) : dec_zstd(d, &err);
		pthread_mutex_lock(&p->mu);
		if (n < 0) {
			p->w_failed = true;
			p->w_err = err;
		} else if (n == 0) {
			p->w_done = true;
		} else {
			s->len = (size_t)n;
			s->in_total = d->total_in;
			p->out_head++;
		}
		pipe_wake_caller(p);
		pthread_mutex_unlock(&p->mu);
		if (n <= 0)
			break;
	}
	return NULL;
}

/* Caller side, under mu: read one chunk of the source into a free input
 * slot (unlocked while reading: it may block or await). */
static int pipe_feed(struct ext4w_dec *d, struct err *err)
{
	struct dec_pipe *p = d->p;
	struct pipe_slot *s = &p->in[p->in_head % PIPE_IN];
	pthread_mutex_unlock(&p->mu);
	ssize_t r = src_read(d->src, s->buf, DEC_IN, err);
	pthread_mutex_lock(&p->mu);
	if (r < 0)
		return (int)r;
	if (r == 0) {
		p->in_eof = true;
	} else {
		s->len = (size_t)r;
		p->fed += (uint64_t)r;
		p->in_head++;
	}
	pthread_cond_signal(&p->to_worker);
	return 0;
}

/* Caller side, under mu: wait for the worker to produce or finish. */
static void pipe_wait_worker(struct ext4w_dec *d)
{
	struct dec_pipe *p = d->p;
	if (p->efd < 0) {
		pthread_cond_wait(&p->to_caller, &p->mu);
		return;
	}
	p->caller_parked = true;
	pthread_mutex_unlock(&p->mu);
	uint64_t v;
	ssize_t r = fiber_read(d->loop, p->efd, &v, sizeof(v), (uint64_t)-1);
	pthread_mutex_lock(&p->mu);
	if (r < 0) {
		/* The loop could not take the read: fall back to blocking. */
		p->caller_parked = false;
		pthread_cond_wait(&p->to_caller, &p->mu);
	}
}

/* Caller side: return the chunk lent last time, keep the worker's input
 * queue topped up, take the next inflated chunk. */
static ssize_t pipe_read(struct ext4w_dec *d, const void **buf, struct err *err)
{
	struct dec_pipe *p = d->p;
	ssize_t n = 0;
	pthread_mutex_lock(&p->mu);
	if (p->holding) {
		p->out_tail++;
		p->holding = false;
		pthread_cond_signal(&p->to_worker);
	}
	for (;;) {
		bool ready = p->out_head != p->out_tail;
		/* Feed when the worker starves or could soon: a source that
		 * awaits the network is only waited for when there is
		 * nothing else to do. */
		if (!p->in_eof && p->in_head - p->in_tail < PIPE_IN &&
		    (!ready || p->hungry || p->in_head - p->in_tail < PIPE_IN / 2)) {
			int r = pipe_feed(d, err);
			if (r < 0) {
				n = r;
				break;
			}
			continue;
		}
		if (ready) {
			struct pipe_slot *s = &p->out[p->out_tail % PIPE_OUT];
			p->holding = true;
			*buf = s->buf;
			n = (ssize_t)s->len;
			d->in_seen = s->in_total;
			break;
		}
		if (p->w_failed) {
			*err = p->w_err;
			n = -p->w_err.code;
			break;
		}
		if (p->w_done)
			break;
		pipe_wait_worker(d);
	}
	pthread_mutex_unlock(&p->mu);
	return n;
}

static void pipe_stop(struct ext4w_dec *d)
{
	struct dec_pipe *p = d->p;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->to_worker);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->to_caller);
	pthread_cond_destroy(&p->to_worker);
	if (p->efd >= 0)
		close(p->efd);
	for (size_t i = 0; i < PIPE_IN; i++)
		free(p->in[i].buf);
	for (size_t i = 0; i < PIPE_OUT; i++)
		free(p->out[i].buf);
	free(p);
	d->p = NULL;
	d->in = d->out = NULL;
}

ssize_t ext4w_dec_read(struct ext4w_dec *d, const void **buf, struct err *err)
{
	if (d->failed)
		return err_set(err, d->failed, "%s: reading after an error", d->src->name);
	ssize_t n;
	if (d->p) {
		n = pipe_read(d, buf, err);
	} else {
		n = dec_fill(d, err);
		if (n > 0) {
			*buf = d->in + d->in_pos;
			d->in_pos = d->in_len;
		}
		d->in_seen = d->total_in;
	}
	if (n > 0) {
		d->total_out += (uint64_t)n;
		int r = dec_check(d, err);
		if (r < 0)
			n = r;
	}
	if (n < 0)
		d->failed = (int)-n;
	return n;
}

uint64_t ext4w_dec_total_in(const struct ext4w_dec *d)
{
	return d->p ? d->p->fed : d->total_in;
}

uint64_t ext4w_dec_total_out(const struct ext4w_dec *d) { return d->total_out; }

void ext4w_dec_free(struct ext4w_dec *d)
{
	if (!d)
		return;
	if (d->p)
		pipe_stop(d);
	if (d->zs)
		ZSTD_freeDStream(d->zs);
	free(d->in);
	free(d);
}
