/* A libext2fs io_manager with write-behind.
 *
 * unix_io writes every block with its own pwrite() and keeps an 8-block
 * cache; applying a layer writes tens of thousands of blocks, so here every
 * write is copied into an append-only log (1024 blocks), a hash maps each
 * block to its newest copy in the log, and when the log fills (or on flush)
 * the newest copies are written with pwritev() over contiguous runs. Reads
 * see the log first, then a direct-mapped cache of single-block reads
 * (inode tables, directories, bitmaps), then the file.
 *
 * A full log is handed to a private io_uring as writev requests and the
 * log buffers swap, so inflating and parsing go on while the kernel copies
 * the batch (write-behind; one batch in flight at a time keeps ordering).
 * Without io_uring it falls back to synchronous pwritev(). This runs off the
 * reactor (the CLI's `rootfs build`); inside the reactor the same batches
 * would go through core/loop.h ops awaited by the applying fiber. */
#include "ext4-internal.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <liburing.h>
#include <sys/uio.h>

/* 4 MiB per batch: small enough that the two log buffers stay in memory
 * already faulted in (32 MiB logs spent more in page faults than in
 * copying), big enough to keep writev runs long. */
#define WB_LOG_BLOCKS 1024
#define WB_HBITS 11		/* hash of 2 * WB_LOG_BLOCKS slots */
#define WB_CACHE_SLOTS 4096
#define WB_EMPTY UINT64_MAX

struct wb_rec {
	uint64_t blk;
	uint32_t idx, n;	/* position in the log, block count */
};

/* One writev in flight on the ring; kept until its completion so a short
 * write can be redone. */
struct wb_sub {
	struct iovec *iov;
	int n;
	uint64_t off;
	size_t len;
};

struct wb {
	int fd;
	unsigned bs;
	uint8_t *log, *spare;	/* filling / in flight (double buffer) */
	struct io_uring ring;
	bool have_ring;
	struct wb_sub *subs;
	size_t nsub, sub_cap;
	unsigned inflight;
	int async_err;
	uint32_t log_used;
	struct wb_rec *recs;
	size_t nrec, rec_cap;
	uint64_t *hkey;		/* block -> newest log index */
	uint32_t *hval;
	uint64_t *ckey;		/* direct-mapped read cache */
	uint8_t *cdata;
	struct ext4w_io_stats st;
};

#define HCAP (1u << WB_HBITS)

static struct wb *wb_of(io_channel ch) { return ch->private_data; }

static size_t h_slot(const struct wb *b, uint64_t blk)
{
	size_t i = (size_t)((blk * 0x9E3779B97F4A7C15ULL) >> (64 - WB_HBITS));
	while (b->hkey[i] != WB_EMPTY && b->hkey[i] != blk)
		i = (i + 1) & (HCAP - 1);
	return i;
}

static void wb_alloc(struct wb *b, unsigned bs)
{
	free(b->log);
	free(b->spare);
	free(b->cdata);
	b->bs = bs;
	b->log = xmalloc((size_t)WB_LOG_BLOCKS * bs);
	b->spare = xmalloc((size_t)WB_LOG_BLOCKS * bs);
	b->cdata = xmalloc((size_t)WB_CACHE_SLOTS * bs);
	for (size_t i = 0; i < WB_CACHE_SLOTS; i++)
		b->ckey[i] = WB_EMPTY;
}

