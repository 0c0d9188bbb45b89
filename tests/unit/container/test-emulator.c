/* Foreign-architecture images on the host side: which platforms run how,
 * the binfmt_misc line, and the cached emulator disk (its content read
 * back with libext2fs), including the error of a host without
 * qemu-user-static. The guest side runs in tests/integration/platform-run.sh. */
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "oci/oci.h"
#include "str.h"
#include "util.h"

static void probe(const char *bindir)
{
	struct oci_platform host;
	struct ctr_platform_info pi;

	oci_platform_host(&host);
	t_is(ctr_platform_probe(host.os, host.arch, host.variant, &pi), CTR_PLATFORM_NATIVE, "the host's platform is native");
	t_streq(pi.emulator, "", "... with no emulator");
	const char *foreign = strcmp(host.arch, "arm64") == 0 ? "amd64" : "arm64";
	const char *qemu = strcmp(host.arch, "arm64") == 0 ? "x86_64" : "aarch64";
	t_is(ctr_platform_probe("linux", foreign, NULL, &pi), CTR_PLATFORM_EMULATED, "a foreign one is emulated");
	char *want = xasprintf("%s/qemu-%s-static", bindir, qemu);
	t_streq(pi.emulator, want, "... by qemu-ARCH-static in UCRT_QEMU_USER_DIR");
	t_ok(pi.emulator_found, "... which is there");
	free(want);
	t_is(ctr_platform_probe("linux", "mips64le", NULL, &pi), CTR_PLATFORM_UNSUPPORTED, "an unknown arch is unsupported");
	t_is(ctr_platform_probe("windows", foreign, NULL, &pi), CTR_PLATFORM_UNSUPPORTED, "another OS is unsupported");
	t_streq(pi.platform, strcmp(foreign, "arm64") == 0 ? "windows/arm64" : "windows/amd64", "info names the platform");

	struct ctr_platform_info all[16];
	size_t n = ctr_platforms(all, 16), native = 0;
	for (size_t i = 0; i < n; i++)
		native += all[i].how == CTR_PLATFORM_NATIVE;
	t_ok(n >= 6, "ctr_platforms lists %zu platforms", n);
	t_is(native, 1, "exactly one of them native");
	t_is(ctr_platforms(all, 2), 2, "no more than room for");
	oci_platform_free(&host);
}

static void binfmt(void)
{
	struct oci_platform host;
	oci_platform_host(&host);
	char *l = ctr_emulator_binfmt("arm64", NULL, "/run/x/aarch64-binfmt-P");
	if (strcmp(host.arch, "arm64") == 0) {
		t_ok(l == NULL, "arm64 on an arm64 host: no line");
	} else {
		t_ok(l && strncmp(l, ":qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01", 35) == 0, "aarch64 line: name, magic");
		t_ok(l && strstr(l, "\\xb7\\x00:") != NULL, "... e_machine 0xb7");
		t_ok(l && str_endswith(l, ":/run/x/aarch64-binfmt-P:OPF\n"), "... the interpreter, flags with F");
	}
	free(l);
	t_ok(ctr_emulator_binfmt(host.arch, host.variant, "/x") == NULL, "the host's arch: no line");
	t_ok(ctr_emulator_binfmt("mips", NULL, "/x") == NULL, "an unknown arch: no line");
	oci_platform_free(&host);
}

static void disk(const char *root, const char *bindir)
{
	struct oci_platform host;
	oci_platform_host(&host);
	const char *foreign = strcmp(host.arch, "arm64") == 0 ? "amd64" : "arm64";
	struct oci_image_config img = { .os = "linux", .arch = (char *)foreign };
	struct oci_image_config native = { .os = "linux", .arch = host.arch, .variant = host.variant };
	struct ctr_mount *m = NULL;
	size_t n = 0;
	struct err e = { 0 };

	t_is(ctr_emulator_mount(root, &native, &m, &n, &e), 0, "native image: fine");
	t_is(n, 0, "... and no mount");
	struct oci_image_config bare = { 0 };
	t_is(ctr_emulator_mount(root, &bare, &m, &n, &e), 0, "a plain disk without config: no mount");
	t_is(n, 0, "... none");

	setenv("UCRT_QEMU_USER_DIR", root, 1);	/* no emulators there */
	t_is(ctr_emulator_mount(root, &img, &m, &n, &e), -ENOENT, "missing emulator: ENOENT");
	t_ok(strstr(e.msg, "qemu-user-static") && strstr(e.msg, foreign), "... naming the package and platform: %s", e.msg);
	t_is(n, 0, "... no mount");
	setenv("UCRT_QEMU_USER_DIR", bindir, 1);

	t_is(ctr_emulator_mount(root, &img, &m, &n, &e), 0, "foreign image: the emulator disk is built");
	t_is(n, 1, "... one mount");
	if (n != 1) {
		oci_platform_free(&host);
		return;
	}
	t_is(m[0].type, CTR_MOUNT_EMULATOR, "... of type emulator");
	t_ok(m[0].readonly, "... read-only");
	t_streq(m[0].dst, "/run/ucrt-emu", "... where guest-init registers it from");
	t_streq(ctr_mount_type_name(m[0].type), "emulator", "type name for config.json");
	struct stat st1, st2;
	t_is(stat(m[0].host, &st1), 0, "disk in the store's emulators/");
	char *bin = NULL, *line = NULL;
	const char *q = strcmp(foreign, "arm64") == 0 ? "aarch64" : "x86_64";
	char *binpath = xasprintf("/%s-binfmt-P", q);
	t_is(ctr_disk_read_file(m[0].host, binpath, 1 << 20, &bin, &e), 0, "emulator on the disk");
	t_streq(bin, "fake emulator\n", "... with the host file's content");
	t_is(ctr_disk_read_file(m[0].host, "/binfmt", 4096, &line, &e), 0, "binfmt line on the disk");
	char *interp = xasprintf("/run/ucrt-emu%s", binpath);
	char *want = ctr_emulator_binfmt(foreign, NULL, interp);
	t_streq(line, want, "... naming the emulator where guest-init mounts it");
	free(bin); free(line); free(binpath); free(interp); free(want);

	t_is(ctr_emulator_mount(root, &img, &m, &n, &e), 0, "second image");
	t_is(n, 2, "... appended");
	t_is(stat(m[1].host, &st2), 0, "same disk");
	t_ok(strcmp(m[0].host, m[1].host) == 0 && st1.st_ino == st2.st_ino, "cached, not rebuilt");
	ctr_mounts_free(m, n);
	oci_platform_free(&host);
}

int main(void)
{
	char root[] = "/tmp/ucrt-emu-XXXXXX";
	if (!mkdtemp(root))
		t_skip_all("mkdtemp failed");
	char *bindir = xasprintf("%s/bin", root);
	mkdir(bindir, 0755);
	static const char *const names[] = { "aarch64", "x86_64" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *p = xasprintf("%s/qemu-%s-static", bindir, names[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
		if (fd < 0 || write(fd, "fake emulator\n", 14) != 14)
			t_skip_all("cannot write a fake emulator");
		close(fd);
		free(p);
	}
	setenv("UCRT_QEMU_USER_DIR", bindir, 1);
	probe(bindir);
	binfmt();
	disk(root, bindir);
	char *cmd = xasprintf("rm -rf %s", root);
	if (system(cmd) != 0)
		t_diag("cleanup failed");
	free(cmd);
	free(bindir);
	return t_done();
}
