/* Named volumes: names, creation (empty, sized, from a tar layer) checked
 * with e2fsck and debugfs, listing, the attach lock (one writer or many
 * readers), removal refused while attached, and failures that leave
 * nothing behind. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"
#include "volume/volume.h"

static int t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int t_sh(const char *fmt, ...)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return system(b.data);
}

static void t_names(void)
{
	t_ok(volume_name_ok("data"), "data");
	t_ok(volume_name_ok("a1_b.c-d"), "a1_b.c-d");
	t_ok(!volume_name_ok(""), "empty refused");
	t_ok(!volume_name_ok(".hidden"), "leading dot refused");
	t_ok(!volume_name_ok("-x"), "leading dash refused");
	t_ok(!volume_name_ok("a/b"), "slash refused");
	t_ok(!volume_name_ok(".."), ".. refused");
	char longname[VOLUME_MAX_NAME + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	t_ok(!volume_name_ok(longname), "over %d characters refused", VOLUME_MAX_NAME);
}

static void t_lifecycle(const char *root)
{
	struct err e = { 0 };
	struct volume v;
	char **names = NULL;
	int fd1, fd2;

	t_is(volume_create(root, "empty", 64u << 20, NULL, &e), 0, "create a 64 MiB volume");
	t_ok(volume_get(root, "empty", &v, &e) == 0 && v.size == 64u << 20, "... of that size");
	t_ok(v.used < v.size / 4, "... sparse (%llu bytes used)", (unsigned long long)v.used);
	t_is(t_sh("e2fsck -fn %s >/dev/null 2>&1", v.disk), 0, "... a clean ext4 (e2fsck -fn)");
	volume_free(&v);
	t_is(volume_create(root, "empty", 0, NULL, &e), -EEXIST, "creating it again: -EEXIST");
	t_is(volume_create(root, "bad/name", 0, NULL, &e), -EINVAL, "a bad name is refused");

	_cleanup_free_ char *src = xasprintf("%s/src", root), *tar = xasprintf("%s/l.tar", root);
	mkdir_p_at(AT_FDCWD, src, 0755);
	_cleanup_free_ char *f = xasprintf("%s/hello.txt", src);
	write_file_atomic_at(AT_FDCWD, f, "hi there\n", 9, 0644);
	t_is(t_sh("tar -C %s -cf %s hello.txt", src, tar), 0, "a tar layer");
	t_is(volume_create(root, "seeded", 0, tar, &e), 0, "create a volume from it");
	t_ok(volume_get(root, "seeded", &v, &e) == 0 && v.size == VOLUME_DEFAULT_SIZE, "... of the default size");
	_cleanup_free_ char *out = xasprintf("%s/out", root);
	t_sh("debugfs -R 'dump /hello.txt %s' %s >/dev/null 2>&1", out, v.disk);
	_cleanup_free_ char *got = NULL;
	size_t len;
	t_ok(read_file_at(AT_FDCWD, out, 100, &got, &len) == 0 && len == 9 && memcmp(got, "hi there\n", 9) == 0,
	     "... holding the layer's file");

	/* One writer or many readers. */
	t_is(volume_lock(v.disk, true, &fd1, &e), 0, "read-only attach");
	t_is(volume_lock(v.disk, true, &fd2, &e), 0, "a second read-only attach");
	close(fd2);
	t_is(volume_lock(v.disk, false, &fd2, &e), -EBUSY, "read-write attach while read by another: -EBUSY");
	t_ok(strstr(err_msg(&e), "in use") != NULL, "... saying it is in use");
	t_ok(volume_in_use(v.disk), "in use");
	t_is(volume_remove(root, "seeded", &e), -EBUSY, "removal while attached: -EBUSY");
	close(fd1);
	t_is(volume_lock(v.disk, false, &fd1, &e), 0, "read-write attach");
	t_is(volume_lock(v.disk, true, &fd2, &e), -EBUSY, "read-only attach while written: -EBUSY");
	close(fd1);
	t_ok(!volume_in_use(v.disk), "free again");
	volume_free(&v);

	t_is(volume_list(root, &names, &e), 0, "list");
	t_streq(names && names[0] ? names[0] : "", "empty", "... sorted: empty");
	t_streq(names && names[1] ? names[1] : "", "seeded", "... seeded");
	t_ok(names && !names[2], "... and no temp directories");
	strv_free(names);

	/* A layer that is no tar: nothing is left. */
	_cleanup_free_ char *junk = xasprintf("%s/junk.tar", root);
	write_file_atomic_at(AT_FDCWD, junk, "not a tar at all, not at all", 28, 0644);
	t_ok(volume_create(root, "broken", 0, junk, &e) < 0, "a volume from a bad layer fails");
	t_ok(strstr(err_msg(&e), "broken") != NULL, "... naming the volume (%s)", err_msg(&e));
	t_is(volume_get(root, "broken", &v, &e), -ENOENT, "... and does not exist");
	t_is(t_sh("test -z \"$(ls -A %s/volumes | grep -v -e empty -e seeded)\"", root), 0,
	     "... and left no temp directory");

	t_is(volume_remove(root, "seeded", &e), 0, "remove");
	t_is(volume_get(root, "seeded", &v, &e), -ENOENT, "... gone");
	t_ok(strstr(err_msg(&e), "no such volume: seeded") != NULL, "... no such volume");
	t_is(volume_remove(root, "seeded", &e), -ENOENT, "removing it again: -ENOENT");
}

int main(void)
{
	char dir[] = "/tmp/ucrt-test-volume.XXXXXX";

	t_names();
	if (!mkdtemp(dir))
		return t_done();
	t_lifecycle(dir);
	t_sh("rm -rf %s", dir);
	return t_done();
}
