/* Applying one layer: libarchive parses the tar format (nothing else) from
 * the decompressed stream; each entry creates or replaces an inode, OCI
 * whiteouts delete. The rules are in docs/rootfs.md. */
#include "ext4-internal.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

struct layer {
	struct ext4w *w;
	struct ext4w_dec *dec;
	struct archive *a;
	struct err dec_err;
	bool dec_failed;
	const char *why;	/* detail for the entry's error */
};

static la_ssize_t layer_read(struct archive *a, void *arg, const void **buf)
{
	struct layer *l = arg;
	ssize_t n = ext4w_dec_read(l->dec, buf, &l->dec_err);
	if (n < 0) {
		l->dec_failed = true;
		archive_set_error(a, (int)-n, "%s", err_msg(&l->dec_err));
		return -1;
	}
	return n;
}

static void touch(struct ext4w *w, ext2_ino_t dir, const char *name)
{
	char key[EXT2_NAME_LEN + 16];
	snprintf(key, sizeof(key), "%u/%s", dir, name);
	ext4w_set_add(&w->touched, key);
}

static bool touched(struct ext4w *w, ext2_ino_t dir, const char *name)
{
	char key[EXT2_NAME_LEN + 16];
	snprintf(key, sizeof(key), "%u/%s", dir, name);
	return ext4w_set_has(&w->touched, key);
}

static bool fresh(struct ext4w *w, ext2_ino_t ino)
{
	char key[16];
	snprintf(key, sizeof(key), "%u", ino);
	return ext4w_set_has(&w->fresh, key);
}

/* Opaque directory: everything in it that this layer did not put there
 * goes; directories this layer only updated are cleared the same way. */
static int clear_opaque(struct ext4w *w, ext2_ino_t dir)
{
	struct ext4w_child *v = NULL;
	size_t n = 0;
	int r = ext4w_list_dir(w, dir, &v, &n);
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && !touched(w, dir, v[i].name)) {
			r = ext4w_remove(w, dir, v[i].name, v[i].ino);
		} else if (r == 0 && !fresh(w, v[i].ino)) {
			struct ext2_inode_large in;
			r = ext4w_read_inode(w, v[i].ino, &in);
			if (r == 0 && LINUX_S_ISDIR(in.i_mode))
				r = clear_opaque(w, v[i].ino);
		}
		free(v[i].name);
	}
	free(v);
	return r;
}

static int apply_whiteout(struct layer *l, const char *dir, const char *base, int64_t mtime)
{
	struct ext4w *w = l->w;
	ext2_ino_t dino, ino;
	if (!strcmp(base, WH_OPAQUE)) {
		int r = ext4w_resolve_dir(w, dir, mtime, &dino);
		return r < 0 ? r : clear_opaque(w, dino);
	}
	/* Other .wh..wh. names are aufs bookkeeping (.wh..wh.plnk): skip. */
	if (!strncmp(base, WH_PREFIX WH_PREFIX, 8))
		return 0;
	const char *name = base + strlen(WH_PREFIX);
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		l->why = "invalid whiteout name";
		return -EINVAL;
	}
	int r = ext4w_resolve(w, dir, true, &dino);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;	/* nothing below to hide */
	if (r < 0)
		return r;
	r = ext4w_lookup(w, dino, name, &ino);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	/* A whiteout hides lower layers only, never its own layer's entries. */
	if (touched(w, dino, name))
		return 0;
	return ext4w_remove(w, dino, name, ino);
}

