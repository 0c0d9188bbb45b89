/* The files ucrt writes for a VM, checked with the reference tools:
 * the initramfs with cpio(1), the overlay with qemu-img and qemu-io. */
#include <glob.h>

#include "tests/lib/tap.h"
#include "t-vm.h"
#include "str.h"
#include "vm/vm-internal.h"

static char *t_slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	if (read_file_at(AT_FDCWD, path, 64u << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static void t_initramfs_plain(const char *init)
{
	struct err e = { 0 };
	char path[256], cmd[1024], *list;

	snprintf(path, sizeof(path), "%s/plain.cpio", t_tmpdir());
	t_ok(vm_initramfs_write(path, init, NULL, &e) == 0, "initramfs without modules: %s", err_msg(&e));
	snprintf(cmd, sizeof(cmd), "cpio -it --quiet < %s > %s/plain.list 2>&1", path, t_tmpdir());
	t_is(t_run(cmd), 0, "cpio -t reads it");
	snprintf(path, sizeof(path), "%s/plain.list", t_tmpdir());
	list = t_slurp(path);
	t_streq(list, "dev\ndev/console\ninit\n", "entries: dev, dev/console, init");
	free(list);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/x && cd %s/x && cpio -id --quiet < ../plain.cpio 2>/dev/null; "
		 "cmp %s/x/init %s && test -x %s/x/init", t_tmpdir(), t_tmpdir(), t_tmpdir(), init, t_tmpdir());
	t_is(t_run(cmd), 0, "/init is guest-init, byte for byte, executable");
}

static ssize_t t_index(char **v, const char *suffix)
{
	for (ssize_t i = 0; v && v[i]; i++) {
		if (str_endswith(v[i], suffix))
			return i;
	}
	return -1;
}

static void t_initramfs_modules(const char *init)
{
	struct vm_kernel k = { 0 };
	struct err e = { 0 };
	char **mods = NULL, cmd[1024], path[256], *order;
	char *first = NULL, *again = NULL;
	struct stat st1, st2;
	glob_t g;

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0) {
		t_diag("no /boot/vmlinuz-*: module tests skipped");
		return;
	}
	int r = vm_kernel_find(&k, g.gl_pathv[g.gl_pathc - 1], &e);
	t_ok(r == 0 && k.release && !k.builtin, "bzImage release read from its header: %s",
	     k.release ? k.release : err_msg(&e));
	globfree(&g);
	if (!k.modules_dir) {
		t_diag("no /lib/modules for %s", k.release ? k.release : "?");
		vm_kernel_release(&k);
		return;
	}
	t_ok(vm_modules_resolve(k.modules_dir, &mods, &e) == 0, "modules resolved: %s", err_msg(&e));
	t_ok(t_index(mods, "/virtio_mmio.ko") > t_index(mods, "/virtio.ko") &&
	     t_index(mods, "/virtio_mmio.ko") > t_index(mods, "/virtio_ring.ko") &&
	     t_index(mods, "/virtio_blk.ko") >= 0 && t_index(mods, "/virtio_console.ko") >= 0,
	     "virtio_mmio/blk/console present, dependencies first");

	snprintf(cmd, sizeof(cmd), "%s/cache", t_tmpdir());
	t_ok(vm_initramfs_get(cmd, init, &k, &first, &e) == 0, "cached initramfs written: %s", err_msg(&e));
	stat(first ? first : "/", &st1);
	t_ok(vm_initramfs_get(cmd, init, &k, &again, &e) == 0 && again && strcmp(first, again) == 0,
	     "second call finds the same file");
	stat(again ? again : "/", &st2);
	t_ok(st1.st_ino == st2.st_ino && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec, "and does not rewrite it");
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/m && cd %s/m && cpio -id --quiet < %s 2>/dev/null",
		 t_tmpdir(), t_tmpdir(), first ? first : "/dev/null");
	t_is(t_run(cmd), 0, "cpio extracts it");
	snprintf(path, sizeof(path), "%s/m/modules/order", t_tmpdir());
	order = t_slurp(path);
	struct buf want = BUF_INIT;
	for (char **m = mods; m && *m; m++)
		buf_printf(&want, "%s\n", strrchr(*m, '/') + 1);
	t_streq(order, want.data, "/modules/order lists them in load order");
	snprintf(cmd, sizeof(cmd), "cmp %s/m/modules/virtio_mmio.ko %s/kernel/drivers/virtio/virtio_mmio.ko",
		 t_tmpdir(), k.modules_dir);
	t_is(t_run(cmd), 0, "module bytes copied unchanged");
	buf_free(&want);
	free(order);
	free(first);
	free(again);
	strv_free(mods);
	vm_kernel_release(&k);
}

static void t_overlay(void)
{
	struct err e = { 0 };
	char raw[256], over[256], cmd[2048], info[256], *text;
	int fd;

	snprintf(raw, sizeof(raw), "%s/image,with comma.raw", t_tmpdir());
	snprintf(over, sizeof(over), "%s/over.qcow2", t_tmpdir());
	fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	t_ok(fd >= 0 && ftruncate(fd, 3ull << 30) == 0, "3 GiB sparse raw image");
	close(fd);
	t_ok(vm_overlay_create(over, raw, &e) == 0, "overlay created: %s", err_msg(&e));
	snprintf(info, sizeof(info), "%s/info.json", t_tmpdir());
	snprintf(cmd, sizeof(cmd), "qemu-img info --output=json '%s' > %s", over, info);
	t_is(t_run(cmd), 0, "qemu-img info reads it");
	text = t_slurp(info);
	t_ok(text && strstr(text, "\"virtual-size\": 3221225472"), "virtual size = backing size");
	t_ok(text && strstr(text, "\"backing-filename-format\": \"raw\""), "backing format raw");
	t_ok(text && strstr(text, "image,with comma.raw\""), "backing file name kept");
	free(text);
	snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", over);
	t_is(t_run(cmd), 0, "qemu-img check: no errors, no leaks");
	snprintf(cmd, sizeof(cmd), "qemu-io -f qcow2 -c 'write -P 0xab 1G 64k' '%s' >/dev/null && "
		 "qemu-io -f qcow2 -c 'read -P 0xab 1G 64k' '%s' | grep -q 'read 65536' && "
		 "qemu-img check -q '%s'", over, over, over);
	t_is(t_run(cmd), 0, "writes land in the overlay and read back");
	snprintf(cmd, sizeof(cmd), "test \"$(du -k '%s' | cut -f1)\" = 0", raw);
	t_is(t_run(cmd), 0, "the backing image is untouched (still fully sparse)");
	t_is(vm_overlay_create(over, raw, &e), -EEXIST, "an existing overlay is never overwritten");
	t_is(vm_overlay_create(over, "relative.raw", &e), -EINVAL, "relative backing path refused");
}

int main(void)
{
	const char *init = getenv("UCRT_INIT") ? getenv("UCRT_INIT") : "build/ucrt-init";

	if (access(init, R_OK) < 0)
		t_skip_all("build/ucrt-init not built");
	if (t_run("command -v cpio qemu-img qemu-io >/dev/null") != 0)
		t_skip_all("cpio, qemu-img or qemu-io missing");
	t_initramfs_plain(init);
	t_initramfs_modules(init);
	t_overlay();
	return t_done();
}
