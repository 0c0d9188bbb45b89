/* modules/volume: named volumes, data that outlives containers.
 *
 * A volume is an ext4 disk image in the store, <root>/volumes/<name>/
 * disk.ext4: sparse, formatted by ucrt itself (modules/ext4, no mkfs and no
 * mount), attached to a VM as an extra virtio-blk device. ext4 is not a
 * cluster filesystem, so a volume is in use read-write by one VM at a time
 * or read-only by any number: whoever attaches it holds a flock on the disk
 * for as long as the VM runs (exclusive for read-write, shared for
 * read-only), and a conflicting attach or a removal fails at once with
 * -EBUSY. docs/run.md (Data) describes the user side. */
#ifndef UCRT_VOLUME_H
#define UCRT_VOLUME_H

#include <stdbool.h>
#include <stdint.h>

struct err;

#define VOLUME_DEFAULT_SIZE (8ULL << 30)	/* sparse: costs what is written */
#define VOLUME_MAX_NAME 64

struct volume {
	char *name;
	char *disk;		/* absolute path of disk.ext4 */
	uint64_t size;		/* apparent size of the disk in bytes */
	uint64_t used;		/* bytes allocated on the host */
	int64_t created;	/* unix seconds */
};

/* Docker's rule: [A-Za-z0-9][A-Za-z0-9_.-]*, at most VOLUME_MAX_NAME. */
bool volume_name_ok(const char *name);

/* Make volume name of size bytes (0: VOLUME_DEFAULT_SIZE), empty or with
 * the files of a tar layer (plain, gzip or zstd) when from_tar is set.
 * Built in a temp directory and renamed into place: a failure leaves
 * nothing. -EEXIST when it exists. */
int volume_create(const char *root, const char *name, uint64_t size, const char *from_tar,
		  struct err *err);
/* -ENOENT (with err) when there is no such volume. */
int volume_get(const char *root, const char *name, struct volume *out, struct err *err);
void volume_free(struct volume *v);
/* Names, sorted; *names is NULL-terminated (NULL when there are none). */
int volume_list(const char *root, char ***names, struct err *err);
/* -EBUSY when a VM has it attached. */
int volume_remove(const char *root, const char *name, struct err *err);

/* Take the attach lock of a disk image for a VM (see above): *fd holds it
 * until closed. -EBUSY with err naming what holds it. */
int volume_lock(const char *disk, bool readonly, int *fd, struct err *err);
/* Is any VM using it? */
bool volume_in_use(const char *disk);

#endif
