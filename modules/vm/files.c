/* The files QEMU reads and writes, opened by ucrt and inherited, so that
 * QEMU (an unprivileged user when ucrt is root) needs no right on any path
 * and cannot be talked into opening another one:
 *  - disks: -add-fd into an fd set, -drive file=/dev/fdset/N (QEMU dups
 *    the fd whose access mode fits; an image disk is only ever open
 *    read-only, a writable disk has a read-only and a read-write fd); an overlay's backing image the same way, named in the
 *    drive's options so that QEMU never opens the name in the header;
 *  - the kernel and initramfs: -kernel /proc/self/fd/N (QEMU 7.2 loads
 *    them with fopen, not through fd sets: the file itself must be
 *    readable by QEMU's user, which vm_host_probe checks);
 *  - 9p shares: path=/proc/self/fd/N, a directory fd; what lies inside is
 *    accessed with QEMU's user's rights. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "util.h"
#include "vm-internal.h"

bool vm_disk_rw(const struct vm_disk *d)
{
	return !d->readonly && !d->snapshot;
}

unsigned vm_fd_disk(const struct vm_config *c, unsigned i)
{
	unsigned fd = VM_FD_FILES;

	for (unsigned j = 0; j < i && j < VM_MAX_DISKS; j++)
		fd += 1 + vm_disk_rw(&c->disks[j]) + !!c->disks[j].backing;
	return fd;
}

unsigned vm_fd_backing(const struct vm_config *c, unsigned i)
{
	return vm_fd_disk(c, i) + vm_disk_rw(&c->disks[i]);
}

unsigned vm_fd_share(const struct vm_config *c, unsigned i)
{
	return vm_fd_disk(c, c->ndisks) + i;
}

unsigned vm_fd_ram(const struct vm_config *c)
{
	return vm_fd_share(c, c->nshares < VM_MAX_SHARES ? c->nshares : VM_MAX_SHARES);
}

unsigned vm_fd_migrate(const struct vm_config *c)
{
	return vm_fd_ram(c) + 1;
}

/* Template RAM (docs/vm.md, Templates): QEMU 7.2 re-opens mem-path
 * read-write even for a private mapping, so through /proc/self/fd/N the
 * file itself must be writable by QEMU's user: it is QEMU's user's when
 * ucrt drops to one (the QEMUs of all VMs are that same user anyway). A
 * template's file is created here at its size. */
static int vm_ram_open(const struct vm_host *h, const struct vm_config *c, int *fds, struct err *err)
{
	uint64_t size = (uint64_t)(c->mem_mib ? c->mem_mib : VM_DEFAULT_MEM_MIB) << 20;
	int f = open(c->mem_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (c->mem_shared ? O_CREAT : 0), 0600);

	if (f < 0)
		return err_setx(err, errno, "opening the template RAM file %s", c->mem_path);
	if ((c->mem_shared && ftruncate(f, (off_t)size) < 0) || (h->drop && fchown(f, h->uid, h->gid) < 0)) {
		int r = err_setx(err, errno, "template RAM file %s", c->mem_path);
		close(f);
		return r;
	}
	fds[vm_fd_ram(c) - VM_FD_FIRST_FREE] = f;
	return 0;
}

void vm_files_close(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int vm_file_open(int *fds, unsigned fd, const char *path, int flags, const char *what,
			struct err *err)
{
	int f = open(path, flags | O_CLOEXEC | O_NOCTTY);

	if (f < 0)
		return err_setx(err, errno, "opening %s %s", what, path);
	fds[fd - VM_FD_FIRST_FREE] = f;
	return 0;
}

int vm_files_open(const struct vm_host *h, const struct vm_config *c, int *fds, unsigned *n,
		  struct err *err)
{
	unsigned ndisks = c->ndisks < VM_MAX_DISKS ? c->ndisks : VM_MAX_DISKS;
	unsigned nshares = c->nshares < VM_MAX_SHARES ? c->nshares : VM_MAX_SHARES;
	int r;

	*n = (c->mem_path ? vm_fd_migrate(c) + 1 : vm_fd_share(c, nshares)) - VM_FD_FIRST_FREE;
	for (unsigned i = 0; i < VM_MAX_FILES; i++)
		fds[i] = -1;
	r = vm_file_open(fds, VM_FD_KERNEL, h->kernel.path, O_RDONLY, "kernel", err);
	if (r == 0 && h->initrd)
		r = vm_file_open(fds, VM_FD_INITRD, h->initrd, O_RDONLY, "initramfs", err);
	for (unsigned i = 0; r == 0 && i < ndisks; i++) {
		const struct vm_disk *d = &c->disks[i];

		/* snapshot=on opens the disk read-only below a temporary
		 * overlay, as QEMU does for any backing file. A writable disk
		 * gets a read-only twin in its set: QEMU opens it read-only
		 * first and asks for write access once the device attaches. */
		r = vm_file_open(fds, vm_fd_disk(c, i), d->path, O_RDONLY, "disk", err);
		if (r == 0 && vm_disk_rw(d))
			r = vm_file_open(fds, vm_fd_disk(c, i) + 1, d->path, O_RDWR, "disk", err);
		if (r == 0 && d->backing)
			r = vm_file_open(fds, vm_fd_backing(c, i) + 1, d->backing, O_RDONLY, "backing image", err);
	}
	for (unsigned i = 0; r == 0 && i < nshares; i++)
		r = vm_file_open(fds, vm_fd_share(c, i), c->shares[i].path, O_PATH | O_DIRECTORY, "shared directory",
				 err);
	if (r == 0 && c->mem_path)
		r = vm_ram_open(h, c, fds, err);
	if (r == 0 && c->mem_path && c->incoming) {
		int f = fcntl(c->migrate_fd, F_DUPFD_CLOEXEC, 3);
		if (f < 0)
			r = err_setx(err, errno, "the template's state fd");
		else
			fds[vm_fd_migrate(c) - VM_FD_FIRST_FREE] = f;
	}
	if (r < 0)
		vm_files_close(fds, VM_MAX_FILES);
	return r;
}
