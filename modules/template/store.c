/* Templates on disk: find, list, remove, prune (layout in template.h). */
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
#include "json.h"
#include "log.h"
#include "sha256.h"
#include "str.h"
#include "template-internal.h"
#include "util.h"

static int tmpl_rm_tree_at(int dfd, const char *name);

char *tmpl_ram_dir(const char *root)
{
	const char *env = getenv("UCRT_TEMPLATE_DIR");
	char hex[SHA256_HEX_LEN + 1];

	if (env && *env)
		return xstrdup(env);
	/* One directory per store: two stores never share a key's file. */
	sha256_hex(root, strlen(root), hex);
	hex[12] = 0;
	return xasprintf("%s/%s%s", TMPL_SHM, TMPL_SHM_PREFIX, hex);
}

/* A RAM directory names its store in a file "root", so that the RAM of a
 * store that was deleted (a scratch root) does not stay on tmpfs until
 * the next boot: every build sweeps them. */
void tmpl_ram_dir_claim(const char *ramdir, const char *root)
{
	_cleanup_free_ char *p = xasprintf("%s/root", ramdir);

	if (write_file_atomic_at(AT_FDCWD, p, root, strlen(root), 0600) < 0)
		log_debug("template: cannot record the store of %s", ramdir);
}

unsigned tmpl_sweep(const char *shm, const char *self)
{
	DIR *d = opendir(shm);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		_cleanup_free_ char *dir = NULL, *rootf = NULL, *root = NULL, *tdir = NULL;
		size_t len;
		struct stat st;

		if (strncmp(e->d_name, TMPL_SHM_PREFIX, strlen(TMPL_SHM_PREFIX)) != 0)
			continue;
		dir = xasprintf("%s/%s", shm, e->d_name);
		rootf = xasprintf("%s/root", dir);
		/* No record: another ucrt's, or being made: left alone. */
		if (read_file_at(AT_FDCWD, rootf, 4096, &root, &len) < 0 || len == 0 || root[0] != '/')
			continue;
		if (self && strcmp(root, self) == 0)
			continue;
		tdir = xasprintf("%s/templates", root);
		if (stat(tdir, &st) == 0 || errno != ENOENT)
			continue;
		{
			int dfd = open(shm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0 && tmpl_rm_tree_at(dfd, e->d_name) == 0)
				n++;
			if (dfd >= 0)
				close(dfd);
		}
	}
	closedir(d);
	return n;
}

