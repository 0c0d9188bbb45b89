/* The initramfs ucrt boots with: guest-init as /init and, for Debian's
 * modular cloud kernel, the driver modules guest-init loads before it can
 * see its disk and host channel. Written by ucrt itself (newc cpio, no
 * external tools) and cached by content. Layout agreed with guest-init
 * (docs/guest-init.md): /init, /dev/console, /modules/<file>.ko,
 * /modules/order (one file name per line, dependencies first). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "log.h"
#include "sha256.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

/* What the guest needs from a modular kernel. Missing optional ones are
 * skipped (a kernel may have them built in, or not at all). */
static const struct {
	const char *name;
	bool required;
} vm_wanted_modules[] = {
	{ "virtio_mmio", true },	/* the transport of every device */
	{ "virtio_blk", true },		/* root disk */
	{ "virtio_console", true },	/* agent port */
	{ "ext4", true },
	{ "virtio_net", false },
	{ "vmw_vsock_virtio_transport", false },
	{ "9pnet_virtio", false },
	{ "9p", false },
	{ "binfmt_misc", false },	/* foreign-architecture images (docs/platforms.md) */
};

#define VM_MODDEP_MAX (8u << 20)

/* "kernel/drivers/block/virtio_blk.ko" -> "virtio_blk" (kmod treats '-'
 * and '_' alike: so do we). */
static void vm_mod_name(const char *path, char *out, size_t cap)
{
	const char *b = strrchr(path, '/');
	size_t i;

	b = b ? b + 1 : path;
	for (i = 0; b[i] && b[i] != '.' && i + 1 < cap; i++)
		out[i] = b[i] == '-' ? '_' : b[i];
	out[i] = 0;
}

struct vm_moddep {
	char **paths;		/* module path per line */
	char ***deps;		/* its dependencies' paths */
	size_t n;
};

static void vm_moddep_free(struct vm_moddep *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->paths[i]);
		strv_free(d->deps[i]);
	}
	free(d->paths);
	free(d->deps);
}

static int vm_moddep_load(struct vm_moddep *d, const char *modules_dir, struct err *err)
{
	_cleanup_free_ char *text = NULL, *path = xasprintf("%s/modules.dep", modules_dir);
	char *line, *save = NULL;
	size_t len;
	int r;

	memset(d, 0, sizeof(*d));
	r = read_file_at(AT_FDCWD, path, VM_MODDEP_MAX, &text, &len);
	if (r < 0)
		return err_setx(err, r, "reading %s", path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		char **deps = NULL, *save2 = NULL;

		if (!colon)
			continue;
		*colon = 0;
		for (char *tok = strtok_r(colon + 1, " \t", &save2); tok; tok = strtok_r(NULL, " \t", &save2))
			strv_push(&deps, tok);
		d->paths = xrealloc(d->paths, (d->n + 1) * sizeof(*d->paths));
		d->deps = xrealloc(d->deps, (d->n + 1) * sizeof(*d->deps));
		d->paths[d->n] = xstrdup(line);
		d->deps[d->n] = deps;
		d->n++;
	}
	return 0;
}

