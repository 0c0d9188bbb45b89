/* What `ucrt version` and `ucrt info` report about this host: the QEMU,
 * kernel and guest-init a run would use, with their versions, and how
 * much the store takes. Read without booting anything. */
#include "cli.h"
#include "host-info.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "vm/vm.h"

/* First line of `qemu --version`: "QEMU emulator version 7.2.19 (...)". */
static void qemu_version(const char *qemu, char *out, size_t n)
{
	int p[2];
	snprintf(out, n, "%s", "unknown");
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execl(qemu, qemu, "--version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char buf[512];
	ssize_t len = pid > 0 ? read_full(p[0], buf, sizeof(buf) - 1) : -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (len <= 0)
		return;
	buf[len] = 0;
	buf[strcspn(buf, "\n")] = 0;
	const char *v = strstr(buf, "version ");
	if (v)
		snprintf(out, n, "%.*s", (int)strcspn(v + 8, " \n"), v + 8);
}

/* guest-init carries "ucrt-init-version=V protocol=P" (guest-init/main.c):
 * found in the binary, no VM needed. */
static void init_version(const char *path, char *out, size_t n)
{
	static const char mark[] = "ucrt-init-version=";
	_cleanup_free_ char *data = NULL;
	size_t len;

	snprintf(out, n, "%s", "unknown");
	if (!path || read_file_at(AT_FDCWD, path, 64u << 20, &data, &len) < 0)
		return;
	const char *m = memmem(data, len, mark, sizeof(mark) - 1);
	if (!m)
		return;
	m += sizeof(mark) - 1;
	size_t k = 0;
	while (m + k < data + len && m[k] && k + 1 < n && (m[k] >= 0x20 && m[k] < 0x7f))
		k++;
	snprintf(out, n, "%.*s", (int)k, m);
}

int cli_host_info(struct cli_ctx *ctx, struct cli_host_info *hi, struct err *err)
{
	_cleanup_free_ char *cache = xasprintf("%s/vm", ctx->root);
	struct vm_host_opts o = { .cache_dir = cache };
	struct vm_host h;
	int r;

	memset(hi, 0, sizeof(*hi));
	if ((r = mkdir_p_at(AT_FDCWD, ctx->root, 0700)) < 0 || (r = mkdir_p_at(AT_FDCWD, cache, 0755)) < 0)
		return err_setx(err, r, "creating %s", cache);
	if (vm_host_probe(&h, &o, err) < 0)
		return -1;
	snprintf(hi->qemu, sizeof(hi->qemu), "%s", h.qemu);
	qemu_version(h.qemu, hi->qemu_version, sizeof(hi->qemu_version));
	snprintf(hi->kernel, sizeof(hi->kernel), "%s", h.kernel.path);
	snprintf(hi->kernel_version, sizeof(hi->kernel_version), "%s",
		 h.kernel.release ? h.kernel.release : "unknown");
	hi->kernel_builtin = h.kernel.builtin;
	snprintf(hi->init, sizeof(hi->init), "%s", h.init ? h.init : "");
	init_version(h.init, hi->init_version, sizeof(hi->init_version));
	hi->kvm = h.accel == VM_ACCEL_KVM;
	snprintf(hi->accel_note, sizeof(hi->accel_note), "%s", h.accel_note);
	vm_host_release(&h);
	return 0;
}

void cli_accel_notice(struct cli_ctx *ctx, const char *note)
{
	if (!note || !note[0])
		return;
	_cleanup_free_ char *marker = xasprintf("%s/vm/tcg-noticed", ctx->root);
	/* O_EXCL: of two first runs at once, one says it */
	int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_info("%s", note);
		return;
	}
	close(fd);
	log_warn("%s; containers run without KVM (said once; `ucrt info` shows it again)", note);
}

/* Allocated bytes under dirfd, not following symlinks or leaving the
 * filesystem's tree (st_blocks: sparse disks count what they hold). */
static uint64_t du_at(int dirfd, int depth)
{
	DIR *d;
	struct dirent *de;
	uint64_t total = 0;

	if (depth > 32 || !(d = fdopendir(dirfd))) {
		close(dirfd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat sb;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		total += (uint64_t)sb.st_blocks * 512;
		if (S_ISDIR(sb.st_mode)) {
			int fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				total += du_at(fd, depth + 1);
		}
	}
	closedir(d);
	return total;
}

uint64_t cli_du(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? 0 : du_at(fd, 0);
}
