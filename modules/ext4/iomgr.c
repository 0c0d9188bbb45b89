/* A libext2fs io_manager with write-behind.
 *
 * unix_io writes every block with its own pwrite() and keeps an 8-block
 * cache; applying a layer writes tens of thousands of blocks, so here every
 * write is copied into an append-only log (1024 blocks), a hash maps each
 * block to its newest copy in the log, and when the log fills (or on flush)
 * the newest copies are written over contiguous runs. Reads see the log
 * first, then a direct-mapped cache of single-block reads (inode tables,
 * directories, bitmaps), then the file.
 *
 * With a reactor (ext4w_io_use_loop) and called from a fiber, a full log
 * goes to the reactor's io_uring as writev ops run by kernel workers and
 * the log buffers swap, so inflating and parsing go on while the kernel
 * copies the batch (write-behind); one batch in flight at a time keeps the
 * writes ordered, and the fiber awaits it only when the next batch is
 * ready or the file must be consistent. Elsewhere (no loop, or not in a
 * fiber) the runs are written at once with pwritev().
 *
 * Each landed batch also starts the device on the file's dirty pages
 * (loop_writeback, one op at a time): the image is written out while the
 * layers are still being applied, so the fsync before its rename waits
 * for the last batches only, not for the whole image. */
#include "ext4-internal.h"
#include "fiber.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
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

/* One writev in flight on the reactor; kept until its completion so a
 * short write can be redone. */
struct wb;
struct wb_sub {
	struct loop_op op;
	struct wb *b;
	struct wb_sub *next;
	int n;
	uint64_t off;
	size_t len;
	struct iovec iov[];
};

