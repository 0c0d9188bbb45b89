/* An image's ext4 disk unpacked into a directory (`ucrt bundle create`
 * without --disk): the tree that the image's containers see as their
 * root, for runtimes and schedulers that want a directory. libext2fs
 * reads the disk without mounting it. Everything on the host side is made
 * relative to an open directory with O_NOFOLLOW/AT_SYMLINK_NOFOLLOW and
 * O_EXCL, so a crafted disk (names with '/', "..", a symlink planted
 * before a file of the same name, a directory reached twice) cannot write
 * outside dir. Extended attributes (file capabilities) are not copied. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>

#include "container/container.h"
#include "err.h"
#include "util.h"

#define EXTRACT_MAX_DEPTH 256
#define EXTRACT_BUF (256u << 10)

struct extract_ent {
	char *name;
	ext2_ino_t ino;
};

struct extract_link {
	ext2_ino_t ino;
	char *path;		/* relative to the root: made here, no symlinks on it */
};

struct extract {
	ext2_filsys fs;
	struct err *err;
	int rootfd;
	char *buf;
	struct extract_link *links;
	size_t nlinks;
	ext2_ino_t *dirs;	/* directories entered: a second visit is a loop */
	size_t ndirs;
	struct extract_ent *ents;	/* scratch of the directory being listed */
	size_t nents;
};

static int extract_fail(struct extract *x, errcode_t e, const char *what, const char *name)
{
	int code = e > 0 && e < 4096 ? (int)e : EIO;

	return err_set(x->err, code, "%s %s: %s", what, name, error_message(e));
}

