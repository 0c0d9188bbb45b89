/* Writing the picture, and two small helpers of the command: a program on
 * PATH, the last line of a captured output. Blocking: used before and
 * after the measurements, never while they run. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench/bench.h"
#include "buf.h"
#include "err.h"
#include "str.h"
#include "util.h"

extern char **environ;

bool bench_on_path(const char *prog)
{
	const char *path = getenv("PATH");
	_cleanup_strv_ char **dirs = str_split(path ? path : "/usr/bin:/bin", ':');

	for (char **d = dirs; *d; d++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", **d ? *d : ".", prog);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

void bench_tail_line(int fd, char *out, size_t cap)
{
	char buf[4096];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = size > 0 ? pread(fd, buf, sizeof(buf) - 1, from) : 0;
	char *end, *start;
	size_t k;

	if (!cap)
		return;
	out[0] = 0;
	if (n <= 0)
		return;
	buf[n] = 0;
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = 0;
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	k = MIN(strlen(start), cap - 1);
	memcpy(out, start, k);
	out[k] = 0;
}

static int bench_write_file(const char *path, const struct buf *b, struct err *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r;

	if (fd < 0)
		return err_setx(err, errno, "writing %s", path);
	if ((r = write_all(fd, b->data, b->len)) < 0)
		return err_setx(err, -r, "writing %s", path);
	return 0;
}

int bench_plot_write(const struct bench_report *r, const char *file, const char *tmpdir,
		     struct err *err)
{
	_cleanup_buf_ struct buf svg = BUF_INIT;
	_cleanup_free_ char *tmp = NULL;
	char *argv[] = { "rsvg-convert", "-f", "png", "-o", (char *)file, NULL, NULL };
	pid_t pid;
	int ret, st;

	bench_report_svg(r, &svg);
	if (!str_endswith(file, ".png"))
		return bench_write_file(file, &svg, err);
	if (!bench_on_path("rsvg-convert"))
		return err_set(err, ENOENT, "%s: rsvg-convert not found (apt-get install librsvg2-bin), or use .svg",
			       file);
	tmp = xasprintf("%s/plot.svg", tmpdir);
	if ((ret = bench_write_file(tmp, &svg, err)) < 0)
		return ret;
	argv[5] = tmp;
	ret = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (ret == 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		ret = 0;
	else
		ret = err_set(err, EIO, "%s: rsvg-convert failed", file);
	unlink(tmp);
	return ret;
}
