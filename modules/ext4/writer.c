/* The writer's life cycle: a fresh ext4 in a sparse temp file, layers
 * applied by apply.c, then flush, close and an atomic rename. */
#include "ext4-internal.h"
#include "err.h"
#include "fiber.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <zstd.h>

static void fill_random(void *p, size_t n)
{
	/* Only uniqueness matters (UUID, hash seed); fall back to the clock. */
	if (getrandom(p, n, GRND_NONBLOCK) != (ssize_t)n) {
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)getpid();
		for (size_t i = 0; i < n; i++)
			((uint8_t *)p)[i] = (uint8_t)(t >> ((i % 8) * 8)) ^ (uint8_t)i;
	}
}

static void set_params(struct ext2_super_block *sb, uint64_t size, const struct ext4w_opts *o)
{
	memset(sb, 0, sizeof(*sb));
	sb->s_rev_level = EXT2_DYNAMIC_REV;
	sb->s_log_block_size = 2;	/* 4 KiB */
	ext2fs_blocks_count_set(sb, size / 4096);
	sb->s_inode_size = 256;		/* room for ns times, crtime, xattrs */
	sb->s_min_extra_isize = sb->s_want_extra_isize =
		sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	uint64_t inodes = MAX(o->inodes, size / o->inode_ratio);
	/* One inode per block is as dense as ext4 goes (an inode bitmap
	 * block per group of 8 * blocksize blocks). */
	inodes = MIN(inodes, size / 4096);
	sb->s_inodes_count = (uint32_t)MIN(MAX(inodes, 1024), (uint64_t)UINT32_MAX / 2);
	sb->s_log_groups_per_flex = 4;
	sb->s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
	sb->s_errors = EXT2_ERRORS_CONTINUE;
	sb->s_max_mnt_count = (uint16_t)-1;
	ext2fs_set_feature_dir_index(sb);
	ext2fs_set_feature_xattr(sb);
	ext2fs_set_feature_sparse_super2(sb);
	ext2fs_set_feature_filetype(sb);
	ext2fs_set_feature_extents(sb);
	ext2fs_set_feature_64bit(sb);
	ext2fs_set_feature_flex_bg(sb);
	ext2fs_set_feature_sparse_super(sb);
	ext2fs_set_feature_large_file(sb);
	ext2fs_set_feature_huge_file(sb);
	ext2fs_set_feature_dir_nlink(sb);
	ext2fs_set_feature_extra_isize(sb);
	/* uninit_bg, not metadata_csum: crc32c over every directory block on
	 * each lookup cost ~12% of a build; group checksums still allow lazily
	 * initialised (never written) inode tables. */
	ext2fs_set_feature_gdt_csum(sb);
}

/* What mke2fs does after ext2fs_initialize, minus zeroing: the image is a
 * fresh sparse file, and uninitialised groups are flagged (csum). */
static int init_fs(ext2_filsys fs)
{
	struct ext2_super_block *sb = fs->super;
	fill_random(sb->s_uuid, sizeof(sb->s_uuid));
	sb->s_uuid[6] = (sb->s_uuid[6] & 0x0f) | 0x40;	/* version 4 */
	sb->s_uuid[8] = (sb->s_uuid[8] & 0x3f) | 0x80;
	fill_random(sb->s_hash_seed, sizeof(sb->s_hash_seed));
	sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
	sb->s_flags |= ((char)-1 < 0) ? EXT2_FLAGS_SIGNED_HASH : EXT2_FLAGS_UNSIGNED_HASH;
	sb->s_checksum_type = EXT2_CRC32C_CHKSUM;
	ext2fs_init_csum_seed(fs);
	fs->umask = 022;
	errcode_t e = ext2fs_allocate_tables(fs);
	if (!e)
		e = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, NULL);
	if (e)
		return ext4w_errno(e);
	/* The sparse file reads as zeroes, so every inode table already is
	 * zeroed: say so, or each rw mount starts ext4's lazyinit thread,
	 * which writes ~16 MiB of zeroes per GiB into the container's
	 * overlay and competes with the container for a vCPU. */
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
		ext2fs_group_desc_csum_set(fs, g);
	}
	for (ext2_ino_t i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(sb); i++)
		ext2fs_inode_alloc_stats2(fs, i, +1, 0);
	ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
	e = ext2fs_update_bb_inode(fs, NULL);
	fs->umask = 077;	/* lost+found is 0700, as mke2fs makes it */
	if (!e)
		e = ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, "lost+found");
	fs->umask = 022;
	if (e)
		return ext4w_errno(e);
	/* The root without a "./" entry in any layer: 0755 root, time 0, so
	 * the same layers always give the same tree. */
	struct ext2_inode_large root;
	memset(&root, 0, sizeof(root));
	e = ext2fs_read_inode_full(fs, EXT2_ROOT_INO, (struct ext2_inode *)&root, sizeof(root));
	if (e)
		return ext4w_errno(e);
	root.i_atime = root.i_ctime = root.i_mtime = 0;
	root.i_atime_extra = root.i_ctime_extra = root.i_mtime_extra = 0;
	root.i_crtime = root.i_crtime_extra = 0;
	e = ext2fs_write_inode_full(fs, EXT2_ROOT_INO, (struct ext2_inode *)&root, sizeof(root));
	if (e)
		return ext4w_errno(e);
	/* A journal keeps containers' writes (through their overlay) safe.
	 * LAZYINIT: its blocks stay holes in the sparse file. */
	struct ext2fs_journal_params jp;
	if (ext2fs_blocks_count(sb) >= 32768 && ext2fs_get_journal_params(&jp, fs) == 0) {
		e = ext2fs_add_journal_inode3(fs, &jp, ~0ULL,
					      EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK);
		if (e)
			return ext4w_errno(e);
	}
	return 0;
}