static int wb_pwritev(struct wb *b, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pwritev(b->fd, iov, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b->st.writes++;
		b->st.write_bytes += (uint64_t)r;
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0 && r > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Wait for the batch in flight; redo short writes synchronously. */
static int wb_wait(struct wb *b)
{
	while (b->inflight) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&b->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		struct wb_sub *sub = &b->subs[io_uring_cqe_get_data64(cqe)];
		int res = cqe->res;
		io_uring_cqe_seen(&b->ring, cqe);
		b->inflight--;
		if (res >= 0)
			b->st.write_bytes += (uint64_t)res;
		if (res < 0 || (size_t)res != sub->len) {
			int rr = wb_pwritev(b, sub->iov, sub->n, sub->off);
			if (rr < 0 && !b->async_err)
				b->async_err = rr;
		}
	}
	for (size_t i = 0; i < b->nsub; i++)
		free(b->subs[i].iov);
	b->nsub = 0;
	int r = b->async_err;
	b->async_err = 0;
	return r;
}

/* Hand a run to the ring (IOSQE_ASYNC: the copy into the page cache runs
 * in a kernel worker on another CPU while we keep inflating), or write it
 * now without a ring. */
static int wb_submit(struct wb *b, struct iovec *iov, int n, uint64_t off)
{
	if (!b->have_ring)
		return wb_pwritev(b, iov, n, off);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		int r = io_uring_submit(&b->ring);
		if (r < 0)
			return r;
		sqe = io_uring_get_sqe(&b->ring);
		if (!sqe)
			return wb_pwritev(b, iov, n, off);
	}
	if (b->nsub == b->sub_cap) {
		b->sub_cap = b->sub_cap ? b->sub_cap * 2 : 64;
		b->subs = xrealloc(b->subs, b->sub_cap * sizeof(*b->subs));
	}
	struct wb_sub *sub = &b->subs[b->nsub];
	sub->iov = xmalloc((size_t)n * sizeof(*iov));
	memcpy(sub->iov, iov, (size_t)n * sizeof(*iov));
	sub->n = n;
	sub->off = off;
	sub->len = 0;
	for (int i = 0; i < n; i++)
		sub->len += iov[i].iov_len;
	io_uring_prep_writev(sqe, b->fd, sub->iov, (unsigned)n, off);
	sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data64(sqe, b->nsub);
	b->nsub++;
	b->inflight++;
	b->st.writes++;
	return 0;
}

/* Write the newest copy of every logged block, contiguous runs merged.
 * With a ring the batch stays in flight (the log buffers swap) until the
 * next flush, a read that misses, or close. */
