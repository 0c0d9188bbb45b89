/* libFuzzer target: the -v, --mount and --tmpfs parsers on arbitrary
 * strings. What parses must name an absolute, normalised target without
 * "." or ".." components, and tmpfs options only of the validated form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct ctr_mount *m)
{
	const char *d = m->dst;
	size_t n = strlen(d);

	if (d[0] != '/' || n < 2 || d[n - 1] == '/' || strstr(d, "//") || strstr(d, "/./") ||
	    strstr(d, "/../") || (n >= 2 && strcmp(d + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(d + n - 3, "/..") == 0))
		abort();
	if (m->type == CTR_MOUNT_TMPFS && (m->src || !m->opts || strspn(m->opts, "sizemode=0123456789,") != strlen(m->opts)))
		abort();
	if (m->type != CTR_MOUNT_TMPFS && (!m->src || !*m->src))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct ctr_mount m;
	struct err e = { 0 };

	if (ctr_mount_parse_v(s, &m, &e) == 0) {
		check(&m);
		ctr_mount_clear(&m);
	}
	if (ctr_mount_parse(s, &m, &e) == 0) {
		check(&m);
		ctr_mount_clear(&m);
	}
	if (ctr_mount_parse_tmpfs(s, &m, &e) == 0) {
		check(&m);
		ctr_mount_clear(&m);
	}
	free(s);
	return 0;
}
