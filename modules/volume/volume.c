/* Named volumes in the store; see volume.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "ext4/ext4.h"
#include "str.h"
#include "util.h"
#include "volume/volume.h"

bool volume_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > VOLUME_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

static char *volume_dir(const char *root, const char *name)
{
	return name ? xasprintf("%s/volumes/%s", root, name) : xasprintf("%s/volumes", root);
}

static ssize_t volume_read_fd(void *arg, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(*(int *)arg, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* The ext4 image at path, empty or holding one layer. */
static int volume_format(const char *path, uint64_t size, const char *from_tar, struct err *err)
{
	struct ext4w *w;
	int r = ext4w_create(path, size, NULL, &w, err);

	if (r < 0)
		return r;
	if (from_tar) {
		int fd = open(from_tar, O_RDONLY | O_CLOEXEC);
		struct ext4w_source src = { .read = volume_read_fd, .arg = &fd, .name = from_tar };

		if (fd < 0) {
			ext4w_abort(w);
			return err_setx(err, errno, "%s", from_tar);
		}
		r = ext4w_apply_layer(w, &src, err);
		close(fd);
		if (r < 0) {
			ext4w_abort(w);
			return r;
		}
	}
	return ext4w_finish(w, err);
}

int volume_create(const char *root, const char *name, uint64_t size, const char *from_tar,
		  struct err *err)
{
	_cleanup_free_ char *top = volume_dir(root, NULL);
	_cleanup_free_ char *dir = NULL, *tmp = NULL, *disk = NULL;
	struct stat st;
	int r;

	if (!volume_name_ok(name))
		return err_set(err, EINVAL, "volume name \"%s\": use letters, digits and _.- (not first), "
			       "at most %d characters", name ? name : "", VOLUME_MAX_NAME);
	dir = volume_dir(root, name);
	if (stat(dir, &st) == 0)
		return err_set(err, EEXIST, "volume %s already exists", name);
	r = mkdir_p_at(AT_FDCWD, top, 0700);
	if (r < 0)
		return err_setx(err, r, "creating %s", top);
	tmp = xasprintf("%s/.tmp-%s-XXXXXX", top, name);
	if (!mkdtemp(tmp))
		return err_setx(err, errno, "creating a directory in %s", top);
	disk = xasprintf("%s/disk.ext4", tmp);
	r = volume_format(disk, size ? size : VOLUME_DEFAULT_SIZE, from_tar, err);
	/* rename(2) of a directory onto an existing one fails unless that
	 * one is empty, and ours never is: two creators cannot both win. */
	if (r == 0 && rename(tmp, dir) < 0)
		r = errno == ENOTEMPTY || errno == EEXIST ? err_set(err, EEXIST, "volume %s already exists", name)
							  : err_setx(err, errno, "renaming %s", tmp);
	if (r < 0) {
		unlink(disk);
		rmdir(tmp);
		return err_wrap(err, "creating volume %s", name);
	}
	return 0;
}

int volume_get(const char *root, const char *name, struct volume *out, struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (!volume_name_ok(name))
		return err_set(err, EINVAL, "bad volume name \"%s\"", name ? name : "");
	dir = volume_dir(root, name);
	out->disk = xasprintf("%s/disk.ext4", dir);
	if (stat(out->disk, &st) < 0) {
		int e = errno;
		volume_free(out);
		return e == ENOENT ? err_set(err, ENOENT, "no such volume: %s", name)
				   : err_setx(err, e, "volume %s", name);
	}
	out->name = xstrdup(name);
	out->size = (uint64_t)st.st_size;
	out->used = (uint64_t)st.st_blocks * 512;
	out->created = st.st_mtim.tv_sec;
	if (stat(dir, &st) == 0)
		out->created = st.st_mtim.tv_sec;
	return 0;
}

void volume_free(struct volume *v)
{
	free(v->name);
	free(v->disk);
	memset(v, 0, sizeof(*v));
}

static int volume_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int volume_list(const char *root, char ***names, struct err *err)
{
	_cleanup_free_ char *top = volume_dir(root, NULL);
	DIR *d = opendir(top);
	struct dirent *e;
	char **v = NULL;

	*names = NULL;
	if (!d)
		return errno == ENOENT ? 0 : err_setx(err, errno, "%s", top);
	while ((e = readdir(d))) {
		if (volume_name_ok(e->d_name))
			strv_push(&v, e->d_name);
	}
	closedir(d);
	if (v)
		qsort(v, strv_len(v), sizeof(*v), volume_cmp);
	*names = v;
	return 0;
}

int volume_lock(const char *disk, bool readonly, int *fd, struct err *err)
{
	int f = open(disk, O_RDONLY | O_CLOEXEC);

	*fd = -1;
	if (f < 0)
		return err_setx(err, errno, "%s", disk);
	if (flock(f, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int e = errno;
		close(f);
		if (e != EWOULDBLOCK)
			return err_setx(err, e, "locking %s", disk);
		return err_set(err, EBUSY, "%s is in use%s by another container (an ext4 disk is "
			       "attached read-write by one VM at a time, or read-only by many)", disk,
			       readonly ? " read-write" : "");
	}
	*fd = f;
	return 0;
}

bool volume_in_use(const char *disk)
{
	int f = open(disk, O_RDONLY | O_CLOEXEC);
	bool busy;

	if (f < 0)
		return false;
	busy = flock(f, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(f);
	return busy;
}

int volume_remove(const char *root, const char *name, struct err *err)
{
	struct volume v;
	int r = volume_get(root, name, &v, err);
	int fd;

	if (r < 0)
		return r;
	/* Hold the lock across the unlink: nobody attaches in between. */
	r = volume_lock(v.disk, false, &fd, err);
	if (r == -EBUSY)
		err_set(err, EBUSY, "volume %s is in use by a container", name);
	if (r == 0) {
		_cleanup_free_ char *dir = volume_dir(root, name);
		if (unlink(v.disk) < 0 || rmdir(dir) < 0)
			r = err_setx(err, errno, "removing volume %s", name);
		close(fd);
	}
	volume_free(&v);
	return r;
}