static int wb_flush(struct wb *b)
{
	int rw = wb_wait(b);
	if (rw < 0)
		return rw;
	struct iovec iov[IOV_MAX];
	int n = 0;
	uint64_t run_start = 0, run_next = 0;
	int r = 0;
	for (size_t i = 0; i < b->nrec && r == 0; i++) {
		const struct wb_rec *rec = &b->recs[i];
		for (uint32_t j = 0; j < rec->n; j++) {
			uint64_t blk = rec->blk + j;
			size_t s = h_slot(b, blk);
			if (b->hval[s] != rec->idx + j)
				continue;	/* superseded by a later write */
			uint8_t *p = b->log + (size_t)(rec->idx + j) * b->bs;
			if (n > 0 && blk == run_next &&
			    (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == p) {
				iov[n - 1].iov_len += b->bs;
			} else {
				if (n > 0 && (blk != run_next || n == IOV_MAX)) {
					r = wb_submit(b, iov, n, run_start * b->bs);
					if (r < 0)
						break;
					n = 0;
				}
				if (n == 0)
					run_start = blk;
				iov[n].iov_base = p;
				iov[n].iov_len = b->bs;
				n++;
			}
			run_next = blk + 1;
		}
	}
	if (r == 0 && n > 0)
		r = wb_submit(b, iov, n, run_start * b->bs);
	if (b->inflight) {
		int s = io_uring_submit(&b->ring);
		if (s < 0 && r == 0)
			r = s;
		uint8_t *t = b->log;
		b->log = b->spare;
		b->spare = t;
	}
	b->nrec = 0;
	b->log_used = 0;
	for (size_t i = 0; i < HCAP; i++)
		b->hkey[i] = WB_EMPTY;
	return r;
}

static void cache_put(struct wb *b, uint64_t blk, const void *data, bool insert)
{
	size_t s = blk % WB_CACHE_SLOTS;
	if (b->ckey[s] == blk || insert) {
		b->ckey[s] = blk;
		memcpy(b->cdata + s * b->bs, data, b->bs);
	}
}

static errcode_t wb_open(const char *name, int flags, io_channel *out)
{
	int fd = open(name, ((flags & IO_FLAG_RW) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return errno;
	io_channel ch = xcalloc(1, sizeof(*ch));
	struct wb *b = xcalloc(1, sizeof(*b));
	b->fd = fd;
	b->hkey = xmalloc(HCAP * sizeof(*b->hkey));
	b->hval = xmalloc(HCAP * sizeof(*b->hval));
	for (size_t i = 0; i < HCAP; i++)
		b->hkey[i] = WB_EMPTY;
	b->ckey = xmalloc(WB_CACHE_SLOTS * sizeof(*b->ckey));
	wb_alloc(b, 1024);
	b->have_ring = io_uring_queue_init(64, &b->ring, 0) == 0;
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = ext4w_io_manager;
	ch->name = xstrdup(name);
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->flags = flags;
	ch->private_data = b;
	*out = ch;
	return 0;
}

static errcode_t wb_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	struct wb *b = wb_of(ch);
	int r = wb_flush(b);
	int rw = wb_wait(b);
	if (r == 0)
		r = rw;
	if (b->have_ring)
		io_uring_queue_exit(&b->ring);
	close(b->fd);
	free(b->subs);
	free(b->spare);
	free(b->log);
	free(b->cdata);
	free(b->ckey);
	free(b->hkey);
	free(b->hval);
	free(b->recs);
	free(b);
	free(ch->name);
	free(ch);
	return r < 0 ? (errcode_t)-r : 0;
}

static errcode_t wb_set_blksize(io_channel ch, int bs)
{
	struct wb *b = wb_of(ch);
	if ((unsigned)bs == b->bs)
		return 0;
	int r = wb_flush(b);
	if (r == 0)
		r = wb_wait(b);
	if (r < 0)
		return (errcode_t)-r;
	wb_alloc(b, (unsigned)bs);
	ch->block_size = bs;
	return 0;
}

/* Direct I/O on the file for odd sizes (superblock) and huge writes. */
static int wb_pio(struct wb *b, bool wr, uint64_t off, void *p, size_t len)
{
	/* The file is only consistent once the batch in flight has landed. */
	int rw = wb_wait(b);
	if (rw < 0)
		return rw;
	while (len) {
		ssize_t r = wr ? pwrite(b->fd, p, len, (off_t)off) : pread(b->fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {	/* past the end of a sparse file: zeros */
			memset(p, 0, len);
			return 0;
		}
		if (wr) {
			b->st.writes++;
			b->st.write_bytes += (uint64_t)r;
		} else {
			b->st.reads++;
			b->st.read_bytes += (uint64_t)r;
		}
		p = (char *)p + r;
		off += (uint64_t)r;
		len -= (size_t)r;
	}
	return 0;
}

static errcode_t wb_read64(io_channel ch, unsigned long long blk, int count, void *data)
{
	struct wb *b = wb_of(ch);
	size_t bytes = count < 0 ? (size_t)-count : (size_t)count * b->bs;
	if (bytes % b->bs) {
		int r = wb_flush(b);
		if (r == 0)
			r = wb_pio(b, false, blk * b->bs, data, bytes);
		return r < 0 ? (errcode_t)-r : 0;
	}
	size_t n = bytes / b->bs;
	uint8_t *out = data;
	for (size_t i = 0; i < n;) {
		uint64_t k = blk + i;
		size_t cs = k % WB_CACHE_SLOTS, hs = h_slot(b, k);
		if (b->ckey[cs] == k) {
			memcpy(out + i * b->bs, b->cdata + cs * b->bs, b->bs);
			i++;
			continue;
		}
		if (b->hkey[hs] == k) {
			memcpy(out + i * b->bs, b->log + (size_t)b->hval[hs] * b->bs, b->bs);
			i++;
			continue;
		}
		/* a run of blocks neither logged nor cached */
		size_t j = i + 1;
		while (j < n && b->ckey[(blk + j) % WB_CACHE_SLOTS] != blk + j &&
		       b->hkey[h_slot(b, blk + j)] != blk + j)
			j++;
		int r = wb_pio(b, false, k * b->bs, out + i * b->bs, (j - i) * b->bs);
		if (r < 0)
			return (errcode_t)-r;
		if (n == 1)
			cache_put(b, k, out, true);
		i = j;
	}
	return 0;
}

/* Writes of whole blocks larger than this go straight to the file. */
#define WB_DIRECT_MIN (WB_LOG_BLOCKS / 2)

static int wb_write_through(struct wb *b, uint64_t blk, const void *data, size_t bytes)
{
	/* Rare: flush, forget cached copies, write through. */
	int r = wb_flush(b);
	for (size_t i = 0; i < (bytes + b->bs - 1) / b->bs; i++)
		if (b->ckey[(blk + i) % WB_CACHE_SLOTS] == blk + i)
			b->ckey[(blk + i) % WB_CACHE_SLOTS] = WB_EMPTY;
	return r < 0 ? r : wb_pio(b, true, blk * b->bs, (void *)data, bytes);
}

/* Append n blocks to the log. Metadata (meta) written one block at a
 * time also enters the read cache; other writes only refresh cached
 * copies, so file data never evicts the inode tables. */
static int wb_log(struct wb *b, uint64_t blk, size_t n, const void *data, bool meta)
{
	if (b->log_used + n > WB_LOG_BLOCKS) {
		int r = wb_flush(b);
		if (r < 0)
			return r;
	}
	if (b->nrec == b->rec_cap) {
		b->rec_cap = b->rec_cap ? b->rec_cap * 2 : 1024;
		b->recs = xrealloc(b->recs, b->rec_cap * sizeof(*b->recs));
	}
	b->recs[b->nrec++] = (struct wb_rec){ .blk = blk, .idx = b->log_used, .n = (uint32_t)n };
	memcpy(b->log + (size_t)b->log_used * b->bs, data, n * b->bs);
	for (size_t i = 0; i < n; i++) {
		size_t s = h_slot(b, blk + i);
		b->hkey[s] = blk + i;
		b->hval[s] = b->log_used + (uint32_t)i;
		cache_put(b, blk + i, (const uint8_t *)data + i * b->bs, meta && n == 1);
	}
	b->log_used += (uint32_t)n;
	return 0;
}

static errcode_t wb_write64(io_channel ch, unsigned long long blk, int count, const void *data)
{
	struct wb *b = wb_of(ch);
	size_t bytes = count < 0 ? (size_t)-count : (size_t)count * b->bs;
	size_t n = bytes / b->bs;
	int r = bytes % b->bs || n > WB_DIRECT_MIN ? wb_write_through(b, blk, data, bytes)
						   : wb_log(b, blk, n, data, true);
	return r < 0 ? (errcode_t)-r : 0;
}

int ext4w_io_write_data(io_channel ch, uint64_t blk, uint64_t n, const void *data)
{
	struct wb *b = wb_of(ch);
	b->st.data_bytes += n * b->bs;
	if (n > WB_DIRECT_MIN)
		return wb_write_through(b, blk, data, n * b->bs);
	return wb_log(b, blk, (size_t)n, data, false);
}

static errcode_t wb_read(io_channel ch, unsigned long blk, int count, void *data)
{
	return wb_read64(ch, blk, count, data);
}

static errcode_t wb_write(io_channel ch, unsigned long blk, int count, const void *data)
{
	return wb_write64(ch, blk, count, data);
}

static errcode_t wb_flush_cb(io_channel ch)
{
	int r = wb_flush(wb_of(ch));
	return r < 0 ? (errcode_t)-r : 0;
}

static errcode_t wb_set_option(io_channel ch, const char *opt, const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;
}

/* ext2fs_zero_blocks2 asks for this; the image is a fresh sparse file and
 * ranges handed out by the allocator were never written, but a block could
 * sit in the log or cache: write real zeros through the log. */
static errcode_t wb_zeroout(io_channel ch, unsigned long long blk, unsigned long long count)
{
	struct wb *b = wb_of(ch);
	_cleanup_free_ void *z = xcalloc(64, b->bs);
	while (count) {
		int n = count > 64 ? 64 : (int)count;
		errcode_t e = wb_write64(ch, blk, n, z);
		if (e)
			return e;
		blk += (unsigned)n;
		count -= (unsigned)n;
	}
	return 0;
}

static struct struct_io_manager wb_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "ucrt write-behind I/O manager",
	.open = wb_open,
	.close = wb_close,
	.set_blksize = wb_set_blksize,
	.read_blk = wb_read,
	.write_blk = wb_write,
	.flush = wb_flush_cb,
	.set_option = wb_set_option,
	.read_blk64 = wb_read64,
	.write_blk64 = wb_write64,
	.zeroout = wb_zeroout,
};

io_manager ext4w_io_manager = &wb_manager;

void ext4w_io_get_stats(io_channel ch, struct ext4w_io_stats *st)
{
	*st = wb_of(ch)->st;
}

int ext4w_io_sync(io_channel ch)
{
	struct wb *b = wb_of(ch);
	int r = wb_flush(b);
	if (r == 0)
		r = wb_wait(b);
	if (r == 0 && fsync(b->fd) < 0)
		r = -errno;
	return r;
}