int ext4w_create(const char *path, uint64_t size, const struct ext4w_opts *opts,
		 struct ext4w **out, struct err *err)
{
	struct ext4w *w = xcalloc(1, sizeof(*w));
	if (opts)
		w->opts = *opts;
	if (!w->opts.max_entry_size)
		w->opts.max_entry_size = EXT4W_DEFAULT_MAX_ENTRY;
	if (!w->opts.max_layer_bytes)
		w->opts.max_layer_bytes = EXT4W_DEFAULT_MAX_LAYER;
	if (!w->opts.max_ratio)
		w->opts.max_ratio = EXT4W_DEFAULT_MAX_RATIO;
	if (!w->opts.inode_ratio)
		w->opts.inode_ratio = EXT4W_DEFAULT_INODE_RATIO;
	size &= ~4095ULL;
	if (size < (8ULL << 20)) {
		free(w);
		return err_set(err, EINVAL, "%s: image size %llu is too small (minimum 8 MiB)",
			       path, (unsigned long long)size);
	}
	w->path = xstrdup(path);
	w->tmp_path = xasprintf("%s.tmp-XXXXXX", path);
	int fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (fd < 0) {
		int r = err_setx(err, errno, "creating a temporary file next to %s", path);
		free(w->tmp_path);
		w->tmp_path = NULL;
		ext4w_abort(w);
		return r;
	}
	int r = 0;
	if (fchmod(fd, 0644) < 0 || ftruncate(fd, (off_t)size) < 0)
		r = err_setx(err, errno, "sizing %s", w->tmp_path);
	close(fd);
	if (r < 0) {
		ext4w_abort(w);
		return r;
	}
	struct ext2_super_block sb;
	set_params(&sb, size, &w->opts);
	errcode_t e = ext2fs_initialize(w->tmp_path, EXT2_FLAG_RW | EXT2_FLAG_64BITS, &sb,
					ext4w_io_manager, &w->fs);
	if (!e)
		ext4w_io_use_loop(w->fs->io, w->opts.loop);
	r = e ? ext4w_errno(e) : init_fs(w->fs);
	if (r < 0) {
		err_set(err, r, "%s: creating the filesystem: %s", path,
			e ? error_message(e) : strerror(-r));
		ext4w_abort(w);
		return r;
	}
	w->blockbuf = xmalloc(w->fs->blocksize);
	w->stage = xmalloc(w->fs->blocksize);
	struct ext2_super_block *s = w->fs->super;
	w->fill.base_blocks = ext2fs_blocks_count(s) - ext2fs_free_blocks_count(s);
	w->fill.size = ext2fs_blocks_count(s) * w->fs->blocksize;
	w->fill.inodes = s->s_inodes_count;
	*out = w;
	return 0;
}

static void ext4w_free(struct ext4w *w)
{
	if (w->fs) {
		/* Drop without writing metadata: the file is going away. */
		w->fs->flags &= ~EXT2_FLAG_DIRTY;
		ext2fs_free(w->fs);
	}
	ext4w_set_clear(&w->touched);
	ext4w_set_clear(&w->fresh);
	free(w->last_dir);
	free(w->blockbuf);
	free(w->stage);
	free(w->path);
	free(w->tmp_path);
	free(w);
}

