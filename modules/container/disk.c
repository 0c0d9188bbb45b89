/* Read a small file (/etc/passwd, /etc/group) out of an image disk with
 * libext2fs, read-only: no mount, no loop device. Symlinks are resolved
 * inside the image (ext2fs_namei_follow with the image's root). */
#include <errno.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "container/container.h"
#include "err.h"
#include "util.h"

static int ctr_ext2_err(errcode_t e)
{
	/* libext2fs codes that are plain errnos pass through; the rest are
	 * its own (corrupt metadata and the like). */
	return e > 0 && e < 4096 ? (int)e : EIO;
}

int ctr_disk_read_file(const char *disk, const char *path, size_t max, char **out,
		       struct err *err)
{
	ext2_filsys fs = NULL;
	ext2_file_t f = NULL;
	ext2_ino_t ino;
	errcode_t e;
	char *data = NULL;
	unsigned got = 0;
	int r = 0;

	*out = NULL;
	e = ext2fs_open(disk, 0, 0, 0, unix_io_manager, &fs);
	if (e)
		return err_set(err, ctr_ext2_err(e), "opening %s: %s", disk, error_message(e));
	e = ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino);
	if (e) {
		r = e == EXT2_ET_FILE_NOT_FOUND ? -ENOENT : -ctr_ext2_err(e);
		err_set(err, -r, "%s in %s: %s", path, disk, error_message(e));
		goto out;
	}
	e = ext2fs_file_open(fs, ino, 0, &f);
	if (e) {
		r = err_set(err, ctr_ext2_err(e), "%s in %s: %s", path, disk, error_message(e));
		goto out;
	}
	__u64 size = 0;
	ext2fs_file_get_lsize(f, &size);
	if (size > max) {
		r = err_set(err, EFBIG, "%s in %s: larger than %zu bytes", path, disk, max);
		goto out;
	}
	data = xmalloc(size + 1);
	e = ext2fs_file_read(f, data, (unsigned)size, &got);
	if (e) {
		r = err_set(err, ctr_ext2_err(e), "reading %s in %s: %s", path, disk, error_message(e));
		goto out;
	}
	data[got] = 0;
	*out = TAKE_PTR(data);
out:
	free(data);
	if (f)
		ext2fs_file_close(f);
	ext2fs_close_free(&fs);
	return r;
}
