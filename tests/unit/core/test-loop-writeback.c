/* loop_writeback: sync_file_range(SYNC_FILE_RANGE_WRITE) on the reactor.
 * The written range leaves the page cache's dirty state once the device
 * took it (seen in /proc/meminfo's Dirty going down is too global on a
 * shared machine, so this checks the op's result and that an fsync after
 * it still succeeds), a bad fd fails with -EBADF, and a whole-file
 * request (len 0) is accepted. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

static int t_res = 1;

static void t_done_cb(struct loop_op *op, int res, uint32_t flags)
{
	t_res = res;
}

static int t_run(struct loop *l, int fd, uint64_t off, uint64_t len)
{
	struct loop_op op = { .cb = t_done_cb };

	t_res = 1;
	if (loop_writeback(l, &op, fd, off, len) < 0)
		return -1000;
	loop_run(l);
	return t_res;
}

int main(void)
{
	struct loop *l;
	struct err e = { 0 };
	char path[] = "/tmp/ucrt-writeback-XXXXXX";
	static char buf[1 << 20];

	if (loop_new(&l, 16, &e) < 0)
		t_skip_all(err_msg(&e));
	int fd = mkstemp(path);
	if (fd < 0)
		t_skip_all("mkstemp");
	unlink(path);
	t_plan(5);
	memset(buf, 'x', sizeof(buf));
	t_ok(pwrite(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf), "1 MiB written (dirty)");
	t_is(t_run(l, fd, 0, sizeof(buf)), 0, "writeback of the range: 0");
	t_is(t_run(l, fd, 0, 0), 0, "of the whole file (len 0): 0");
	t_is(fsync(fd), 0, "an fsync after it succeeds");
	t_is(t_run(l, 9999, 0, 4096), -EBADF, "a bad fd: -EBADF");
	close(fd);
	loop_free(l);
	return t_failed ? 1 : 0;
}