static int set_meta(struct ext4w *w, ext2_ino_t ino, struct archive_entry *e, unsigned type)
{
	struct ext2_inode_large in;
	int r = ext4w_read_inode(w, ino, &in);
	if (r < 0)
		return r;
	in.i_mode = (uint16_t)(type | (archive_entry_perm(e) & 07777));
	uint64_t uid = (uint64_t)archive_entry_uid(e), gid = (uint64_t)archive_entry_gid(e);
	in.i_uid = (uint16_t)uid;
	in.i_gid = (uint16_t)gid;
	ext2fs_set_i_uid_high(in, (uint16_t)(uid >> 16));
	ext2fs_set_i_gid_high(in, (uint16_t)(gid >> 16));
	int64_t ms = archive_entry_mtime(e);
	long mns = archive_entry_mtime_nsec(e);
	ext4w_set_time(&in.i_mtime, &in.i_mtime_extra, ms, mns);
	if (archive_entry_atime_is_set(e))
		ext4w_set_time(&in.i_atime, &in.i_atime_extra, archive_entry_atime(e),
			       archive_entry_atime_nsec(e));
	else
		ext4w_set_time(&in.i_atime, &in.i_atime_extra, ms, mns);
	/* ctime cannot come from a tar: use mtime, so images are reproducible. */
	ext4w_set_time(&in.i_ctime, &in.i_ctime_extra, ms, mns);
	if (type == LINUX_S_IFCHR || type == LINUX_S_IFBLK) {
		unsigned ma = archive_entry_rdevmajor(e), mi = archive_entry_rdevminor(e);
		memset(in.i_block, 0, sizeof(in.i_block));
		if (ma < 256 && mi < 256)
			in.i_block[0] = ma * 256 + mi;	/* old encoding */
		else
			in.i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
	}
	if (type == LINUX_S_IFREG) {
		errcode_t x = ext2fs_inode_size_set(w->fs, (struct ext2_inode *)&in,
						   (uint64_t)archive_entry_size(e));
		if (x)
			return ext4w_errno(x);
	}
	return ext4w_write_inode(w, ino, &in);
}

static int drop_xattr(char *name, char *value, size_t len, void *data)
{
	strv_push(data, name);
	return 0;
}

/* The entry's xattrs replace the inode's (a directory entry updating an
 * existing directory brings its own set). */
static int set_xattrs(struct ext4w *w, ext2_ino_t ino, struct archive_entry *e, bool existing)
{
	int n = archive_entry_xattr_reset(e);
	if (n == 0 && !existing)
		return 0;
	struct ext2_xattr_handle *h;
	errcode_t x = ext2fs_xattrs_open(w->fs, ino, &h);
	if (x)
		return ext4w_errno(x);
	if (existing) {
		_cleanup_strv_ char **old = NULL;
		x = ext2fs_xattrs_read(h);
		if (!x)
			x = ext2fs_xattrs_iterate(h, drop_xattr, &old);
		for (size_t i = 0; !x && old && old[i]; i++)
			x = ext2fs_xattr_remove(h, old[i]);
	}
	const char *name;
	const void *val;
	size_t len;
	while (!x && archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK)
		x = ext2fs_xattr_set(h, name, val, len);
	errcode_t c = ext2fs_xattrs_close(&h);
	return ext4w_errno(x ? x : c);
}

static int apply_hardlink(struct layer *l, ext2_ino_t dino, const char *base, const char *target)
{
	struct ext4w *w = l->w;
	char norm[PATH_MAX];
	ext2_ino_t tino, old;
	if (ext4w_path_normalise(target, norm, sizeof(norm)) < 0 || !*norm) {
		l->why = "invalid hardlink target";
		return -EINVAL;
	}
	int r = ext4w_resolve(w, norm, false, &tino);
	if (r < 0) {
		l->why = r == -ENOENT ? "hardlink target does not exist" : "hardlink target cannot be resolved";
		return r == -ELOOP || r == -ENOTDIR ? r : -ENOENT;
	}
	struct ext2_inode_large in;
	r = ext4w_read_inode(w, tino, &in);
	if (r < 0)
		return r;
	if (LINUX_S_ISDIR(in.i_mode)) {
		l->why = "hardlink target is a directory";
		return -EPERM;
	}
	if (in.i_links_count >= EXT4W_LINK_MAX) {
		l->why = "too many links to the hardlink target";
		return -EMLINK;
	}
	r = ext4w_lookup(w, dino, base, &old);
	if (r == 0 && old == tino)
		return 0;
	if (r == 0)
		r = ext4w_remove(w, dino, base, old);
	else if (r == -ENOENT)
		r = 0;
	if (r == 0) {
		/* the removal may have dropped a link of the target */
		r = ext4w_read_inode(w, tino, &in);
	}
	if (r == 0 && in.i_links_count == 0) {
		l->why = "hardlink target was removed by this entry";
		return -ENOENT;
	}
	if (r == 0)
		r = ext4w_link(w, dino, base, tino, ext4w_ftype(in.i_mode));
	if (r == 0) {
		in.i_links_count++;
		r = ext4w_write_inode(w, tino, &in);
	}
	return r;
}

