/* Private to modules/store. */
#ifndef UCRT_STORE_INTERNAL_H
#define UCRT_STORE_INTERNAL_H

#include "store.h"

enum store_dir { STORE_ROOT, STORE_BLOBS, STORE_INGEST, STORE_IMAGES, STORE_ROOTFS, STORE_CONTAINERS };

struct store {
	char *root;
	int fds[STORE_CONTAINERS + 1];	/* indexed by enum store_dir */
	int lock_fd;			/* store_lock(), -1 when not held */
	bool defer_dir_sync;		/* store_defer_dir_sync() */
	bool blobs_dirty;		/* renames into blobs/ not yet synced */
};

/* Open (creating) dirfd/name and flock it with op (LOCK_SH/LOCK_EX,
 * optionally LOCK_NB -> -EBUSY). Returns the locked fd. */
int store_flock_file(int dirfd, const char *name, int op, struct err *err);

#endif
