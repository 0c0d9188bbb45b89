/* What the host offers, found once per process: QEMU, KVM or TCG, the
 * kernel, guest-init and its initramfs. Blocking setup code: it runs
 * before the reactor starts VMs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

static const char *const vm_accel_names[] = {
	[VM_ACCEL_AUTO] = "auto", [VM_ACCEL_KVM] = "kvm", [VM_ACCEL_TCG] = "tcg",
};

int vm_accel_parse(const char *s, enum vm_accel *out)
{
	int i = str_index(s, vm_accel_names, ARRAY_SIZE(vm_accel_names));
	if (i < 0)
		return -EINVAL;
	*out = (enum vm_accel)i;
	return 0;
}

const char *vm_accel_name(enum vm_accel a)
{
	return (unsigned)a < ARRAY_SIZE(vm_accel_names) ? vm_accel_names[a] : "auto";
}

/* True when the "flags" line of /proc/cpuinfo has one of the words. */
static bool vm_cpu_has_flag(const char *const *words)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	char *line;

	if (read_file_at(AT_FDCWD, "/proc/cpuinfo", 4u << 20, &text, &len) < 0)
		return false;
	line = strstr(text, "\nflags");
	if (!line)
		return false;
	line[strcspn(line + 1, "\n") + 1] = 0;
	for (; *words; words++) {
		_cleanup_free_ char *w = xasprintf(" %s", *words);
		char *p = strstr(line, w);
		if (p && (p[strlen(w)] == ' ' || p[strlen(w)] == 0))
			return true;
	}
	return false;
}

/* KVM only with a hardware virtualization flag AND a /dev/kvm that opens:
 * a /dev/kvm without vmx/svm is a paravirtual backend (PVM here) on which
 * an ordinary guest kernel hangs. */
enum vm_accel vm_accel_detect(char *why, size_t whylen)
{
	static const char *const flags[] = { "vmx", "svm", NULL };
	int fd;

	if (!vm_cpu_has_flag(flags)) {
		snprintf(why, whylen, "no vmx/svm CPU flag: using TCG (software emulation, slower)");
		return VM_ACCEL_TCG;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "/dev/kvm: %s: using TCG (software emulation, slower)",
			 strerror(errno));
		return VM_ACCEL_TCG;
	}
	close(fd);
	if (whylen)
		why[0] = 0;
	return VM_ACCEL_KVM;
}

/* Under TCG the guest's TSC is the host's: telling the guest its rate
 * (tsc_early_khz=) spares it the PIT calibration, and is the only way a
 * hardware-reduced ACPI guest (no PIT, no HPET) gets a usable TSC. */
static uint32_t vm_tsc_khz(void)
{
#if defined(__x86_64__)
	static const char *const flags[] = { "constant_tsc", NULL };
	struct timespec a, b, d = { 0, 20 * 1000 * 1000 };
	uint64_t t0, t1, ns;

	if (!vm_cpu_has_flag(flags))
		return 0;
	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	t0 = __builtin_ia32_rdtsc();
	nanosleep(&d, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	t1 = __builtin_ia32_rdtsc();
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)(b.tv_nsec - a.tv_nsec);
	return ns ? (uint32_t)((t1 - t0) * 1000000u / ns) : 0;
#else
	return 0;
#endif
}

/* The TSC rate holds until the host reboots: remember it per boot_id so
 * that starting ucrt does not pay the 20 ms measurement every time. */
static uint32_t vm_tsc_khz_cached(const char *cache_dir)
{
	_cleanup_free_ char *boot = NULL, *old = NULL, *path = xasprintf("%s/tsc-khz", cache_dir);
	_cleanup_free_ char *line = NULL;
	size_t len;
	uint32_t khz;

	if (read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 128, &boot, &len) < 0)
		return vm_tsc_khz();
	boot[strcspn(boot, "\n")] = 0;
	if (read_file_at(AT_FDCWD, path, 256, &old, &len) == 0) {
		char *sp = strchr(old, ' ');
		uint64_t v;
		if (sp && (size_t)(sp - old) == strlen(boot) && strncmp(old, boot, strlen(boot)) == 0) {
			sp[1 + strcspn(sp + 1, "\n")] = 0;
			if (str_to_u64(sp + 1, &v) == 0 && v > 0 && v < UINT32_MAX)
				return (uint32_t)v;
		}
	}
	khz = vm_tsc_khz();
	line = xasprintf("%s %u\n", boot, khz);
	if (khz && mkdir_p_at(AT_FDCWD, cache_dir, 0755) == 0)
		write_file_atomic_at(AT_FDCWD, path, line, strlen(line), 0644);
	return khz;
}