struct wb {
	int fd;
	unsigned bs;
	uint8_t *log, *spare;	/* filling / in flight (double buffer) */
	struct loop *loop;	/* NULL: synchronous writes */
	struct fiber *waiter;	/* the fiber awaiting the batch */
	struct wb_sub *subs;	/* the batch in flight */
	unsigned inflight;
	struct loop_op wback;	/* writeback of the landed batches */
	bool wback_again;	/* more landed while it ran */
	bool closed;		/* closed while a batch was in flight */
	int async_err;
	int host_err;		/* first failed write to the file (-errno) */
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

/* Remember the host's refusal: libext2fs turns it into an error code the
 * writer could not tell from its own allocator's ENOSPC. */
static int wb_host_err(struct wb *b, int r)
{
	if (!b->host_err)
		b->host_err = r;
	return r;
}

static int wb_pwritev(struct wb *b, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pwritev(b->fd, iov, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return wb_host_err(b, -errno);
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

static void wb_free(struct wb *b);
static void wb_writeback(struct wb *b);

static void wb_wback_done(struct loop_op *op, int res, uint32_t flags)
{
	struct wb *b = container_of(op, struct wb, wback);
	(void)res;	/* only a hint: the fsync reports what failed */
	(void)flags;
	if (b->closed) {
		if (!b->inflight)
			wb_free(b);
		return;
	}
	if (b->wback_again) {
		b->wback_again = false;
		wb_writeback(b);
	}
	if (b->waiter && !b->inflight)
		fiber_wake(b->waiter);
}

/* Whole file (len 0): a scan of its dirty pages is cheap, and the ranges
 * of a batch are scattered (metadata, data). */
static void wb_writeback(struct wb *b)
{
	if (loop_op_active(&b->wback)) {
		b->wback_again = true;
		return;
	}
	b->wback.cb = wb_wback_done;
	loop_writeback(b->loop, &b->wback, b->fd, 0, 0);
}

/* Completion of one writev of the batch, on the reactor. A short write or
 * an error is redone synchronously (rare: a full disk or a signal). */
static void wb_sub_done(struct loop_op *op, int res, uint32_t flags)
{
	struct wb_sub *sub = container_of(op, struct wb_sub, op);
	struct wb *b = sub->b;
	(void)flags;
	if (res >= 0)
		b->st.write_bytes += (uint64_t)res;
	if (!b->closed && (res < 0 || (size_t)res != sub->len)) {
		int r = wb_pwritev(b, sub->iov, sub->n, sub->off);
		if (r < 0 && !b->async_err)
			b->async_err = r;
	}
	if (--b->inflight)
		return;
	if (b->closed) {
		if (!loop_op_active(&b->wback))
			wb_free(b);
		return;
	}
	wb_writeback(b);
	if (b->waiter)
		fiber_wake(b->waiter);
}

/* Wait for the batch in flight and release it; returns its first error. */
static int wb_wait(struct wb *b)
{
	while (b->inflight) {
		if (fiber_current()) {
			b->waiter = fiber_current();
			fiber_suspend();
			b->waiter = NULL;
		} else {
			/* Only reached outside any callback (loop_run_once
			 * aborts otherwise): e.g. a writer driven from main(). */
			int r = loop_run_once(b->loop, true);
			if (r < 0)
				return r;
		}
	}
	while (b->subs) {
		struct wb_sub *n = b->subs->next;
		free(b->subs);
		b->subs = n;
	}
	int r = b->async_err;
	b->async_err = 0;
	return r;
}

/* Queue a run on the reactor, or write it now when there is no fiber to
 * await it. */
static int wb_submit(struct wb *b, struct iovec *iov, int n, uint64_t off)
{
	if (!b->loop || !fiber_current())
		return wb_pwritev(b, iov, n, off);
	struct wb_sub *sub = xmalloc(sizeof(*sub) + (size_t)n * sizeof(*iov));
	*sub = (struct wb_sub){ .op = { .cb = wb_sub_done }, .b = b, .n = n, .off = off };
	memcpy(sub->iov, iov, (size_t)n * sizeof(*iov));
	for (int i = 0; i < n; i++)
		sub->len += iov[i].iov_len;
	int r = loop_writev_async(b->loop, &sub->op, b->fd, sub->iov, (unsigned)n, off);
	if (r < 0) {
		free(sub);
		return wb_pwritev(b, iov, n, off);
	}
	sub->next = b->subs;
	b->subs = sub;
	b->inflight++;
	b->st.writes++;
	return 0;
}

/* Write the newest copy of every logged block, contiguous runs merged.
 * On the reactor the batch stays in flight (the log buffers swap) until
 * the next flush, a read that misses, or close. */
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
		int s = loop_submit(b->loop);
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

static void wb_free(struct wb *b)
{
	while (b->subs) {
		struct wb_sub *n = b->subs->next;
		free(b->subs);
		b->subs = n;
	}
	free(b->spare);
	free(b->log);
	free(b->cdata);
	free(b->ckey);
	free(b->hkey);
	free(b->hval);
	free(b->recs);
	free(b);
}

static errcode_t wb_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	struct wb *b = wb_of(ch);
	int r = 0;
	if ((b->inflight || loop_op_active(&b->wback)) && !fiber_current()) {
		/* Cannot wait here (an abort from a callback): the last
		 * completion frees the buffers the kernel still reads. Only
		 * an image being thrown away gets here. */
		b->closed = true;
		r = -ECANCELED;
	} else {
		r = wb_flush(b);
		int rw = wb_wait(b);
		if (r == 0)
			r = rw;
		while (loop_op_active(&b->wback)) {
			b->waiter = fiber_current();
			fiber_suspend();
			b->waiter = NULL;
		}
	}
	close(b->fd);
	free(ch->name);
	free(ch);
	if (!b->closed)
		wb_free(b);
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
			return wr ? wb_host_err(b, -errno) : -errno;
		if (r == 0 && wr)	/* cannot happen for a regular file */
			return wb_host_err(b, -EIO);
		if (r == 0) {	/* past the end of a sparse file: zeros */
			memset(p, 0, len);
			return 0;
		}
		if (wr) {
			b->st.writes++;
			b->st.write_bytes += (uint64_t)r;
		} else {
			b->st.reads++;
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

void ext4w_io_use_loop(io_channel ch, struct loop *l)
{
	wb_of(ch)->loop = l;
}

int ext4w_io_error(io_channel ch)
{
	return wb_of(ch)->host_err;
}

void ext4w_io_get_stats(io_channel ch, struct ext4w_io_stats *st)
{
	*st = wb_of(ch)->st;
}