static unsigned entry_type(struct archive_entry *e)
{
	switch (archive_entry_filetype(e)) {
	case AE_IFREG: return LINUX_S_IFREG;
	case AE_IFDIR: return LINUX_S_IFDIR;
	case AE_IFLNK: return LINUX_S_IFLNK;
	case AE_IFCHR: return LINUX_S_IFCHR;
	case AE_IFBLK: return LINUX_S_IFBLK;
	case AE_IFIFO: return LINUX_S_IFIFO;
	case AE_IFSOCK: return LINUX_S_IFSOCK;
	default: return 0;
	}
}

/* Create (or for a directory over a directory, update) dir/base. */
static int apply_node(struct layer *l, ext2_ino_t dino, const char *base, struct archive_entry *e)
{
	struct ext4w *w = l->w;
	unsigned type = entry_type(e);
	if (!type) {
		l->why = "unsupported entry type";
		return -EINVAL;
	}
	if (type == LINUX_S_IFREG && (uint64_t)archive_entry_size(e) > w->opts.max_entry_size) {
		l->why = "file larger than the entry size limit";
		return -EFBIG;
	}
	const char *target = NULL;
	if (type == LINUX_S_IFLNK) {
		target = archive_entry_symlink(e);
		if (!target || !*target || strlen(target) >= w->fs->blocksize) {
			l->why = "symlink target empty or longer than a block";
			return -ENAMETOOLONG;
		}
	}
	ext2_ino_t ino;
	bool existing = false;
	int r = ext4w_lookup(w, dino, base, &ino);
	if (r == 0) {
		struct ext2_inode_large in;
		r = ext4w_read_inode(w, ino, &in);
		if (r < 0)
			return r;
		if (LINUX_S_ISDIR(in.i_mode) && type == LINUX_S_IFDIR)
			existing = true;	/* merge: keep the contents */
		else
			r = ext4w_remove(w, dino, base, ino);
	} else if (r == -ENOENT) {
		r = 0;
	}
	if (r == 0 && !existing)
		r = ext4w_make(w, dino, base, type | 0700, target, &ino);
	if (r == 0)
		r = set_meta(w, ino, e, type);
	if (r == 0 && type == LINUX_S_IFREG && archive_entry_size(e) > 0)
		r = ext4w_write_data(w, l->a, e, ino, &l->why);
	if (r == 0)
		r = set_xattrs(w, ino, e, existing);
	if (r == 0)
		touch(w, dino, base);
	return r;
}

