/* Layer bytes -> tar bytes: gzip through ISA-L's streaming inflate, zstd
 * through libzstd, plain tar passed through. The kind comes from the magic
 * bytes; a media type, when given, must agree with them. Output is checked
 * against the decompression-bomb limits as it is produced. */
#include "ext4-internal.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <string.h>
#include <zstd.h>

#define DEC_IN (256 * 1024)
#define DEC_OUT (1024 * 1024)
/* The ratio limit applies only past this many output bytes, so small
 * layers of zeros are fine. */
#define DEC_RATIO_FLOOR (64ULL << 20)

enum dec_kind { DEC_PLAIN, DEC_GZIP, DEC_ZSTD };

struct ext4w_dec {
	const struct ext4w_source *src;
	enum dec_kind kind;
	uint8_t *in, *out;
	size_t in_pos, in_len;
	bool in_eof, done;
	struct inflate_state gz;
	ZSTD_DStream *zs;
	uint64_t total_in, total_out, max_out;
	uint32_t max_ratio;
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

/* Refill the input buffer when it is empty; returns bytes available. */
static ssize_t dec_fill(struct ext4w_dec *d, struct err *err)
{
	if (d->in_pos < d->in_len || d->in_eof)
		return (ssize_t)(d->in_len - d->in_pos);
	ssize_t r;
	do
		r = d->src->read(d->src->arg, d->in, DEC_IN);
	while (r == -EINTR);
	if (r < 0)
		return err_setx(err, (int)r, "reading %s", d->src->name);
	d->in_pos = 0;
	d->in_len = (size_t)r;
	d->total_in += (uint64_t)r;
	if (r == 0)
		d->in_eof = true;
	return r;
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
	d->out = xmalloc(DEC_OUT);
	d->max_out = o->max_layer_bytes;
	d->max_ratio = o->max_ratio;
	/* Sniff from the first read (tiny reads: gather at least 4 bytes). */
	while (d->in_len < 4 && !d->in_eof) {
		ssize_t r = src->read(src->arg, d->in + d->in_len, DEC_IN - d->in_len);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			ext4w_dec_free(d);
			return err_setx(err, (int)r, "reading %s", src->name);
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
	*out = d;
	return 0;
}

static int dec_check(struct ext4w_dec *d, struct err *err)
{
	if (d->total_out > d->max_out)
		return err_set(err, EFBIG, "uncompressed layer exceeds the limit of %llu bytes",
			       (unsigned long long)d->max_out);
	if (d->kind != DEC_PLAIN && d->total_out > DEC_RATIO_FLOOR &&
	    d->total_out / (d->total_in ? d->total_in : 1) > d->max_ratio)
		return err_set(err, EFBIG,
			       "decompression bomb: %llu bytes from %llu compressed (ratio limit %u)",
			       (unsigned long long)d->total_out, (unsigned long long)d->total_in,
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

ssize_t ext4w_dec_read(struct ext4w_dec *d, const void **buf, struct err *err)
{
	ssize_t n;
	switch (d->kind) {
	case DEC_GZIP:
		n = d->done ? 0 : dec_gzip(d, err);
		*buf = d->out;
		break;
	case DEC_ZSTD:
		n = dec_zstd(d, err);
		*buf = d->out;
		break;
	default:
		n = dec_fill(d, err);
		if (n > 0) {
			*buf = d->in + d->in_pos;
			d->in_pos = d->in_len;
		}
		break;
	}
	if (n > 0) {
		d->total_out += (uint64_t)n;
		int r = dec_check(d, err);
		if (r < 0)
			return r;
	}
	return n;
}

uint64_t ext4w_dec_total_in(const struct ext4w_dec *d) { return d->total_in; }
uint64_t ext4w_dec_total_out(const struct ext4w_dec *d) { return d->total_out; }

void ext4w_dec_free(struct ext4w_dec *d)
{
	if (!d)
		return;
	if (d->zs)
		ZSTD_freeDStream(d->zs);
	free(d->in);
	free(d->out);
	free(d);
}
