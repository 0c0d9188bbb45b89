/* Regular file contents: blocks are allocated in large extents up front
 * (ext2fs_fallocate) instead of one bmap call per block, and data goes
 * from the archive's buffer to the I/O manager's log in one copy, one
 * call per physical extent piece. Sparse files allocate only the ranges
 * that hold data. */
#include "ext4-internal.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

struct fmap {
	uint64_t lblk, pblk, len;
};

struct fdata {
	struct ext4w *w;
	ext2_ino_t ino;
	struct ext2_inode_large in;
	struct fmap *map;
	size_t nmap, mapcap;
	bool grown;		/* in (i_blocks, extent root) changed in memory */
	bool partial;		/* w->stage holds logical block partial_lblk */
	uint64_t partial_lblk;
	uint64_t next;		/* file offset the next data may start at */
};

static int refresh_map(struct fdata *f)
{
	ext2_extent_handle_t h;
	errcode_t e = ext2fs_extent_open2(f->w->fs, f->ino, (struct ext2_inode *)&f->in, &h);
	if (e)
		return ext4w_errno(e);
	f->nmap = 0;
	struct ext2fs_extent ex;
	e = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex);
	while (!e) {
		if ((ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) && !(ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT)) {
			if (f->nmap == f->mapcap) {
				f->mapcap = f->mapcap ? f->mapcap * 2 : 8;
				f->map = xrealloc(f->map, f->mapcap * sizeof(*f->map));
			}
			f->map[f->nmap++] = (struct fmap){ ex.e_lblk, ex.e_pblk, ex.e_len };
		}
		e = ext2fs_extent_get(h, EXT2_EXTENT_NEXT, &ex);
	}
	ext2fs_extent_free(h);
	if (e != EXT2_ET_EXTENT_NO_NEXT && e != EXT2_ET_EXTENT_NO_DOWN)
		return ext4w_errno(e);
	return 0;
}

/* Is every block of [l, l+n) mapped? The map is sorted by lblk. */
static bool covered(const struct fdata *f, uint64_t l, uint64_t n)
{
	for (size_t i = 0; i < f->nmap && n; i++) {
		const struct fmap *m = &f->map[i];
		if (l < m->lblk)
			return false;
		if (l < m->lblk + m->len) {
			uint64_t k = MIN(n, m->lblk + m->len - l);
			l += k;
			n -= k;
		}
	}
	return n == 0;
}

static int ensure_alloc(struct fdata *f, uint64_t l, uint64_t n)
{
	if (covered(f, l, n))
		return 0;
	/* ext2fs_fallocate writes the inode only when the extent root in it
	 * changes; blocks it adds through deeper tree nodes raise i_blocks in
	 * our copy alone, so ext4w_write_data writes the copy back. */
	f->grown = true;
	errcode_t e = ext2fs_fallocate(f->w->fs, EXT2_FALLOCATE_FORCE_INIT | EXT2_FALLOCATE_INIT_BEYOND_EOF,
				       f->ino, (struct ext2_inode *)&f->in, ~0ULL, l, n);
	if (e)
		return ext4w_errno(e);
	int r = refresh_map(f);
	if (r == 0 && !covered(f, l, n))
		r = -EIO;
	return r;
}

/* Write n whole blocks of file data at logical block l (allocated first
 * for sparse files), one io call per physical extent piece. */
static int write_blocks(struct fdata *f, uint64_t l, uint64_t n, const uint8_t *p)
{
	unsigned bs = f->w->fs->blocksize;
	int r = ensure_alloc(f, l, n);
	for (size_t i = 0; r == 0 && i < f->nmap; i++) {
		const struct fmap *m = &f->map[i];
		uint64_t a = MAX(l, m->lblk), b = MIN(l + n, m->lblk + m->len);
		if (a < b)
			r = ext4w_io_write_data(f->w->fs->io, m->pblk + (a - m->lblk), b - a,
						p + (a - l) * bs);
	}
	return r;
}

static int flush_partial(struct fdata *f)
{
	if (!f->partial)
		return 0;
	f->partial = false;
	return write_blocks(f, f->partial_lblk, 1, f->w->stage);
}

/* Whole blocks go straight from the archive's buffer to the I/O manager;
 * only a block split across archive chunks (or a file's last block) is
 * assembled in a one-block buffer, zero-padded. */
static int put_data(struct fdata *f, const uint8_t *p, size_t len, uint64_t off)
{
	unsigned bs = f->w->fs->blocksize;
	if (off < f->next)
		return -EINVAL;	/* tar data never goes backwards */
	while (len) {
		uint64_t l = off / bs;
		size_t o = (size_t)(off % bs);
		int r = 0;
		if (f->partial && l != f->partial_lblk)
			r = flush_partial(f);
		if (r == 0 && o == 0 && len >= bs) {
			size_t k = len / bs * bs;
			r = write_blocks(f, l, k / bs, p);
			p += k;
			off += k;
			len -= k;
		} else if (r == 0) {
			if (!f->partial) {
				memset(f->w->stage, 0, bs);
				f->partial = true;
				f->partial_lblk = l;
			}
			size_t k = MIN(len, bs - o);
			memcpy(f->w->stage + o, p, k);
			p += k;
			off += k;
			len -= k;
			if (o + k == bs)
				r = flush_partial(f);
		}
		if (r < 0)
			return r;
	}
	f->next = off;
	return 0;
}

/* Copy the current entry's data from the archive into inode ino, whose
 * i_size is already set. */
int ext4w_write_data(struct ext4w *w, struct archive *a, struct archive_entry *e,
		     ext2_ino_t ino, const char **why)
{
	struct fdata f = { .w = w, .ino = ino };
	unsigned bs = w->fs->blocksize;
	int r = ext4w_read_inode(w, ino, &f.in);
	if (r < 0)
		return r;
	uint64_t size = (uint64_t)archive_entry_size(e);
	/* Dense files: every block at once, in as few extents as possible. */
	if (archive_entry_sparse_reset(e) == 0 && size > 0)
		r = ensure_alloc(&f, 0, (size + bs - 1) / bs);
	while (r == 0) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int ar = archive_read_data_block(a, &buf, &len, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			*why = archive_error_string(a);
			r = -EIO;
			break;
		}
		if (off < 0 || (uint64_t)off + len > size) {
			*why = "data beyond the declared size";
			r = -EINVAL;
			break;
		}
		r = put_data(&f, buf, len, (uint64_t)off);
	}
	if (r == 0)
		r = flush_partial(&f);
	if (f.grown) {
		int wr = ext4w_write_inode(w, ino, &f.in);
		if (r == 0)
			r = wr;
	}
	free(f.map);
	return r;
}
