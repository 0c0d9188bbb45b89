/* The image's directory tree: lookup, symlink-safe resolution inside the
 * image root, linking, recursive removal. Everything goes through
 * libext2fs; no host path is ever touched. */
#include "ext4-internal.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

int ext4w_errno(errcode_t e)
{
	if (e == 0)
		return 0;
	if (e > 0 && e < 4096)
		return -(int)e;	/* libext2fs passes plain errno values through */
	switch (e) {
	case EXT2_ET_BLOCK_ALLOC_FAIL:
	case EXT2_ET_INODE_ALLOC_FAIL:
	case EXT2_ET_DIR_NO_SPACE:
	case EXT2_ET_EA_NO_SPACE:
		return -ENOSPC;
	case EXT2_ET_FILE_NOT_FOUND:
		return -ENOENT;
	case EXT2_ET_NO_DIRECTORY:
		return -ENOTDIR;
	case EXT2_ET_NO_MEMORY:
		return -ENOMEM;
	case EXT2_ET_EA_KEY_NOT_FOUND:
		return -ENODATA;
	default:
		return -EIO;
	}
}

int ext4w_read_inode(struct ext4w *w, ext2_ino_t ino, struct ext2_inode_large *in)
{
	memset(in, 0, sizeof(*in));
	return ext4w_errno(ext2fs_read_inode_full(w->fs, ino, (struct ext2_inode *)in, sizeof(*in)));
}

int ext4w_write_inode(struct ext4w *w, ext2_ino_t ino, struct ext2_inode_large *in)
{
	return ext4w_errno(ext2fs_write_inode_full(w->fs, ino, (struct ext2_inode *)in, sizeof(*in)));
}

/* ext4 time: 32 low bits of seconds, and extra = nsec << 2 | epoch bits
 * (bits 32-33 of the seconds), so dates 1901..2446 survive. */
void ext4w_set_time(uint32_t *sec, uint32_t *extra, int64_t s, long ns)
{
	*sec = (uint32_t)(uint64_t)s;
	uint32_t epoch = (uint32_t)(((uint64_t)(s - (int32_t)*sec)) >> 32) & EXT4_EPOCH_MASK;
	if (extra)
		*extra = ((uint32_t)ns << EXT4_EPOCH_BITS) | epoch;
}

int ext4w_lookup(struct ext4w *w, ext2_ino_t dir, const char *name, ext2_ino_t *ino)
{
	errcode_t e = ext2fs_lookup(w->fs, dir, name, (int)strlen(name), w->blockbuf, ino);
	return ext4w_errno(e);
}

int ext4w_link(struct ext4w *w, ext2_ino_t dir, const char *name, ext2_ino_t ino, int ftype)
{
	errcode_t e = ext2fs_link(w->fs, dir, name, ino, ftype);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		e = ext2fs_expand_dir(w->fs, dir);
		if (!e)
			e = ext2fs_link(w->fs, dir, name, ino, ftype);
	}
	return ext4w_errno(e);
}

void ext4w_invalidate_dir_cache(struct ext4w *w)
{
	free(w->last_dir);
	w->last_dir = NULL;
}

/* Read a symlink's target from the image (fast or slow link). */
static int read_link(struct ext4w *w, ext2_ino_t ino, char *out, size_t outlen)
{
	struct ext2_inode_large in;
	int r = ext4w_read_inode(w, ino, &in);
	if (r < 0)
		return r;
	size_t len = EXT2_I_SIZE(&in);
	if (len >= outlen || len > w->fs->blocksize)
		return -ENAMETOOLONG;
	if (ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
		memcpy(out, in.i_block, len);
	} else {
		blk64_t pblk = 0;
		errcode_t e = ext2fs_bmap2(w->fs, ino, (struct ext2_inode *)&in, NULL, 0, 0, NULL, &pblk);
		if (e || !pblk)
			return e ? ext4w_errno(e) : -EIO;
		e = io_channel_read_blk64(w->fs->io, pblk, 1, w->blockbuf);
		if (e)
			return ext4w_errno(e);
		memcpy(out, w->blockbuf, len);
	}
	out[len] = 0;
	return 0;
}

/* Walk path from the root like a chroot would: ".." of the root is the
 * root, absolute symlink targets restart at the image root. A stack of
 * directory inodes lets ".." work on resolved (not lexical) parents. */
static int walk(struct ext4w *w, const char *path, bool follow_last, bool create,
		int64_t mtime, ext2_ino_t *out)
{
	ext2_ino_t stack[PATH_MAX / 2];
	size_t depth = 0;
	stack[0] = EXT2_ROOT_INO;
	int links = 0;
	_cleanup_free_ char *rest = xstrdup(path);
	char *p = rest;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *c = p;
		while (*p && *p != '/')
			p++;
		if (*p)
			*p++ = 0;
		const char *q = p;
		while (*q == '/')
			q++;
		bool last = (*q == 0);
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (depth > 0)
				depth--;
			continue;
		}
		ext2_ino_t ino;
		int r = ext4w_lookup(w, stack[depth], c, &ino);
		if (r == -ENOENT && create) {
			r = ext4w_mkdir_implicit(w, stack[depth], c, mtime, &ino);
		}
		if (r < 0)
			return r;
		struct ext2_inode_large in;
		r = ext4w_read_inode(w, ino, &in);
		if (r < 0)
			return r;
		if (LINUX_S_ISLNK(in.i_mode) && (!last || follow_last)) {
			if (++links > EXT4W_MAX_SYMLINKS)
				return -ELOOP;
			char target[PATH_MAX];
			r = read_link(w, ino, target, sizeof(target));
			if (r < 0)
				return r;
			/* Continue with target + remaining path. */
			char *np = xasprintf("%s/%s", target, p);
			free(rest);
			rest = np;
			p = rest;
			if (target[0] == '/')
				depth = 0;
			continue;
		}
		if (!last && !LINUX_S_ISDIR(in.i_mode))
			return -ENOTDIR;
		if (depth + 1 >= ARRAY_SIZE(stack))
			return -ENAMETOOLONG;
		stack[++depth] = ino;
	}
	*out = stack[depth];
	return 0;
}

int ext4w_resolve(struct ext4w *w, const char *path, bool follow_last, ext2_ino_t *ino)
{
	return walk(w, path, follow_last, false, 0, ino);
}

int ext4w_resolve_dir(struct ext4w *w, const char *dir, int64_t mtime, ext2_ino_t *ino)
{
	if (w->last_dir && !strcmp(w->last_dir, dir)) {
		*ino = w->last_dir_ino;
		return 0;
	}
	ext2_ino_t d;
	int r = walk(w, dir, true, true, mtime, &d);
	if (r < 0)
		return r;
	struct ext2_inode_large in;
	r = ext4w_read_inode(w, d, &in);
	if (r < 0)
		return r;
	if (!LINUX_S_ISDIR(in.i_mode))
		return -ENOTDIR;
	free(w->last_dir);
	w->last_dir = xstrdup(dir);
	w->last_dir_ino = d;
	*ino = d;
	return 0;
}
