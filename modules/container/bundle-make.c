/* `ucrt bundle create IMAGE DIR`: an OCI runtime-spec bundle from an
 * image, for schedulers that take a bundle (Slurm's --container) and for
 * any OCI runtime. config.json carries the image's process (entrypoint +
 * cmd, env, working dir, user resolved to numbers) and the usual kernel
 * filesystems, so the bundle also runs under runc; the root is read-only
 * by default because a scheduler starts many tasks on one bundle at once.
 * The root is either the image's tree unpacked (ucrt shares it over 9p)
 * or, with as_disk, the image's ext4 disk itself (hard-linked from the
 * store when it can be, else copied), which ucrt-oci attaches as a
 * snapshot: Slurm passes root.path through untouched either way. Made
 * under temporary names and renamed into place: an interrupted create
 * leaves no bundle that looks complete. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "util.h"

#define MK_ROOTFS "rootfs"
#define MK_PARTIAL ".rootfs.partial"

static void mk_mount(struct json_writer *w, const char *dst, const char *type, const char *src,
		     const char *const *opts)
{
	jw_obj_begin(w);
	jw_key(w, "destination");
	jw_str(w, dst);
	jw_key(w, "type");
	jw_str(w, type);
	jw_key(w, "source");
	jw_str(w, src);
	jw_key(w, "options");
	jw_arr_begin(w);
	for (; opts && *opts; opts++)
		jw_str(w, *opts);
	jw_arr_end(w);
	jw_obj_end(w);
}

char *ctr_bundle_config_json(const struct ctr_bundle_make *o)
{
	static const char *const proc_o[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const dev_o[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
	static const char *const pts_o[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
					     "mode=0620", NULL };
	static const char *const shm_o[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
	static const char *const sys_o[] = { "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const tmp_o[] = { "nosuid", "nodev", "mode=1777", NULL };
	static const char *const ns[] = { "pid", "ipc", "uts", "mount" };
	const struct ctr_spec *s = o->spec;
	struct buf b = BUF_INIT;
	struct json_writer w;

	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	jw_key(&w, "ociVersion");
	jw_str(&w, "1.0.2");
	jw_key(&w, "process");
	jw_obj_begin(&w);
	jw_key(&w, "terminal");
	jw_bool(&w, false);
	jw_key(&w, "user");
	jw_obj_begin(&w);
	jw_key(&w, "uid");
	jw_uint(&w, s->uid);
	jw_key(&w, "gid");
	jw_uint(&w, s->gid);
	jw_obj_end(&w);
	jw_key(&w, "args");
	jw_arr_begin(&w);
	for (char **a = s->argv; a && *a; a++)
		jw_str(&w, *a);
	jw_arr_end(&w);
	jw_key(&w, "env");
	jw_arr_begin(&w);
	for (char **e = s->env; e && *e; e++)
		jw_str(&w, *e);
	jw_arr_end(&w);
	jw_key(&w, "cwd");
	jw_str(&w, s->cwd && s->cwd[0] ? s->cwd : "/");
	jw_obj_end(&w);
	jw_key(&w, "root");
	jw_obj_begin(&w);
	jw_key(&w, "path");
	jw_str(&w, MK_ROOTFS);
	jw_key(&w, "readonly");
	jw_bool(&w, o->as_disk || !o->writable);
	jw_obj_end(&w);
	jw_key(&w, "mounts");
	jw_arr_begin(&w);
	mk_mount(&w, "/proc", "proc", "proc", proc_o);
	mk_mount(&w, "/dev", "tmpfs", "tmpfs", dev_o);
	mk_mount(&w, "/dev/pts", "devpts", "devpts", pts_o);
	mk_mount(&w, "/dev/shm", "tmpfs", "shm", shm_o);
	mk_mount(&w, "/sys", "sysfs", "sysfs", sys_o);
	/* A read-only root still needs somewhere to write (and Slurm binds
	 * its batch script and output files under /tmp/slurm). */
	mk_mount(&w, "/tmp", "tmpfs", "tmpfs", tmp_o);
	jw_arr_end(&w);
	jw_key(&w, "annotations");
	jw_obj_begin(&w);
	if (o->image_ref) {
		jw_key(&w, "org.opencontainers.image.ref.name");
		jw_str(&w, o->image_ref);
	}
	if (o->image_id && o->image_id[0]) {
		jw_key(&w, "io.github.ucrt.image-id");
		jw_str(&w, o->image_id);
	}
	jw_key(&w, "io.github.ucrt.rootfs");
	jw_str(&w, o->as_disk ? "ext4" : "directory");
	jw_obj_end(&w);
	jw_key(&w, "linux");
	jw_obj_begin(&w);
	jw_key(&w, "namespaces");
	jw_arr_begin(&w);
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		jw_obj_begin(&w);
		jw_key(&w, "type");
		jw_str(&w, ns[i]);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	if (o->cpus || o->mem_mib) {
		jw_key(&w, "resources");
		jw_obj_begin(&w);
		if (o->cpus) {
			jw_key(&w, "cpu");
			jw_obj_begin(&w);
			jw_key(&w, "quota");
			jw_uint(&w, (uint64_t)o->cpus * 100000u);
			jw_key(&w, "period");
			jw_uint(&w, 100000u);
			jw_obj_end(&w);
		}
		if (o->mem_mib) {
			jw_key(&w, "memory");
			jw_obj_begin(&w);
			jw_key(&w, "limit");
			jw_uint(&w, (uint64_t)o->mem_mib << 20);
			jw_obj_end(&w);
		}
		jw_obj_end(&w);
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	buf_putc(&b, 0);
	return buf_steal(&b);
}

