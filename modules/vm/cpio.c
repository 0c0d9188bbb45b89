/* newc ("070701") cpio writer for the initramfs: the only archive format the
 * kernel's initramfs unpacker needs, uncompressed so the kernel spends no
 * time inflating it (and needs no RD_* decompressor). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "vm-internal.h"

void vm_cpio_init(struct vm_cpio *c, FILE *f)
{
	c->f = f;
	c->ino = 1;
	c->error = 0;
}

static void vm_cpio_put(struct vm_cpio *c, const void *p, size_t n)
{
	if (c->error || n == 0)
		return;
	if (fwrite(p, 1, n, c->f) != n)
		c->error = -(errno ? errno : EIO);
}

/* Header and data are each padded to a multiple of 4 bytes. */
static void vm_cpio_pad(struct vm_cpio *c, size_t n)
{
	static const char zero[4];

	if (n % 4)
		vm_cpio_put(c, zero, 4 - n % 4);
}

static void vm_cpio_entry(struct vm_cpio *c, const char *name, unsigned mode,
			  unsigned nlink, size_t size, unsigned rmaj, unsigned rmin)
{
	char hdr[111];
	size_t namesz = strlen(name) + 1;

	if (size > UINT32_MAX) {
		c->error = c->error ? c->error : -EFBIG;
		return;
	}
	/* Fields: ino mode uid gid nlink mtime filesize devmajor devminor
	 * rdevmajor rdevminor namesize check. mtime 0 keeps the archive
	 * reproducible, so its cache key is its inputs. */
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 c->ino++, mode, 0u, 0u, nlink, 0u, (unsigned)size, 0u, 0u, rmaj, rmin,
		 (unsigned)namesz, 0u);
	vm_cpio_put(c, hdr, 110);
	vm_cpio_put(c, name, namesz);
	vm_cpio_pad(c, 110 + namesz);
}

void vm_cpio_dir(struct vm_cpio *c, const char *name, unsigned mode)
{
	vm_cpio_entry(c, name, S_IFDIR | (mode & 07777), 2, 0, 0, 0);
}

void vm_cpio_file(struct vm_cpio *c, const char *name, unsigned mode, const void *data, size_t len)
{
	vm_cpio_entry(c, name, S_IFREG | (mode & 07777), 1, len, 0, 0);
	vm_cpio_put(c, data, len);
	vm_cpio_pad(c, len);
}

void vm_cpio_node(struct vm_cpio *c, const char *name, unsigned mode, unsigned major, unsigned minor)
{
	vm_cpio_entry(c, name, mode, 1, 0, major, minor);
}

int vm_cpio_finish(struct vm_cpio *c)
{
	vm_cpio_entry(c, "TRAILER!!!", 0, 1, 0, 0, 0);
	if (!c->error && fflush(c->f) != 0)
		c->error = -(errno ? errno : EIO);
	return c->error;
}