static int extract_list_cb(struct ext2_dir_entry *de, int offset, int blocksize, char *b, void *priv)
{
	struct extract *x = priv;
	size_t len = ext2fs_dirent_name_len(de);

	if (!de->inode || (len == 1 && de->name[0] == '.') ||
	    (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	x->ents = xrealloc(x->ents, (x->nents + 1) * sizeof(*x->ents));
	x->ents[x->nents++] = (struct extract_ent){ .name = xstrndup(de->name, len), .ino = de->inode };
	return 0;
}

static void extract_meta(int dirfd, const char *name, const struct ext2_inode *in, bool link)
{
	struct timespec ts[2] = { { .tv_sec = in->i_atime }, { .tv_sec = in->i_mtime } };
	int fl = link ? AT_SYMLINK_NOFOLLOW : 0;

	/* Owner first: chown drops set-id bits, which chmod puts back. */
	fchownat(dirfd, name, inode_uid(*in), inode_gid(*in), AT_SYMLINK_NOFOLLOW);
	if (!link)
		fchmodat(dirfd, name, in->i_mode & 07777, 0);
	utimensat(dirfd, name, ts, fl);
}

static int extract_file(struct extract *x, int dirfd, const char *name, ext2_ino_t ino,
			const struct ext2_inode *in)
{
	ext2_file_t f = NULL;
	errcode_t e;
	int fd, r = 0;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_setx(x->err, errno, "creating %s", name);
	e = ext2fs_file_open(x->fs, ino, 0, &f);
	if (e) {
		r = extract_fail(x, e, "opening", name);
		goto out;
	}
	for (;;) {
		unsigned got = 0;

		e = ext2fs_file_read(f, x->buf, EXTRACT_BUF, &got);
		if (e) {
			r = extract_fail(x, e, "reading", name);
			goto out;
		}
		if (!got)
			break;
		if ((r = write_all(fd, x->buf, got)) < 0) {
			err_setx(x->err, r, "writing %s", name);
			goto out;
		}
	}
out:
	if (f)
		ext2fs_file_close(f);
	close(fd);
	return r;
}

static int extract_symlink(struct extract *x, int dirfd, const char *name, ext2_ino_t ino,
			   struct ext2_inode *in)
{
	size_t len = EXT2_I_SIZE(in);
	_cleanup_free_ char *target = NULL;
	ext2_file_t f = NULL;
	unsigned got = 0;
	errcode_t e;

	if (len == 0 || len >= 4096)
		return err_set(x->err, EINVAL, "symlink %s: bad length %zu", name, len);
	target = xcalloc(1, len + 1);
	if (ext2fs_is_fast_symlink(in)) {
		if (len > sizeof(in->i_block))
			return err_set(x->err, EINVAL, "symlink %s: bad length %zu", name, len);
		memcpy(target, in->i_block, len);
	} else {
		e = ext2fs_file_open(x->fs, ino, 0, &f);
		if (!e)
			e = ext2fs_file_read(f, target, (unsigned)len, &got);
		if (f)
			ext2fs_file_close(f);
		if (e || got != len)
			return e ? extract_fail(x, e, "reading symlink", name)
				 : err_set(x->err, EIO, "symlink %s: short read", name);
	}
	if (strlen(target) != len)
		return err_set(x->err, EINVAL, "symlink %s: NUL in its target", name);
	if (symlinkat(target, dirfd, name) < 0)
		return err_setx(x->err, errno, "symlink %s", name);
	return 0;
}

static int extract_node(int dirfd, const char *name, const struct ext2_inode *in)
{
	uint32_t b0 = in->i_block[0], b1 = in->i_block[1];
	unsigned maj, min;

	if (b0) {		/* the old 8:8 encoding */
		maj = (b0 >> 8) & 0xff;
		min = b0 & 0xff;
	} else {
		maj = (b1 & 0xfff00) >> 8;
		min = (b1 & 0xff) | ((b1 >> 12) & 0xfff00);
	}
	return mknodat(dirfd, name, in->i_mode & (S_IFMT | 07777), makedev(maj, min)) < 0 ? -errno : 0;
}

static int extract_dir(struct extract *x, int dirfd, const char *rel, ext2_ino_t dino, unsigned depth);

static int extract_entry(struct extract *x, int dirfd, const char *rel, const char *name,
			 ext2_ino_t ino, unsigned depth)
{
	bool top = !rel[0];
	_cleanup_free_ char *path = top ? xstrdup(name) : xasprintf("%s/%s", rel, name);

	struct ext2_inode in;
	errcode_t e;
	int r = 0;

	if (!name[0] || strchr(name, '/'))
		return err_set(x->err, EINVAL, "a bad file name in the image: %.80s", name);
	/* The ext4 writer's own lost+found is no part of the image. */
	if (top && strcmp(name, "lost+found") == 0)
		return 0;
	if ((e = ext2fs_read_inode(x->fs, ino, &in)))
		return extract_fail(x, e, "reading the inode of", name);
	if (!LINUX_S_ISDIR(in.i_mode) && in.i_links_count > 1) {
		for (size_t i = 0; i < x->nlinks; i++) {
			if (x->links[i].ino == ino)
				return linkat(x->rootfd, x->links[i].path, dirfd, name, 0) < 0
					       ? err_setx(x->err, errno, "hard link %s", name) : 0;
		}
	}
	switch (in.i_mode & LINUX_S_IFMT) {
	case LINUX_S_IFDIR: {
		int sub;

		if (depth >= EXTRACT_MAX_DEPTH)
			return err_set(x->err, ELOOP, "%s: directories nested too deep", name);
		if (mkdirat(dirfd, name, 0700) < 0)
			return err_setx(x->err, errno, "mkdir %s", name);
		sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return err_setx(x->err, errno, "%s", name);
		r = extract_dir(x, sub, path, ino, depth + 1);
		close(sub);
		if (r < 0)
			return err_wrap(x->err, "%s", name);
		break;
	}
	case LINUX_S_IFREG:
		r = extract_file(x, dirfd, name, ino, &in);
		break;
	case LINUX_S_IFLNK:
		r = extract_symlink(x, dirfd, name, ino, &in);
		break;
	case LINUX_S_IFCHR:
	case LINUX_S_IFBLK:
	case LINUX_S_IFIFO:
	case LINUX_S_IFSOCK:
		if ((r = extract_node(dirfd, name, &in)) < 0)
			err_setx(x->err, r, "mknod %s", name);
		break;
	default:
		return err_set(x->err, EINVAL, "%s: unknown file type %o", name, in.i_mode & LINUX_S_IFMT);
	}
	if (r < 0)
		return r;
	extract_meta(dirfd, name, &in, LINUX_S_ISLNK(in.i_mode));
	if (!LINUX_S_ISDIR(in.i_mode) && in.i_links_count > 1) {
		x->links = xrealloc(x->links, (x->nlinks + 1) * sizeof(*x->links));
		x->links[x->nlinks++] = (struct extract_link){ .ino = ino, .path = TAKE_PTR(path) };
	}
	return 0;
}

static int extract_dir(struct extract *x, int dirfd, const char *rel, ext2_ino_t dino, unsigned depth)
{
	struct extract_ent *ents;
	size_t n;
	errcode_t e;
	int r = 0;

	for (size_t i = 0; i < x->ndirs; i++) {
		if (x->dirs[i] == dino)
			return err_set(x->err, ELOOP, "a directory of the image is linked twice");
	}
	x->dirs = xrealloc(x->dirs, (x->ndirs + 1) * sizeof(*x->dirs));
	x->dirs[x->ndirs++] = dino;
	x->ents = NULL;
	x->nents = 0;
	e = ext2fs_dir_iterate(x->fs, dino, 0, NULL, extract_list_cb, x);
	ents = x->ents;
	n = x->nents;
	x->ents = NULL;
	if (e)
		r = extract_fail(x, e, "listing", "a directory");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = extract_entry(x, dirfd, rel, ents[i].name, ents[i].ino, depth);
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	return r;
}

int ctr_disk_extract(const char *disk, const char *dir, struct err *err)
{
	struct extract x = { .err = err };
	struct ext2_inode root;
	errcode_t e;
	int dfd = -1, r;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_setx(err, errno, "creating %s", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return err_setx(err, errno, "%s", dir);
	e = ext2fs_open(disk, 0, 0, 0, unix_io_manager, &x.fs);
	if (e) {
		close(dfd);
		return err_set(err, e > 0 && e < 4096 ? (int)e : EIO, "opening %s: %s", disk, error_message(e));
	}
	x.buf = xmalloc(EXTRACT_BUF);
	x.rootfd = dfd;
	r = extract_dir(&x, dfd, "", EXT2_ROOT_INO, 0);
	if (r == 0 && ext2fs_read_inode(x.fs, EXT2_ROOT_INO, &root) == 0) {
		struct timespec ts[2] = { { .tv_sec = root.i_atime }, { .tv_sec = root.i_mtime } };
		fchown(dfd, inode_uid(root), inode_gid(root));
		fchmod(dfd, root.i_mode & 07777);
		futimens(dfd, ts);
	}
	if (r < 0)
		err_wrap(err, "unpacking %s into %s", disk, dir);
	for (size_t i = 0; i < x.nlinks; i++) {
		free(x.links[i].path);
	}
	free(x.links);
	free(x.dirs);
	free(x.buf);
	ext2fs_close_free(&x.fs);
	close(dfd);
	return r;
}
