/* Creating and deleting inodes in the image: the libext2fs sequence for
 * each type (allocate, initialise, link, account) and recursive removal
 * that frees an inode when its last link goes. */
#include "ext4-internal.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int ext4w_ftype(unsigned mode)
{
	switch (mode & LINUX_S_IFMT) {
	case LINUX_S_IFREG: return EXT2_FT_REG_FILE;
	case LINUX_S_IFDIR: return EXT2_FT_DIR;
	case LINUX_S_IFLNK: return EXT2_FT_SYMLINK;
	case LINUX_S_IFCHR: return EXT2_FT_CHRDEV;
	case LINUX_S_IFBLK: return EXT2_FT_BLKDEV;
	case LINUX_S_IFIFO: return EXT2_FT_FIFO;
	case LINUX_S_IFSOCK: return EXT2_FT_SOCK;
	default: return EXT2_FT_UNKNOWN;
	}
}

int ext4w_make(struct ext4w *w, ext2_ino_t dir, const char *name, unsigned mode,
	       const char *target, ext2_ino_t *out)
{
	ext2_filsys fs = w->fs;
	ext2_ino_t ino;
	errcode_t e = ext2fs_new_inode(fs, dir, (int)mode, NULL, &ino);
	if (e)
		return ext4w_errno(e);
	int r;
	if (LINUX_S_ISDIR(mode)) {
		/* Create unnamed, then link: ext2fs_mkdir does not grow a full
		 * parent directory itself (it does count the parent's link). */
		r = ext4w_errno(ext2fs_mkdir(fs, dir, ino, NULL));
		if (r == 0)
			r = ext4w_link(w, dir, name, ino, EXT2_FT_DIR);
		if (r == 0) {
			/* whiteout bookkeeping: a directory new in this layer */
			char key[16];
			snprintf(key, sizeof(key), "%u", ino);
			ext4w_set_add(&w->fresh, key);
		}
	} else if (LINUX_S_ISLNK(mode)) {
		e = ext2fs_symlink(fs, dir, ino, NULL, (char *)target);
		r = ext4w_errno(e);
		if (r == 0)
			r = ext4w_link(w, dir, name, ino, EXT2_FT_SYMLINK);
	} else {
		struct ext2_inode_large in;
		memset(&in, 0, sizeof(in));
		in.i_mode = (uint16_t)mode;
		in.i_links_count = 1;
		in.i_extra_isize = sizeof(in) - EXT2_GOOD_OLD_INODE_SIZE;
		if (LINUX_S_ISREG(mode) && ext2fs_has_feature_extents(fs->super)) {
			ext2_extent_handle_t h;
			e = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)&in, &h);
			if (e)
				return ext4w_errno(e);
			ext2fs_extent_free(h);
		}
		e = ext2fs_write_new_inode(fs, ino, (struct ext2_inode *)&in);
		r = ext4w_errno(e);
		if (r == 0) {
			ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
			r = ext4w_link(w, dir, name, ino, ext4w_ftype(mode));
		}
	}
	if (r == 0)
		*out = ino;
	return r;
}

int ext4w_mkdir_implicit(struct ext4w *w, ext2_ino_t dir, const char *name,
			 int64_t mtime, ext2_ino_t *ino)
{
	int r = ext4w_make(w, dir, name, LINUX_S_IFDIR | 0755, NULL, ino);
	if (r < 0)
		return r;
	struct ext2_inode_large in;
	r = ext4w_read_inode(w, *ino, &in);
	if (r < 0)
		return r;
	in.i_mode = LINUX_S_IFDIR | 0755;
	in.i_uid = in.i_gid = 0;
	ext2fs_set_i_uid_high(in, 0);
	ext2fs_set_i_gid_high(in, 0);
	ext4w_set_time(&in.i_mtime, &in.i_mtime_extra, mtime, 0);
	ext4w_set_time(&in.i_atime, &in.i_atime_extra, mtime, 0);
	ext4w_set_time(&in.i_ctime, &in.i_ctime_extra, mtime, 0);
	return ext4w_write_inode(w, *ino, &in);
}

struct children {
	struct ext4w_child *v;
	size_t n, cap;
};

static int collect(struct ext2_dir_entry *d, int offset, int blocksize, char *buf, void *priv)
{
	struct children *c = priv;
	size_t len = ext2fs_dirent_name_len(d);
	if ((len == 1 && d->name[0] == '.') || (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = (struct ext4w_child){ xstrndup(d->name, len), d->inode };
	return 0;
}

int ext4w_list_dir(struct ext4w *w, ext2_ino_t dir, struct ext4w_child **out, size_t *n)
{
	struct children c = { 0 };
	errcode_t e = ext2fs_dir_iterate(w->fs, dir, 0, NULL, collect, &c);
	if (e) {
		for (size_t i = 0; i < c.n; i++)
			free(c.v[i].name);
		free(c.v);
		return ext4w_errno(e);
	}
	*out = c.v;
	*n = c.n;
	return 0;
}

static int free_inode(struct ext4w *w, ext2_ino_t ino, struct ext2_inode_large *in)
{
	ext2_filsys fs = w->fs;
	bool isdir = LINUX_S_ISDIR(in->i_mode);
	errcode_t e = 0;
	if (ext2fs_file_acl_block(fs, (struct ext2_inode *)in))
		e = ext2fs_free_ext_attr(fs, ino, in);
	if (!e && ext2fs_inode_has_valid_blocks2(fs, (struct ext2_inode *)in))
		e = ext2fs_punch(fs, ino, (struct ext2_inode *)in, NULL, 0, ~0ULL);
	if (e)
		return ext4w_errno(e);
	/* punch rewrote the inode: read it back before the final update */
	int r = ext4w_read_inode(w, ino, in);
	if (r < 0)
		return r;
	in->i_links_count = 0;
	/* e2fsck reads a dtime below s_inodes_count as an orphan-list link:
	 * use a real clock value. */
	in->i_dtime = (uint32_t)time(NULL);
	r = ext4w_write_inode(w, ino, in);
	if (r < 0)
		return r;
	ext2fs_inode_alloc_stats2(fs, ino, -1, isdir);
	return 0;
}

int ext4w_remove(struct ext4w *w, ext2_ino_t dir, const char *name, ext2_ino_t ino)
{
	struct ext2_inode_large in;
	int r = ext4w_read_inode(w, ino, &in);
	if (r < 0)
		return r;
	ext4w_invalidate_dir_cache(w);
	bool isdir = LINUX_S_ISDIR(in.i_mode);
	if (isdir) {
		struct ext4w_child *v = NULL;
		size_t n = 0;
		r = ext4w_list_dir(w, ino, &v, &n);
		for (size_t i = 0; i < n; i++) {
			if (r == 0)
				r = ext4w_remove(w, ino, v[i].name, v[i].ino);
			free(v[i].name);
		}
		free(v);
		if (r < 0)
			return r;
	}
	errcode_t e = ext2fs_unlink(w->fs, dir, name, ino, 0);
	if (e)
		return ext4w_errno(e);
	if (isdir) {
		struct ext2_inode_large p;
		r = ext4w_read_inode(w, dir, &p);
		if (r < 0)
			return r;
		if (p.i_links_count > 2)
			p.i_links_count--;
		r = ext4w_write_inode(w, dir, &p);
		if (r < 0)
			return r;
		r = ext4w_read_inode(w, ino, &in);
		if (r < 0)
			return r;
		return free_inode(w, ino, &in);
	}
	if (in.i_links_count > 1) {
		in.i_links_count--;
		return ext4w_write_inode(w, ino, &in);
	}
	return free_inode(w, ino, &in);
}