static ssize_t vm_moddep_find(const struct vm_moddep *d, const char *name, bool by_path)
{
	char n[128];

	for (size_t i = 0; i < d->n; i++) {
		if (by_path) {
			if (strcmp(d->paths[i], name) == 0)
				return (ssize_t)i;
			continue;
		}
		vm_mod_name(d->paths[i], n, sizeof(n));
		if (strcmp(n, name) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* Depth-first, dependencies emitted before their users; state 1 = on the
 * current path (a cycle would be a broken modules.dep: stop there). */
static void vm_moddep_visit(const struct vm_moddep *d, size_t i, unsigned char *state, char ***out)
{
	if (state[i])
		return;
	state[i] = 1;
	for (char **dep = d->deps[i]; dep && *dep; dep++) {
		ssize_t j = vm_moddep_find(d, *dep, true);
		if (j >= 0)
			vm_moddep_visit(d, (size_t)j, state, out);
	}
	state[i] = 2;
	strv_push(out, d->paths[i]);
}

int vm_modules_resolve(const char *modules_dir, char ***out, struct err *err)
{
	struct vm_moddep d;
	_cleanup_free_ unsigned char *state = NULL;
	_cleanup_free_ char *builtin = NULL, *bpath = xasprintf("%s/modules.builtin", modules_dir);
	size_t blen;
	char **res = NULL;
	int r;

	r = vm_moddep_load(&d, modules_dir, err);
	if (r < 0)
		return r;
	if (read_file_at(AT_FDCWD, bpath, VM_MODDEP_MAX, &builtin, &blen) < 0)
		builtin = xstrdup("");
	state = xcalloc(d.n ? d.n : 1, 1);
	for (size_t w = 0; w < ARRAY_SIZE(vm_wanted_modules); w++) {
		const char *name = vm_wanted_modules[w].name;
		ssize_t i = vm_moddep_find(&d, name, false);
		_cleanup_free_ char *pat = xasprintf("/%s.ko\n", name);

		if (i >= 0) {
			vm_moddep_visit(&d, (size_t)i, state, &res);
		} else if (strstr(builtin, pat)) {
			log_trace("vm: module %s is built into the kernel", name);
		} else if (vm_wanted_modules[w].required) {
			vm_moddep_free(&d);
			strv_free(res);
			return err_set(err, ENOENT, "%s: kernel has no %s driver (module or built-in)",
				       modules_dir, name);
		}
	}
	vm_moddep_free(&d);
	*out = res ? res : xcalloc(1, sizeof(char *));
	return 0;
}

static int vm_add_file(struct vm_cpio *c, const char *src, const char *dst, unsigned mode,
		       struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = read_file_at(AT_FDCWD, src, 512u << 20, &data, &len);

	if (r < 0)
		return err_setx(err, r, "reading %s", src);
	vm_cpio_file(c, dst, mode, data, len);
	return 0;
}

static int vm_add_modules(struct vm_cpio *c, const char *modules_dir, struct err *err)
{
	_cleanup_strv_ char **mods = NULL;
	struct buf order = BUF_INIT;
	int r = vm_modules_resolve(modules_dir, &mods, err);

	if (r < 0)
		return r;
	vm_cpio_dir(c, "modules", 0755);
	for (char **m = mods; *m && r == 0; m++) {
		const char *base = strrchr(*m, '/') ? strrchr(*m, '/') + 1 : *m;
		_cleanup_free_ char *src = xasprintf("%s/%s", modules_dir, *m);
		_cleanup_free_ char *dst = xasprintf("modules/%s", base);

		/* finit_module() takes compressed modules only with
		 * MODULE_INIT_COMPRESSED_FILE (6.1 has it when built with
		 * MODULE_DECOMPRESS); Debian 12 ships them plain. */
		if (!str_endswith(base, ".ko")) {
			r = err_set(err, ENOTSUP, "%s: compressed kernel modules are not supported", src);
			break;
		}
		r = vm_add_file(c, src, dst, 0644, err);
		buf_printf(&order, "%s\n", base);
	}
	if (r == 0)
		vm_cpio_file(c, "modules/order", 0644, order.data, order.len);
	buf_free(&order);
	return r;
}

int vm_initramfs_write(const char *path, const char *init, const char *modules_dir, struct err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	_cleanup_fclose_ FILE *f = NULL;
	struct vm_cpio c;
	int r;

	f = fopen(tmp, "wxe");
	if (!f)
		return err_setx(err, errno, "creating %s", tmp);
	vm_cpio_init(&c, f);
	vm_cpio_dir(&c, "dev", 0755);
	/* The kernel opens /dev/console for PID 1's stdio before /init runs
	 * and devtmpfs is not mounted yet. */
	vm_cpio_node(&c, "dev/console", S_IFCHR | 0600, 5, 1);
	r = vm_add_file(&c, init, "init", 0755, err);
	if (r == 0 && modules_dir)
		r = vm_add_modules(&c, modules_dir, err);
	if (r == 0) {
		r = vm_cpio_finish(&c);
		if (r < 0)
			err_setx(err, r, "writing %s", tmp);
	}
	if (r == 0 && fsync(fileno(f)) < 0)
		r = err_setx(err, errno, "writing %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = err_setx(err, errno, "renaming %s", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

static void vm_hash_stat(struct sha256 *h, const char *path)
{
	struct stat st;
	char line[128];

	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	snprintf(line, sizeof(line), "%lld %lld.%09ld\n", (long long)st.st_size,
		 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	sha256_update(h, path, strlen(path) + 1);
	sha256_update(h, line, strlen(line));
}

/* Key: the init binary's bytes, the module files' identities (path, size,
 * mtime: a kernel package update changes them) and the format version. */
static int vm_initramfs_key(const char *init, const char *modules_dir, char hex[SHA256_HEX_LEN + 1],
			    struct err *err)
{
	_cleanup_free_ char *data = NULL;
	struct sha256 h;
	size_t len;
	int r = read_file_at(AT_FDCWD, init, 512u << 20, &data, &len);

	if (r < 0)
		return err_setx(err, r, "reading %s", init);
	sha256_init(&h);
	sha256_update(&h, "ucrt-initramfs-1\n", 17);
	sha256_update(&h, data, len);
	if (modules_dir) {
		_cleanup_strv_ char **mods = NULL;
		_cleanup_free_ char *dep = xasprintf("%s/modules.dep", modules_dir);

		r = vm_modules_resolve(modules_dir, &mods, err);
		if (r < 0) {
			sha256_abort(&h);
			return r;
		}
		vm_hash_stat(&h, dep);
		for (char **m = mods; *m; m++) {
			_cleanup_free_ char *p = xasprintf("%s/%s", modules_dir, *m);
			vm_hash_stat(&h, p);
		}
	}
	sha256_final_hex(&h, hex);
	return 0;
}

int vm_initramfs_get(const char *cache_dir, const char *init, const struct vm_kernel *k,
		     char **out, struct err *err)
{
	char hex[SHA256_HEX_LEN + 1];
	_cleanup_free_ char *path = NULL;
	int r;

	r = vm_initramfs_key(init, k->modules_dir, hex, err);
	if (r < 0)
		return r;
	r = mkdir_p_at(AT_FDCWD, cache_dir, 0755);
	if (r < 0)
		return err_setx(err, r, "creating %s", cache_dir);
	path = xasprintf("%s/initramfs-%.32s.cpio", cache_dir, hex);
	if (access(path, R_OK) == 0) {
		log_trace("vm: initramfs %s cached", path);
		*out = TAKE_PTR(path);
		return 0;
	}
	r = vm_initramfs_write(path, init, k->modules_dir, err);
	if (r < 0)
		return r;
	log_debug("vm: wrote initramfs %s (%s)", path, k->modules_dir ? k->modules_dir : "no modules");
	*out = TAKE_PTR(path);
	return 0;
}
