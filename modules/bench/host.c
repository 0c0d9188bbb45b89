/* Host-side measurements read from /proc. These are blocking reads on the
 * reactor thread, deliberately: procfs answers from kernel memory (no
 * disk), and smaps_rollup costs ~1 ms for a 256 MiB guest. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "util.h"

/* Value of "Key:   123 kB" in a /proc file, or -errno. */
static long bench_proc_field(const char *path, const char *key)
{
	_cleanup_free_ char *text = NULL;
	size_t klen = strlen(key), len;
	int r = read_file_at(AT_FDCWD, path, 1 << 16, &text, &len);

	if (r < 0)
		return r;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtol(p + klen + 1, NULL, 10);
	}
	return -ENOENT;
}

long bench_pss_kib(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	return bench_proc_field(path, "Pss");
}

static bool bench_comm_is(pid_t pid, const char *comm)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	return read_file_at(AT_FDCWD, path, 64, &text, &len) == 0 &&
	       strncmp(text, comm, strlen(comm)) == 0;
}

pid_t bench_find_child(pid_t pid, const char *comm)
{
	char path[80];
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if ((r = read_file_at(AT_FDCWD, path, 1 << 16, &text, &len)) < 0)
		return r;
	for (char *p = text, *end; *p; p = end) {
		long c = strtol(p, &end, 10);
		if (end == p)
			break;
		if (c > 0 && bench_comm_is((pid_t)c, comm))
			return (pid_t)c;
	}
	return -ESRCH;
}

long bench_meminfo_kib(const char *field)
{
	return bench_proc_field("/proc/meminfo", field);
}