static int apply_entry(struct layer *l, struct archive_entry *e, const char *path)
{
	struct ext4w *w = l->w;
	char norm[PATH_MAX];
	if (ext4w_path_normalise(path, norm, sizeof(norm)) < 0) {
		l->why = "path or name too long";
		return -ENAMETOOLONG;
	}
	int64_t mtime = archive_entry_mtime(e);
	const char *link = archive_entry_hardlink(e);
	if (!*norm) {
		/* The root itself: only its metadata can change. */
		if (link || entry_type(e) != LINUX_S_IFDIR) {
			l->why = "the root can only be a directory";
			return -EINVAL;
		}
		int r = set_meta(w, EXT2_ROOT_INO, e, LINUX_S_IFDIR);
		return r < 0 ? r : set_xattrs(w, EXT2_ROOT_INO, e, true);
	}
	const char *dir, *base;
	ext4w_path_split(norm, &dir, &base);
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
		return apply_whiteout(l, dir, base, mtime);
	ext2_ino_t dino;
	int r = ext4w_resolve_dir(w, dir, mtime, &dino);
	if (r < 0) {
		l->why = r == -ENOTDIR ? "a parent is not a directory" :
			 r == -ELOOP ? "too many symlinks in the parent path" : "cannot resolve the parent";
		return r;
	}
	if (link)
		r = apply_hardlink(l, dino, base, link);
	else
		r = apply_node(l, dino, base, e);
	return r;
}

/* After the image filled up: what this entry would need, so a rebuild can
 * be sized from the layers' real entries rather than a guess. Hardlinks
 * and whiteouts count as inodes too: over, never under. */
static void count_entry(struct ext4w *w, struct archive_entry *e, const char *path)
{
	struct ext4w_fill *f = &w->fill;
	uint64_t bs = w->fs->blocksize;
	const char *slash = strrchr(path, '/');
	const char *target = archive_entry_symlink(e);

	f->entries++;
	f->dirent_bytes += 8 + ((strlen(slash ? slash + 1 : path) + 3) & ~3ULL);
	if (archive_entry_hardlink(e))
		return;
	switch (entry_type(e)) {
	case LINUX_S_IFREG:
		f->blocks += ((uint64_t)MAX(archive_entry_size(e), 0) + bs - 1) / bs;
		break;
	case LINUX_S_IFDIR:
		f->blocks++;
		break;
	case LINUX_S_IFLNK:
		f->blocks += target && strlen(target) >= sizeof(((struct ext2_inode *)0)->i_block);
		break;
	}
}

/* Did entry e fail for want of room in the image (rather than, say, an
 * xattr too large for a block)? The allocator fails only when nothing
 * fits, so look at what is left. */
static enum ext4w_full full_for(struct ext4w *w, struct archive_entry *e)
{
	struct ext2_super_block *sb = w->fs->super;
	uint64_t bs = w->fs->blocksize, want = 256;	/* a directory or extent block, with slack */

	if (sb->s_free_inodes_count == 0)
		return EXT4W_FULL_INODES;
	if (entry_type(e) == LINUX_S_IFREG && !archive_entry_hardlink(e))
		want += ((uint64_t)MAX(archive_entry_size(e), 0) + bs - 1) / bs;
	return ext2fs_free_blocks_count(sb) < want ? EXT4W_FULL_BLOCKS : EXT4W_FITS;
}

static void fill_up(struct ext4w *w, enum ext4w_full what, const char *layer, const char *entry)
{
	struct ext4w_fill *f = &w->fill;
	struct ext2_super_block *sb = w->fs->super;

	f->what = what;
	f->inodes_used = sb->s_inodes_count - sb->s_free_inodes_count;
	f->blocks_used = ext2fs_blocks_count(sb) - ext2fs_free_blocks_count(sb);
	snprintf(f->msg, sizeof(f->msg), "layer %s: entry %s: image full: no free %s (%llu inodes, %llu MiB)",
		 layer, entry, what == EXT4W_FULL_INODES ? "inode" : "block",
		 (unsigned long long)sb->s_inodes_count,
		 (unsigned long long)(ext2fs_blocks_count(sb) * w->fs->blocksize >> 20));
}

/* libarchive stops at the tar end marker: read the stream to its end so
 * the last gzip member's CRC and length are checked and trailing garbage
 * is an error, as with gzip -t. */
