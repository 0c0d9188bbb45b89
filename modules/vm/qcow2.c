/* A container's copy-on-write disk: an empty qcow2 (version 3) whose
 * backing file is the shared raw image disk. Written directly (four
 * clusters) instead of running qemu-img: starting a container copies
 * nothing and spawns nothing. Format: QEMU's docs/interop/qcow2.txt. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "util.h"
#include "vm-internal.h"

#define QCOW2_MAGIC 0x514649fbu		/* "QFI\xfb" */
#define QCOW2_CLUSTER_BITS 16u
#define QCOW2_CLUSTER (1u << QCOW2_CLUSTER_BITS)
#define QCOW2_HDR_LEN 104u		/* version 3 header without optional fields */
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_MAX_BACKING 1023u		/* QEMU's limit on the backing name */

static void be32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void be64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }

int vm_overlay_create(const char *path, const char *backing, struct err *err)
{
	/* Clusters: 0 header, 1 refcount table, 2 refcount block, 3.. L1. */
	const uint64_t rt_off = 1 * QCOW2_CLUSTER, rb_off = 2 * QCOW2_CLUSTER, l1_off = 3 * QCOW2_CLUSTER;
	size_t blen = strlen(backing), off;
	uint64_t size, l1_size, l1_clusters, nclusters;
	_cleanup_free_ uint8_t *img = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (backing[0] != '/')
		return err_set(err, EINVAL, "%s: backing file must be an absolute path", backing);
	if (blen > QCOW2_MAX_BACKING)
		return err_set(err, ENAMETOOLONG, "%s: backing file name too long", backing);
	if (stat(backing, &st) < 0)
		return err_setx(err, errno, "%s", backing);
	size = (uint64_t)st.st_size;
	/* Each L1 entry maps one L2 table: 8192 entries of 64 KiB. */
	l1_size = (size + (1ull << 29) - 1) >> 29;
	if (l1_size == 0)
		l1_size = 1;
	l1_clusters = (l1_size * 8 + QCOW2_CLUSTER - 1) / QCOW2_CLUSTER;
	nclusters = 3 + l1_clusters;
	/* One refcount block of 16-bit counts covers 32768 clusters. */
	if (nclusters > QCOW2_CLUSTER / 2)
		return err_set(err, EFBIG, "%s: image too large for an overlay", backing);

	img = xcalloc(nclusters, QCOW2_CLUSTER);
	be32(img + 0, QCOW2_MAGIC);
	be32(img + 4, 3);			/* version */
	be32(img + 20, QCOW2_CLUSTER_BITS);
	be64(img + 24, size);
	be32(img + 32, 0);			/* no encryption */
	be32(img + 36, (uint32_t)l1_size);
	be64(img + 40, l1_off);
	be64(img + 48, rt_off);
	be32(img + 56, 1);			/* refcount table clusters */
	be32(img + 96, 4);			/* refcount_order: 16-bit */
	be32(img + 100, QCOW2_HDR_LEN);
	/* Header extension: the backing file's format, so QEMU does not
	 * probe it (probing raw is refused for writable images). */
	off = QCOW2_HDR_LEN;
	be32(img + off, QCOW2_EXT_BACKING_FMT);
	be32(img + off + 4, 3);
	memcpy(img + off + 8, "raw", 3);
	off += 8 + 8;				/* data padded to 8 bytes */
	off += 8;				/* end-of-extensions: type 0, len 0 */
	be64(img + 8, off);			/* backing file name offset */
	be32(img + 16, (uint32_t)blen);
	memcpy(img + off, backing, blen);

	be64(img + rt_off, rb_off);
	for (uint64_t c = 0; c < nclusters; c++) {
		img[rb_off + 2 * c] = 0;
		img[rb_off + 2 * c + 1] = 1;	/* big-endian 16-bit 1 */
	}

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_setx(err, errno, "creating %s", path);
	r = write_all(fd, img, nclusters * QCOW2_CLUSTER);
	if (r < 0) {
		unlink(path);
		return err_setx(err, r, "writing %s", path);
	}
	return 0;
}