int tmpl_dir_open(const char *root, bool create)
{
	_cleanup_free_ char *dir = xasprintf("%s/templates", root);
	int fd;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void tmpl_files_release(struct tmpl_files *f)
{
	free(f->state);
	free(f->ram);
	f->state = f->ram = NULL;
}

int tmpl_find(const char *root, const char *key, struct tmpl_files *f)
{
	char link[4096];
	struct stat st;
	ssize_t n;
	_cleanup_free_ char *state = NULL, *ram = NULL;

	*f = (struct tmpl_files){ 0 };
	if (!tmpl_key_ok(key))
		return -EINVAL;
	state = xasprintf("%s/templates/%s/state", root, key);
	ram = xasprintf("%s/templates/%s/ram", root, key);
	if (stat(state, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return -ENOENT;
	n = readlink(ram, link, sizeof(link) - 1);
	if (n <= 0)
		return -ENOENT;
	link[n] = 0;
	if (stat(link, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;	/* tmpfs emptied by a reboot: stale */
	f->state = TAKE_PTR(state);
	f->ram = xstrdup(link);
	return 0;
}

static int tmpl_rm_tree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? (unlinkat(dfd, name, 0) < 0 ? -errno : 0) : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_DIR)
			tmpl_rm_tree_at(dirfd(d), e->d_name);
		else
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* The RAM file first (it is what takes memory), then the directory. */
int tmpl_dir_remove_path(int tfd, const char *name)
{
	char link[4096];
	_cleanup_free_ char *ram = xasprintf("%s/ram", name);
	ssize_t n = readlinkat(tfd, ram, link, sizeof(link) - 1);

	if (n > 0) {
		link[n] = 0;
		if (unlink(link) < 0 && errno != ENOENT)
			log_warn("removing %s: %s", link, strerror(errno));
	}
	return tmpl_rm_tree_at(tfd, name);
}

static bool tmpl_id_same(const struct json_doc *d, const char *pathkey, const char *idkey)
{
	_cleanup_free_ char *path = json_str(d, json_get(d, 0, pathkey));
	_cleanup_free_ char *id = json_str(d, json_get(d, 0, idkey));
	char now[128];

	if (!path || !id)
		return !path && !id;	/* not used (no initramfs) */
	if (tmpl_identity(path, now, sizeof(now)) < 0)
		return false;
	return strcmp(now, id) == 0;
}

static uint64_t tmpl_alloc_bytes(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
}

/* Fill one entry from templates/<name>; -ENOENT for what is not a template. */
static int tmpl_info_read(const char *root, int tfd, const char *name, struct tmpl_info *t)
{
	_cleanup_free_ char *meta = NULL, *mpath = xasprintf("%s/meta.json", name);
	struct json_doc d = { 0 };
	struct tmpl_files f;
	size_t len;
	int64_t v;
	bool b;

	memset(t, 0, sizeof(*t));
	if (!tmpl_key_ok(name))
		return -ENOENT;
	memcpy(t->key, name, TMPL_KEY_LEN + 1);	/* tmpl_key_ok: 64 chars */
	if (read_file_at(tfd, mpath, 64 * 1024, &meta, &len) < 0 || json_parse(&d, meta, len, 256) < 0) {
		t->stale = true;	/* half-written or damaged */
		return 0;
	}
	t->qemu = json_str(&d, json_get(&d, 0, "qemu"));
	t->kernel = json_str(&d, json_get(&d, 0, "kernel"));
	t->initrd = json_str(&d, json_get(&d, 0, "initrd"));
	if (json_int(&d, json_get(&d, 0, "created"), &v) == 0)
		t->created = v;
	if (json_int(&d, json_get(&d, 0, "cpus"), &v) == 0 && v > 0 && v < 1024)
		t->shape.cpus = (unsigned)v;
	if (json_int(&d, json_get(&d, 0, "mem_mib"), &v) == 0 && v > 0 && v < (1 << 24))
		t->shape.mem_mib = (unsigned)v;
	if (json_int(&d, json_get(&d, 0, "nshares"), &v) == 0 && v >= 0 && v <= VM_MAX_SHARES)
		t->shape.nshares = (unsigned)v;
	if (json_bool(&d, json_get(&d, 0, "net"), &b) == 0)
		t->shape.net = b;
	t->stale = !tmpl_id_same(&d, "qemu", "qemu_id") || !tmpl_id_same(&d, "kernel", "kernel_id") ||
		   !tmpl_id_same(&d, "initrd", "initrd_id") || !tmpl_id_same(&d, "init", "init_id");
	json_free(&d);
	if (tmpl_find(root, name, &f) < 0) {
		t->stale = true;
	} else {
		t->ram_bytes = tmpl_alloc_bytes(f.ram);
		struct stat st;
		if (stat(f.state, &st) == 0)
			t->state_bytes = (uint64_t)st.st_size;
		tmpl_files_release(&f);
	}
	return 0;
}

void tmpl_list_free(struct tmpl_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].qemu);
		free(v[i].kernel);
		free(v[i].initrd);
	}
	free(v);
}

int tmpl_list(const char *root, struct tmpl_info **out, size_t *n, struct err *err)
{
	int tfd = tmpl_dir_open(root, false);
	struct tmpl_info *v = NULL;
	size_t cnt = 0;
	struct dirent *e;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (tfd == -ENOENT)
		return 0;
	if (tfd < 0)
		return err_setx(err, -tfd, "%s/templates", root);
	d = fdopendir(tfd);
	if (!d) {
		close(tfd);
		return err_setx(err, errno, "%s/templates", root);
	}
	while ((e = readdir(d))) {
		struct tmpl_info t;

		if (e->d_type != DT_DIR || tmpl_info_read(root, dirfd(d), e->d_name, &t) < 0)
			continue;
		v = xrealloc(v, (cnt + 1) * sizeof(*v));
		v[cnt++] = t;
	}
	closedir(d);
	*out = v;
	*n = cnt;
	return 0;
}

/* Taking the build lock of key: a template being built is not removed
 * under its builder. */
static int tmpl_lock_key(int tfd, const char *key)
{
	_cleanup_free_ char *name = xasprintf("%s.lock", key);
	int fd = openat(tfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return r;
	}
	return fd;
}

int tmpl_remove(const char *root, const char *key, struct err *err)
{
	struct tmpl_info *v;
	size_t n, hit = 0, klen = strlen(key);
	char full[TMPL_KEY_LEN + 1] = "";
	int r, tfd, lk;

	if (klen < 4 || klen > TMPL_KEY_LEN || strspn(key, "0123456789abcdef") != klen)
		return err_set(err, EINVAL, "template %s: want a key (at least 4 hex digits)", key);
	if ((r = tmpl_list(root, &v, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(v[i].key, key, klen) == 0) {
			hit++;
			snprintf(full, sizeof(full), "%s", v[i].key);
		}
	}
	tmpl_list_free(v, n);
	if (hit == 0)
		return err_set(err, ENOENT, "no template %s", key);
	if (hit > 1)
		return err_set(err, EINVAL, "template %s: %zu templates start so; give more of the key", key, hit);
	tfd = tmpl_dir_open(root, false);
	if (tfd < 0)
		return err_setx(err, -tfd, "%s/templates", root);
	lk = tmpl_lock_key(tfd, full);
	if (lk < 0) {
		close(tfd);
		return err_setx(err, -lk, "template %.12s is being built", full);
	}
	r = tmpl_dir_remove_path(tfd, full);
	close(lk);
	close(tfd);
	if (r < 0)
		return err_setx(err, -r, "removing template %.12s", full);
	return 0;
}

int tmpl_prune(const char *root, bool all, unsigned *removed, struct err *err)
{
	struct tmpl_info *v;
	size_t n;
	int r, tfd;
	DIR *d;
	struct dirent *e;

	*removed = 0;
	tmpl_sweep(TMPL_SHM, root);
	if ((r = tmpl_list(root, &v, &n, err)) < 0)
		return r;
	tfd = tmpl_dir_open(root, false);
	if (tfd < 0) {
		tmpl_list_free(v, n);
		return tfd == -ENOENT ? 0 : err_setx(err, -tfd, "%s/templates", root);
	}
	for (size_t i = 0; i < n; i++) {
		int lk;

		if (!all && !v[i].stale)
			continue;
		lk = tmpl_lock_key(tfd, v[i].key);
		if (lk < 0)
			continue;	/* being (re)built */
		if (tmpl_dir_remove_path(tfd, v[i].key) == 0)
			(*removed)++;
		close(lk);
	}
	tmpl_list_free(v, n);
	/* Builds that died half-way leave .build-* directories behind; a
	 * live builder holds its key's lock. */
	d = fdopendir(dup(tfd));
	while (d && (e = readdir(d))) {
		char key[TMPL_KEY_LEN + 1];
		int lk;

		if (strncmp(e->d_name, ".build-", 7) != 0 || strlen(e->d_name) < 7 + TMPL_KEY_LEN)
			continue;
		memcpy(key, e->d_name + 7, TMPL_KEY_LEN);
		key[TMPL_KEY_LEN] = 0;
		if (!tmpl_key_ok(key) || (lk = tmpl_lock_key(tfd, key)) < 0)
			continue;
		tmpl_dir_remove_path(tfd, e->d_name);
		close(lk);
	}
	if (d)
		closedir(d);
	close(tfd);
	return 0;
}