static int drain(struct layer *l, const char *name, const char *last, struct err *err)
{
	for (;;) {
		const void *buf;
		ssize_t n = ext4w_dec_read(l->dec, &buf, &l->dec_err);
		if (n == 0)
			return 0;
		if (n < 0)
			return err_set(err, l->dec_err.code, "layer %s: after entry %s: %s", name,
				       *last ? last : "(none)", err_msg(&l->dec_err));
	}
}

int ext4w_apply_layer(struct ext4w *w, const struct ext4w_source *src, struct err *err)
{
	struct layer l = { .w = w };
	int r = ext4w_dec_new(src, &w->opts, &l.dec, err);
	if (r < 0)
		return r;
	ext4w_set_clear(&w->touched);
	ext4w_set_clear(&w->fresh);
	ext4w_invalidate_dir_cache(w);
	l.a = archive_read_new();
	archive_read_support_format_tar(l.a);
	/* Names are bytes: no charset conversion of ustar/gnu headers. */
	archive_read_set_format_option(l.a, "tar", "hdrcharset", "BINARY");
	char last[PATH_MAX] = "";
	if (archive_read_open(l.a, &l, NULL, layer_read, NULL) != ARCHIVE_OK) {
		if (l.dec_failed)
			r = err_set(err, l.dec_err.code, "layer %s: %s", src->name, err_msg(&l.dec_err));
		else if (ext4w_dec_total_out(l.dec) == 0)
			r = 0;	/* an empty layer */
		else
			r = err_set(err, EINVAL, "layer %s: not a tar archive: %s", src->name,
				    archive_error_string(l.a));
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		int ar = archive_read_next_header(l.a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			if (l.dec_failed)
				r = err_set(err, l.dec_err.code, "layer %s: after entry %s: %s", src->name,
					    *last ? last : "(none)", err_msg(&l.dec_err));
			else
				r = err_set(err, EINVAL, "layer %s: after entry %s: bad tar data: %s",
					    src->name, *last ? last : "(none)", archive_error_string(l.a));
			goto out;
		}
		const char *path = archive_entry_pathname(e);
		if (!path)
			path = archive_entry_pathname_utf8(e);
		if (!path) {
			r = err_set(err, EINVAL, "layer %s: after entry %s: entry without a name",
				    src->name, last);
			goto out;
		}
		snprintf(last, sizeof(last), "%s", path);
		l.why = NULL;
		w->stats.entries++;
		if (w->fill.what != EXT4W_FITS) {
			count_entry(w, e, path);
			continue;
		}
		r = apply_entry(&l, e, path);
		enum ext4w_full full = EXT4W_FITS;
		int host = r < 0 ? ext4w_io_error(w->fs->io) : 0;
		if (r == -ENOSPC && !host && !l.dec_failed)
			full = full_for(w, e);
		if (full != EXT4W_FITS) {
			fill_up(w, full, src->name, last);
			count_entry(w, e, path);
			r = 0;
		} else if (r < 0) {
			if (host)
				err_setx(err, host, "layer %s: entry %s: writing %s", src->name, last, w->path);
			else if (l.dec_failed)
				err_set(err, r, "layer %s: entry %s: %s", src->name, last, err_msg(&l.dec_err));
			else if (l.why)
				err_set(err, r, "layer %s: entry %s: %s", src->name, last, l.why);
			else if (r == -ENOSPC)	/* with room left: libext2fs's EA_NO_SPACE */
				err_set(err, r, "layer %s: entry %s: its xattrs do not fit in one block",
					src->name, last);
			else
				err_setx(err, r, "layer %s: entry %s", src->name, last);
			goto out;
		}
	}
	r = drain(&l, src->name, last, err);
out:
	w->stats.bytes_in += ext4w_dec_total_in(l.dec);
	w->stats.bytes_out += ext4w_dec_total_out(l.dec);
	archive_read_free(l.a);
	ext4w_dec_free(l.dec);
	return r;
}
