/* Which kernel to boot: --kernel, else $UCRT_KERNEL, else ucrt's own build
 * (kernel/build.sh: an uncompressed vmlinux with everything built in),
 * else Debian's cloud kernel with its modules in the initramfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

void vm_kernel_release(struct vm_kernel *k)
{
	free(k->path);
	free(k->release);
	free(k->modules_dir);
	memset(k, 0, sizeof(*k));
}

static bool vm_is_file(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A bzImage names its release in the setup header: kernel_version at
 * 0x20e is an offset (from 0x200) to "6.1.0-56-cloud-amd64 (...) #1 ...". */
static char *vm_bzimage_release(const char *path)
{
	const size_t cap = 0x10000;
	_cleanup_free_ unsigned char *hdr = xmalloc(cap);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t off;

	if (fd < 0)
		return NULL;
	n = read(fd, hdr, cap);
	if (n < 0x210 || memcmp(hdr + 0x202, "HdrS", 4) != 0)
		return NULL;
	off = 0x200 + (size_t)(hdr[0x20e] | hdr[0x20f] << 8);
	if (off >= (size_t)n)
		return NULL;
	size_t len = strnlen((char *)hdr + off, (size_t)n - off);
	len = MIN(len, strcspn((char *)hdr + off, " "));
	return len ? xstrndup((char *)hdr + off, len) : NULL;
}

/* kernel/build.sh writes build-info next to vmlinux: version=... */
static char *vm_build_info_release(const char *vmlinux)
{
	_cleanup_free_ char *dir = xstrdup(vmlinux), *path = NULL, *text = NULL;
	size_t len;
	char *v;

	path = xasprintf("%s/build-info", dirname(dir));
	if (read_file_at(AT_FDCWD, path, 65536, &text, &len) < 0)
		return NULL;
	v = strstr(text, "version=");
	if (!v || (v != text && v[-1] != '\n'))
		return NULL;
	v += 8;
	return xstrndup(v, strcspn(v, "\n"));
}

static int vm_kernel_describe(struct vm_kernel *k, const char *path, struct err *err)
{
	if (!vm_is_file(path))
		return err_set(err, ENOENT, "kernel %s not found", path);
	k->path = xstrdup(path);
	if (vm_kernel_is_elf(path)) {
		/* An uncompressed vmlinux booted through PVH: ours, with the
		 * drivers built in. */
		k->builtin = true;
		k->release = vm_build_info_release(path);
		return 0;
	}
	k->release = vm_bzimage_release(path);
	if (k->release) {
		char *dir = xasprintf("/lib/modules/%s", k->release);
		struct stat st;
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			k->modules_dir = dir;
		else
			free(dir);
	}
	if (!k->modules_dir)
		log_debug("vm: no modules for %s: assuming its drivers are built in", path);
	return 0;
}

static int vm_release_cmp(const void *a, const void *b)
{
	return strverscmp(*(char *const *)b, *(char *const *)a);	/* newest first */
}

/* Newest /boot/vmlinuz-* preferring the cloud flavour (fewer drivers to
 * initialise, made for VMs). */
static char *vm_boot_kernel(void)
{
	DIR *d = opendir("/boot");
	struct dirent *e;
	char **cloud = NULL, **other = NULL, *res = NULL;

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (!str_startswith(e->d_name, "vmlinuz-"))
			continue;
		strv_push(str_endswith(e->d_name, "-cloud-amd64") ? &cloud : &other, e->d_name + 8);
	}
	closedir(d);
	char **pick = cloud ? cloud : other;
	if (pick) {
		qsort(pick, strv_len(pick), sizeof(char *), vm_release_cmp);
		res = xasprintf("/boot/vmlinuz-%s", pick[0]);
	}
	strv_free(cloud);
	strv_free(other);
	return res;
}

int vm_kernel_find(struct vm_kernel *k, const char *path, struct err *err)
{
	_cleanup_free_ char *exe = NULL, *found = NULL;
	const char *env = getenv("UCRT_KERNEL"), *cache = getenv("UCRT_KERNEL_CACHE");
	const char *build = getenv("UCRT_BUILD");
	char buf[4096];
	ssize_t n;
	int r;

	memset(k, 0, sizeof(*k));
	if (path || (env && *env)) {
		r = vm_kernel_describe(k, path ? path : env, err);
		return r < 0 ? err_wrap(err, "%s", path ? "--kernel" : "UCRT_KERNEL") : r;
	}
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	exe = xstrdup(n > 0 ? dirname(buf) : ".");
	char *cand[] = {
		cache ? xasprintf("%s/vmlinux", cache) : NULL,
		xasprintf("%s/kernel/vmlinux", exe),		/* build/ucrt */
		xasprintf("%s/../libexec/ucrt/vmlinux", exe),	/* make install */
		build ? xasprintf("%s/kernel/vmlinux", build) : NULL,
	};
	for (size_t i = 0; i < ARRAY_SIZE(cand); i++) {
		if (!found && vm_is_file(cand[i]))
			found = xstrdup(cand[i]);
		free(cand[i]);
	}
	if (!found)
		found = vm_boot_kernel();
	if (!found)
		return err_set(err, ENOENT, "no kernel: run `make kernel`, install linux-image-cloud-amd64, "
			       "or pass --kernel");
	return vm_kernel_describe(k, found, err);
}
