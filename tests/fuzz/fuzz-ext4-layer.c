/* Fuzz the layer applier: arbitrary bytes (plain, gzip or zstd, detected by
 * magic) as a layer into a small sparse temp image. Must never crash or
 * leak; errors are fine. */
#include "ext4/ext4.h"
#include "err.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct mem {
	const uint8_t *p;
	size_t len, pos;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct mem *m = arg;
	size_t n = MIN(len, m->len - m->pos);
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ucrt-fuzz-ext4-%d.img", (int)getpid());
	struct ext4w_opts o = {
		.max_entry_size = 4 << 20, .max_layer_bytes = 16 << 20, .max_ratio = 200,
	};
	struct err e = { 0 };
	struct ext4w *w;
	if (ext4w_create(path, 32 << 20, &o, &w, &e) < 0)
		return 0;
	struct mem m = { data, size, 0 };
	struct ext4w_source src = { .read = mem_read, .arg = &m, .name = "fuzz" };
	/* Apply twice: the second pass exercises replacement and whiteouts
	 * against the first. */
	if (ext4w_apply_layer(w, &src, &e) == 0) {
		m.pos = 0;
		if (ext4w_apply_layer(w, &src, &e) == 0) {
			ext4w_finish(w, &e);
			unlink(path);
			return 0;
		}
	}
	ext4w_abort(w);
	return 0;
}
