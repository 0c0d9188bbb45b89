/* libFuzzer target: --since/--until times (ctr_log_time_parse) and an
 * output.idx index of arbitrary bytes read against a small output.log
 * (the index is file content: a reader must not trust it). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/container.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];
static const char *id = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

static void fuzz_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[80], path[256];
	struct ctr_log_reader *r;
	struct ctr_log_piece pc;
	int64_t t;

	snprintf(s, sizeof(s), "%.*s", (int)(size < 79 ? size : 79), (const char *)data);
	ctr_log_time_parse(s, 1700000000ll * 1000000000ll, &t);
	if (!root[0]) {
		atexit(fuzz_cleanup);
		snprintf(root, sizeof(root), "/tmp/ucrt-fuzz-log.%d", (int)getpid());
		snprintf(path, sizeof(path), "%s/containers/%s", root, id);
		mkdir_p_at(AT_FDCWD, path, 0700);
		snprintf(path, sizeof(path), "%s/containers/%s/output.log", root, id);
		write_file_atomic_at(AT_FDCWD, path, "a\nbb\nccc\n", 9, 0600);
	}
	snprintf(path, sizeof(path), "%s/containers/%s/output.idx", root, id);
	write_file_atomic_at(AT_FDCWD, path, data, size, 0600);
	if (ctr_log_reader_open(root, id, &r) == 0) {
		size_t total = 0;
		while (ctr_log_next(r, size & 1, &pc) > 0) {
			total += pc.len;
			if (pc.line->chan < 1 || pc.line->chan > 2 || total > 9)
				abort();
		}
		ctr_log_reader_free(r);
	}
	return 0;
}
