/* Sizing an image from its layers' real contents: what a full image needs
 * (ext4w_need), a build that rebuilds it with that geometry (ext4w_build),
 * and the temp files a killed build leaves (ext4w_clean_temps).
 *
 * A disk is sized before its layers are read (from compressed sizes or a
 * gzip ISIZE: bytes, never the number of entries), so a layer of many small
 * files can run out of inodes, or one that compresses unusually well out of
 * blocks. libext2fs cannot add inodes to an existing filesystem (resize2fs
 * is a program, not library code), so a full image is built again; the
 * writer counts the rest of the layers' entries while it reads them to the
 * end anyway, and the rebuild is sized from those counts, not a second
 * guess. */
#include "ext4-internal.h"
#include "err.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Attempts of ext4w_build: the first, and rebuilds sized from counts (one
 * is enough unless the counts are off, e.g. directories created for
 * missing parents, which no tar header announces). */
#define EXT4W_BUILDS 3

enum ext4w_full ext4w_need(const struct ext4w *w, uint64_t *size, uint64_t *inodes)
{
	const struct ext4w_fill *f = &w->fill;
	const uint64_t bs = 4096;

	if (f->what == EXT4W_FITS)
		return EXT4W_FITS;
	uint64_t ino = f->inodes_used + f->entries;
	/* (a layer may have removed lost+found: used can drop below base) */
	uint64_t blk = (f->blocks_used > f->base_blocks ? f->blocks_used - f->base_blocks : 0) +
		       f->blocks + f->dirent_bytes / bs + 1;
	/* A quarter more for directories made for missing parents, extent
	 * tree and xattr blocks, and directory blocks left part empty. */
	ino += ino / 4 + 1024;
	blk += blk / 4;
	if (f->what == EXT4W_FULL_INODES)
		ino = MAX(ino, f->inodes + f->inodes / 2);
	uint64_t sz = ext4w_size_for(blk * bs + ino * EXT2_GOOD_OLD_INODE_SIZE * 2);
	if (f->what == EXT4W_FULL_BLOCKS)
		sz = MAX(sz, f->size + f->size / 2);
	/* set_params allows one inode per block at most. */
	sz = MAX(sz, ino * bs);
	*size = (sz + (1 << 20) - 1) & ~((1ULL << 20) - 1);
	*inodes = ino;
	return f->what;
}

static int build_once(const char *path, uint64_t size, const struct ext4w_opts *o,
		      const struct ext4w_layers *ls, struct ext4w **out, struct err *err)
{
	struct ext4w *w = NULL;
	int r = ext4w_create(path, size, o, &w, err);

	for (size_t i = 0; r >= 0 && i < ls->n; i++) {
		struct ext4w_source src;
		r = ls->open(ls->arg, i, &src, err);
		if (r < 0)
			break;
		r = ext4w_apply_layer(w, &src, err);
		if (ls->close)
			ls->close(ls->arg, i);
	}
	if (r < 0 && w)
		ext4w_abort(w);
	*out = r < 0 ? NULL : w;
	return r;
}

int ext4w_build(const char *path, uint64_t size, bool grow, const struct ext4w_opts *opts,
		const struct ext4w_layers *ls, struct ext4w_stats *st, struct err *err)
{
	struct ext4w_opts o = { 0 };
	struct ext4w *w = NULL;

	if (opts)
		o = *opts;
	for (int attempt = 1;; attempt++) {
		int r = build_once(path, size, &o, ls, &w, err);
		if (r < 0)
			return r;
		if (st)
			ext4w_get_stats(w, st);
		uint64_t nsize, ninodes;
		enum ext4w_full full = ext4w_need(w, &nsize, &ninodes);
		/* A size the caller gave is kept: only more inodes fit in it. */
		bool again = full != EXT4W_FITS && attempt < EXT4W_BUILDS &&
			     (grow || (full == EXT4W_FULL_INODES && ninodes * 4096 <= size &&
				       ninodes > w->fill.inodes));
		if (!again)
			return ext4w_finish(w, err);	/* fails with "image full" */
		log_debug("%s: %s; building it again with %llu inodes and %llu MiB", path, w->fill.msg,
			  (unsigned long long)ninodes, (unsigned long long)((grow ? nsize : size) >> 20));
		ext4w_abort(w);
		if (grow)
			size = MAX(size, nsize);
		o.inodes = ninodes;
	}
}

int ext4w_clean_temps(const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(path, (size_t)(slash - path + 1)) : xstrdup(".");
	const char *name = slash ? slash + 1 : path;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int dirfd = fd;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	size_t len = strlen(name);
	int n = 0, r = 0;
	struct dirent *de;
	/* Exactly what mkostemp made of "name.tmp-XXXXXX", nothing looser. */
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, name, len) || strncmp(de->d_name + len, ".tmp-", 5) ||
		    strlen(de->d_name + len + 5) != 6)
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0)
			n++;
		else if (errno != ENOENT && !r)
			r = -errno;
	}
	closedir(d);
	return r < 0 ? r : n;
}
