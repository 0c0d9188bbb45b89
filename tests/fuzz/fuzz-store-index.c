/* libFuzzer target: the store's name index (images/index.json) as a crash
 * or another tool left it. Any bytes: opening the store and listing its
 * images either works or fails with an error, and every listed name and
 * digest is a string. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "store/store.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store *s = NULL;
	struct store_image *v = NULL;
	size_t n = 0;
	struct err e = { 0 };

	if (!root[0]) {
		snprintf(root, sizeof(root), "/tmp/ucrt-fuzz-index.%d", (int)getpid());
		if (store_open(&s, root, &e) < 0)
			abort();
		store_close(s);
		s = NULL;
	}
	_cleanup_free_ char *path = xasprintf("%s/images/index.json", root);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	if (store_open(&s, root, &e) < 0)
		return 0;
	if (store_image_list(s, &v, &n, &e) == 0) {
		for (size_t i = 0; i < n; i++)
			if (!v[i].name || !v[i].digest)
				abort();
		store_images_free(v, n);
	}
	store_close(s);
	return 0;
}