void ext4w_abort(struct ext4w *w)
{
	if (!w)
		return;
	if (w->fs) {
		/* Close the channel (its last writes land in a file that is
		 * about to be removed) and free the rest without writing. */
		io_channel_close(w->fs->io);
		w->fs->io = NULL;
		w->fs->image_io = NULL;
	}
	if (w->tmp_path)
		unlink(w->tmp_path);
	ext4w_free(w);
}

/* fsync through the reactor when the writer's fiber can await it: an
 * image's fsync can take long enough to stall every other transfer. */
static int sync_path(const struct ext4w *w, const char *path, bool dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r;
	if (w->opts.loop && fiber_current()) {
		struct loop_op op = FIBER_OP_INIT;
		r = loop_fsync(w->opts.loop, &op, fd, false);
		if (r == 0)
			r = fiber_await(&op);
	} else {
		r = fsync(fd) < 0 ? -errno : 0;
	}
	close(fd);
	return r;
}

int ext4w_finish(struct ext4w *w, struct err *err)
{
	uint64_t size, inodes;
	if (ext4w_need(w, &size, &inodes) != EXT4W_FITS) {
		int r = err_set(err, ENOSPC, "%s; the layers need about %llu inodes and %llu MiB", w->fill.msg,
				(unsigned long long)inodes, (unsigned long long)(size >> 20));
		ext4w_abort(w);
		return r;
	}
	errcode_t e = ext2fs_close_free(&w->fs);
	if (e) {
		int r = err_set(err, ext4w_errno(e), "writing %s: %s", w->path, error_message(e));
		ext4w_abort(w);
		return r;
	}
	uint64_t t0 = loop_now_ns();
	int r = w->opts.fsync ? sync_path(w, w->tmp_path, false) : 0;
	if (w->opts.fsync)
		log_debug("%s: fsync %.1f ms", w->path, (double)(loop_now_ns() - t0) / 1e6);
	if (r == 0 && rename(w->tmp_path, w->path) < 0)
		r = -errno;
	if (r < 0) {
		err_setx(err, r, "%s: putting the image in place", w->path);
		ext4w_abort(w);
		return r;
	}
	if (w->opts.fsync) {
		_cleanup_free_ char *dir = xstrdup(w->path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = 0;
		sync_path(w, slash ? dir : ".", true);
	}
	free(w->tmp_path);
	w->tmp_path = NULL;
	ext4w_free(w);
	return 0;
}

void ext4w_get_stats(const struct ext4w *w, struct ext4w_stats *st)
{
	*st = w->stats;
	if (w->fs) {
		struct ext4w_io_stats io;
		ext4w_io_get_stats(w->fs->io, &io);
		st->writes = io.writes;
		st->write_bytes = io.write_bytes;
		st->reads = io.reads;
	}
}

uint64_t ext4w_size_for(uint64_t content)
{
	/* Content, plus a third for block rounding, directories, inode tables
	 * and the journal, plus 128 MiB of room; the file is sparse, so unused
	 * room costs nothing on the host. */
	uint64_t s = content + content / 3 + (128ULL << 20);
	return (s + (1 << 20) - 1) & ~((1ULL << 20) - 1);
}

int ext4w_estimate_file(const char *path, uint64_t *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : ext4w_estimate_fd(fd, out);
}

int ext4w_estimate_fd(int fd, uint64_t *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	uint64_t fsize = (uint64_t)st.st_size;
	uint8_t head[18] = { 0 }, tail[4];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	if (n < 0)
		return -errno;
	/* Unknown ratio: rootfs layers compress 2-4x. */
	uint64_t guess = fsize * 4;
	if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
		/* ISIZE is mod 2^32 and covers the last member only: trust it
		 * only when it is plausible. */
		if (fsize >= 18 && pread(fd, tail, 4, (off_t)fsize - 4) == 4) {
			uint64_t isize = tail[0] | tail[1] << 8 | tail[2] << 16 | (uint64_t)tail[3] << 24;
			*out = isize >= fsize ? MAX(isize, fsize * 2) : guess;
			return 0;
		}
		*out = guess;
	} else if (n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) {
		unsigned long long c = ZSTD_getFrameContentSize(head, (size_t)n);
		*out = (c != ZSTD_CONTENTSIZE_UNKNOWN && c != ZSTD_CONTENTSIZE_ERROR && c >= fsize)
			? MAX((uint64_t)c, fsize * 2) : guess;
	} else {
		*out = fsize;
	}
	return 0;
}

ssize_t ext4w_fd_read(void *arg, void *buf, size_t len)
{
	ssize_t r = read((int)(intptr_t)arg, buf, len);
	return r < 0 ? -errno : r;
}