static char *vm_which(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_strv_ char **dirs = str_split(path ? path : "/usr/bin:/bin", ':');

	for (char **d = dirs; *d; d++) {
		char *p = xasprintf("%s/%s", **d ? *d : ".", name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* Debian builds QEMU against libseccomp; a build without it rejects
 * -sandbox, so look for the library in the binary's dynamic section. */
static bool vm_qemu_has_seccomp(const char *qemu)
{
	static const char needle[] = "libseccomp.so.";
	_cleanup_close_ int fd = open(qemu, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *m;
	bool found;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		return false;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return false;
	found = memmem(m, (size_t)st.st_size, needle, sizeof(needle) - 1) != NULL;
	munmap(m, (size_t)st.st_size);
	return found;
}

static char *vm_exe_dir(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0)
		return xstrdup(".");
	buf[n] = 0;
	return xstrdup(dirname(buf));
}

/* First existing file among NULL-terminated candidates (NULLs inside are
 * skipped: callers pass optional ones). */
static char *vm_first_file(char **cand, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (cand[i] && stat(cand[i], &st) == 0 && S_ISREG(st.st_mode))
			return xstrdup(cand[i]);
	}
	return NULL;
}

static char *vm_find_init(const char *opt)
{
	_cleanup_free_ char *exe = vm_exe_dir();
	const char *build = getenv("UCRT_BUILD");
	char *cand[] = {
		getenv("UCRT_INIT") ? xstrdup(getenv("UCRT_INIT")) : NULL,
		xasprintf("%s/ucrt-init", exe),
		xasprintf("%s/../libexec/ucrt/ucrt-init", exe),
		build ? xasprintf("%s/ucrt-init", build) : NULL,
	};
	char *res;

	if (opt)
		return access(opt, R_OK) == 0 ? xstrdup(opt) : NULL;
	res = vm_first_file(cand, ARRAY_SIZE(cand));

	for (size_t i = 0; i < ARRAY_SIZE(cand); i++)
		free(cand[i]);
	return res;
}

void vm_host_release(struct vm_host *h)
{
	free(h->qemu);
	free(h->init);
	free(h->initrd);
	vm_kernel_release(&h->kernel);
	memset(h, 0, sizeof(*h));
}

/* The option wins, then $UCRT_AGENT_TRANSPORT, then what the host has. */
static int vm_transport_probe(struct vm_host *h, const struct vm_host_opts *o, struct err *err)
{
	const char *env = getenv("UCRT_AGENT_TRANSPORT");
	enum vm_transport want = o->transport;
	char why[300];
	int r;

	if (want == VM_TRANSPORT_AUTO && env && *env && vm_transport_parse(env, &want) < 0)
		return err_set(err, EINVAL, "UCRT_AGENT_TRANSPORT: want auto, serial or vsock, not '%s'", env);
	r = vm_transport_select(want, NULL, &h->transport, why, sizeof(why), err);
	if (r < 0 && o->transport == VM_TRANSPORT_AUTO)
		err_wrap(err, "UCRT_AGENT_TRANSPORT");
	if (r < 0)
		return r;
	if (why[0])
		log_debug("vm: %s", why);
	return 0;
}

int vm_host_probe(struct vm_host *h, const struct vm_host_opts *o, struct err *err)
{
	const char *q = o->qemu ? o->qemu : getenv("UCRT_QEMU");
	int r;

	memset(h, 0, sizeof(*h));
	h->qemu = q ? xstrdup(q) : vm_which("qemu-system-x86_64");
	if (!h->qemu || access(h->qemu, X_OK) < 0) {
		vm_host_release(h);
		return err_set(err, ENOENT, "qemu-system-x86_64 not found (Debian package qemu-system-x86)");
	}
	h->sandbox = vm_qemu_has_seccomp(h->qemu);
	h->accel = o->accel;
	if (h->accel == VM_ACCEL_AUTO)
		h->accel = vm_accel_detect(h->accel_note, sizeof(h->accel_note));
	if (h->accel == VM_ACCEL_TCG)
		h->tsc_khz = vm_tsc_khz_cached(o->cache_dir);
	r = vm_transport_probe(h, o, err);
	if (r < 0)
		goto fail;
	r = vm_qemu_user_resolve(h, o->qemu_user ? o->qemu_user : geteuid() == 0 ? getenv("UCRT_QEMU_USER") : NULL,
				 o->qemu_owns_files, err);
	if (r < 0)
		goto fail;

	r = vm_kernel_find(&h->kernel, o->kernel, err);
	if (r < 0)
		goto fail;
	h->init = vm_find_init(o->init);
	if (!h->init) {
		r = err_set(err, ENOENT, "guest init %s not found (build it with make, or set UCRT_INIT)",
			    o->init ? o->init : "ucrt-init");
		goto fail;
	}
	r = vm_initramfs_get(o->cache_dir, h->init, &h->kernel, &h->initrd, err);
	if (r < 0) {
		err_wrap(err, "initramfs for %s", h->kernel.path);
		goto fail;
	}
	/* QEMU loads these by name (through /proc/self/fd): with its own
	 * rights, not ucrt's. */
	for (int i = 0; i < 2; i++) {
		const char *f = i ? h->initrd : h->kernel.path;
		if (f && !vm_user_can_read(h, f)) {
			r = err_set(err, EACCES, "%s is not readable by QEMU's user %s (make it world-readable, "
				    "or choose another with --kernel or --qemu-user)", f, h->user);
			goto fail;
		}
	}
	log_debug("vm: qemu %s as %s, accel %s%s, kernel %s (%s%s), init %s, tsc %u kHz, agent over %s",
		  h->qemu, h->user, vm_accel_name(h->accel), h->sandbox ? " +sandbox" : "", h->kernel.path,
		  h->kernel.release ? h->kernel.release : "?", h->kernel.builtin ? ", built-in drivers" : "",
		  h->init, h->tsc_khz, vm_transport_name(h->transport));
	return 0;
fail:
	vm_host_release(h);
	return r;
}
