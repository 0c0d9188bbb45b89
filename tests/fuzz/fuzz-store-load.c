/* `ucrt image load` input: an OCI image-layout tar (maybe compressed) from
 * anywhere. Any bytes: no crash, no blob committed that does not hash to
 * its name, and whatever got named is removed again for the next input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "str.h"
#include "store/store.h"
#include "util.h"

static struct store *fz_store;
static char fz_root[] = "/tmp/ucrt-fuzz-load-XXXXXX";

static void fz_cleanup(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", fz_root);
}

static void fz_open(void)
{
	struct err e = { 0 };
	log_set_level(LOG_ERROR);
	if (!mkdtemp(fz_root) || store_open(&fz_store, fz_root, &e) < 0) {
		fprintf(stderr, "store: %s\n", e.msg);
		abort();
	}
	atexit(fz_cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = { 0 };
	char **names = NULL;

	if (!fz_store)
		fz_open();
	int fd = memfd_create("layout", MFD_CLOEXEC);
	if (fd < 0 || write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	store_load(fz_store, fd, "fuzz.example/img", &names, &e);
	close(fd);
	for (char **n = names; n && *n; n++)
		store_image_remove(fz_store, *n, &e);
	strv_free(names);
	/* Every blob committed must verify. */
	char **blobs = NULL;
	store_blob_list(fz_store, &blobs);
	for (char **b = blobs; b && *b; b++) {
		char *d = NULL;
		size_t len;
		if (store_blob_read(fz_store, *b, 64u << 20, &d, &len, &e) < 0)
			abort();
		free(d);
		store_blob_remove(fz_store, *b);
	}
	strv_free(blobs);
	return 0;
}