static int mk_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void mk_rm_tree(const char *path)
{
	nftw(path, mk_rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Copy src to dst (new), with FICLONE when the filesystem shares
 * extents, else by reading. */
static int mk_copy(const char *src, const char *dst, struct err *err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	struct stat st;
	off_t left;

	if (in < 0 || fstat(in, &st) < 0)
		return err_setx(err, errno, "%s", src);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (out < 0)
		return err_setx(err, errno, "%s", dst);
	for (left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)MIN(left, (off_t)1 << 30), 0);
		if (n <= 0)
			return err_setx(err, n < 0 ? errno : EIO, "copying %s to %s", src, dst);
		left -= n;
	}
	return fsync(out) < 0 ? err_setx(err, errno, "%s", dst) : 0;
}

int ctr_bundle_make(const struct ctr_bundle_make *o, struct err *err)
{
	_cleanup_free_ char *root = xasprintf("%s/" MK_ROOTFS, o->dir);
	_cleanup_free_ char *partial = xasprintf("%s/" MK_PARTIAL, o->dir);
	_cleanup_free_ char *cfgpath = xasprintf("%s/config.json", o->dir);
	_cleanup_free_ char *json = NULL;
	struct stat st;
	bool made_dir = false;
	int r;

	if (!o->spec || !o->spec->argv || !o->spec->argv[0])
		return err_set(err, EINVAL, "the image has no command to run: give one");
	if (mkdir(o->dir, 0755) == 0)
		made_dir = true;
	else if (errno != EEXIST)
		return err_setx(err, errno, "creating %s", o->dir);
	if (lstat(root, &st) == 0 || lstat(cfgpath, &st) == 0)
		return err_set(err, EEXIST, "%s already holds a bundle (rootfs or config.json)", o->dir);
	mk_rm_tree(partial);	/* what an interrupted create left */
	if (o->as_disk) {
		/* The store's disk is never written (ucrt attaches it as a
		 * snapshot): a hard link shares it without a copy. */
		if (link(o->disk, partial) < 0)
			r = errno == EXDEV || errno == EPERM || errno == EMLINK ? mk_copy(o->disk, partial, err)
										 : err_setx(err, errno, "linking %s", o->disk);
		else
			r = 0;
	} else {
		r = ctr_disk_extract(o->disk, partial, err);
	}
	if (r == 0 && rename(partial, root) < 0)
		r = err_setx(err, errno, "renaming %s", partial);
	if (r == 0) {
		json = ctr_bundle_config_json(o);
		r = write_file_atomic_at(AT_FDCWD, cfgpath, json, strlen(json), 0644);
		if (r < 0)
			err_setx(err, r, "writing %s", cfgpath);
	}
	if (r < 0) {
		mk_rm_tree(partial);
		if (lstat(cfgpath, &st) < 0)
			mk_rm_tree(root);
		if (made_dir)
			rmdir(o->dir);
	}
	return r;
}
