/* What QEMU is handed instead of paths (files.c) and who it runs as
 * (user.c): every file opened in the slot the command line names, with
 * the access mode it needs and no more; the user resolved from a name, a
 * number, "root" or nothing; an unknown one refused by name. */
#include "tests/lib/tap.h"
#include "t-vm.h"
#include "vm/vm-internal.h"

#include <pwd.h>

static int t_accmode(int fd)
{
	return fcntl(fd, F_GETFL) & O_ACCMODE;
}

static bool t_same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static char *t_file(const char *name)
{
	char *p = xasprintf("%s/%s", t_tmpdir(), name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
	return p;
}

static void t_files(void)
{
	_cleanup_free_ char *k = t_file("vmlinux"), *i = t_file("initrd"), *img = t_file("img.ext4");
	_cleanup_free_ char *ovl = t_file("over.qcow2"), *vol = t_file("vol.ext4");
	_cleanup_free_ char *dir = xasprintf("%s/share", t_tmpdir());
	struct vm_host h = { .kernel = { .path = k }, .initrd = i };
	struct vm_config c = {
		.ndisks = 2,
		.disks = { { .path = ovl, .qcow2 = true, .backing = img }, { .path = vol, .readonly = true } },
		.nshares = 1,
		.shares = { { .tag = "ucrt0", .path = dir } },
	};
	int fds[VM_MAX_FILES];
	unsigned n = 0;
	struct err e = { 0 };
	int before = t_count_fds();

	mkdir(dir, 0755);
	t_is(vm_fd_disk(&c, 0), 10u, "the first disk's set starts at fd 10");
	t_is(vm_fd_backing(&c, 0), 11u, "a writable disk has two fds (10, 11)");
	t_is(vm_fd_disk(&c, 1), 13u, "its backing image is fd 12, the next disk fd 13");
	t_is(vm_fd_share(&c, 0), 14u, "the share's directory follows: fd 14");
	t_is(vm_files_open(&h, &c, fds, &n, &e), 0, "opening them");
	t_is(n, 7u, "seven slots from fd 8");
	t_ok(t_same_file(fds[VM_FD_KERNEL - 8], k) && t_accmode(fds[0]) == O_RDONLY, "kernel, read-only");
	t_ok(t_same_file(fds[VM_FD_INITRD - 8], i) && t_accmode(fds[1]) == O_RDONLY, "initramfs, read-only");
	t_ok(t_same_file(fds[2], ovl) && t_accmode(fds[2]) == O_RDONLY, "the overlay, read-only ...");
	t_ok(t_same_file(fds[3], ovl) && t_accmode(fds[3]) == O_RDWR, "... and read-write");
	t_ok(t_same_file(fds[4], img) && t_accmode(fds[4]) == O_RDONLY, "the image disk behind it: read-only only");
	t_ok(t_same_file(fds[5], vol) && t_accmode(fds[5]) == O_RDONLY, "a read-only disk: read-only only");
	t_ok(t_same_file(fds[6], dir) && (fcntl(fds[6], F_GETFL) & O_PATH), "the share: an O_PATH directory fd");
	for (unsigned j = 0; j < n; j++)
		t_ok(fcntl(fds[j], F_GETFD) & FD_CLOEXEC, "fd %u is close-on-exec in ucrt", j + 8);
	vm_files_close(fds, n);
	t_is(t_count_fds(), before, "closing leaves no fd behind");

	c.disks[1].path = "/nonexistent/disk";
	t_is(vm_files_open(&h, &c, fds, &n, &e), -ENOENT, "a missing disk fails");
	t_ok(strstr(err_msg(&e), "/nonexistent/disk") != NULL, "... naming it: %s", err_msg(&e));
	t_is(t_count_fds(), before, "... and nothing stays open");
}

static void t_user(void)
{
	struct vm_host h = { .accel = VM_ACCEL_TCG };
	struct err e = { 0 };
	struct passwd *pw;

	if (geteuid() != 0) {
		t_is(vm_qemu_user_resolve(&h, NULL, false, &e), 0, "not root: nothing to resolve");
		t_ok(!h.drop && h.uid == geteuid(), "QEMU runs as the invoking user");
		t_is(vm_qemu_user_resolve(&h, "root", false, &e), -EPERM, "another user is refused");
		return;
	}
	t_is(vm_qemu_user_resolve(&h, "root", false, &e), 0, "root: 'root' is accepted");
	t_ok(!h.drop && h.uid == 0, "... and keeps QEMU as root (no drop)");
	t_is(vm_qemu_user_resolve(&h, NULL, true, &e), 0, "a share with real owners: no user named");
	t_ok(!h.drop && h.uid == 0 && h.root_caps == ((1ull << 0) | (1ull << 1) | (1ull << 2) | (1ull << 3) |
						       (1ull << 4) | (1ull << 27)),
	     "... QEMU stays root with chown, dac_override, dac_read_search, fowner, fsetid, mknod only");
	t_is(vm_qemu_user_resolve(&h, "54321", true, &e), 0, "... unless a user is named");
	t_ok(h.drop && h.root_caps == 0, "... then that user, no capability");
	t_is(vm_qemu_user_resolve(&h, "54321", false, &e), 0, "a number without passwd entry");
	t_ok(h.drop && h.uid == 54321 && h.gid == 54321 && h.kvm_gid == (gid_t)-1,
	     "... is uid and gid, no supplementary group under TCG");
	t_is(vm_qemu_user_resolve(&h, "no-such-user-t19", false, &e), -ENOENT, "an unknown name fails");
	t_ok(strstr(err_msg(&e), "no-such-user-t19") && strstr(err_msg(&e), "--qemu-user"),
	     "... naming it and the way out: %s", err_msg(&e));
	pw = getpwnam(VM_QEMU_USER);
	if (!pw) {
		t_is(vm_qemu_user_resolve(&h, NULL, false, &e), -ENOENT, "default without " VM_QEMU_USER ": refused");
		return;
	}
	t_is(vm_qemu_user_resolve(&h, NULL, false, &e), 0, "the default: " VM_QEMU_USER);
	t_ok(h.drop && h.uid == pw->pw_uid && h.gid == pw->pw_gid && strcmp(h.user, VM_QEMU_USER) == 0,
	     "... its uid %u and gid %u", (unsigned)h.uid, (unsigned)h.gid);
	_cleanup_free_ char *secret = xasprintf("%s/secret", t_tmpdir()), *pub = xasprintf("%s/pub", t_tmpdir());
	int fd = open(secret, O_WRONLY | O_CREAT, 0600);
	close(fd);
	fd = open(pub, O_WRONLY | O_CREAT, 0644);
	close(fd);
	t_ok(!vm_user_can_read(&h, secret) && vm_user_can_read(&h, pub),
	     "a root-only file is not readable by it, a world-readable one is");
}

int main(void)
{
	t_files();
	t_user();
	return t_done();
}
