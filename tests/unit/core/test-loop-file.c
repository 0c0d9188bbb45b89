/* File I/O on the reactor: positional write/writev (also the IOSQE_ASYNC
 * variant), readv back, fsync, and loop_submit starting I/O before the
 * round ends (checked by the data reaching the file while the caller has
 * not yet run the loop). */
#include "tests/lib/tap.h"
#include "err.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int t_res[8];
static int t_calls;

static void t_done_cb(struct loop_op *op, int res, uint32_t flags)
{
	(void)flags;
	t_res[(intptr_t)op->data] = res;
	t_calls++;
}

int main(void)
{
	struct loop *l;
	struct err e = { 0 };
	int fds = t_count_fds();

	if (loop_new(&l, 64, &e) < 0)
		t_skip_all(err_msg(&e));
	char path[] = "/tmp/ucrt-loop-file-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	t_ok(fd >= 0, "temp file");
	unlink(path);

	static char a[4096], b[8192], back[4096 + 8192];
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	struct loop_op w1 = { .cb = t_done_cb, .data = (void *)0 };
	struct loop_op w2 = { .cb = t_done_cb, .data = (void *)1 };
	struct iovec iov[2] = { { b, 4096 }, { b + 4096, 4096 } };
	t_is(loop_write(l, &w1, fd, a, sizeof(a), 0), 0, "queue a positional write");
	t_is(loop_writev_async(l, &w2, fd, iov, 2, sizeof(a)), 0, "queue an async writev");
	t_is(loop_writev_async(l, &w2, fd, iov, 2, 0), -EBUSY, "an op in flight cannot be queued twice");
	t_ok(loop_submit(l) >= 0, "loop_submit hands them to the kernel");
	/* Without running the loop: the data lands once the kernel is done. */
	struct stat st = { 0 };
	for (int i = 0; i < 2000 && st.st_size < (off_t)(sizeof(a) + sizeof(b)); i++) {
		fstat(fd, &st);
		if (st.st_size < (off_t)(sizeof(a) + sizeof(b)))
			usleep(1000);
	}
	t_is(st.st_size, (off_t)(sizeof(a) + sizeof(b)), "submitted writes reached the file before any loop round");
	t_is(t_calls, 0, "no callback ran outside the loop");
	while (t_calls < 2)
		loop_run_once(l, true);
	t_is(t_res[0], (int)sizeof(a), "write result");
	t_is(t_res[1], (int)sizeof(b), "async writev result");

	struct loop_op r1 = { .cb = t_done_cb, .data = (void *)2 };
	struct loop_op f1 = { .cb = t_done_cb, .data = (void *)3 };
	struct iovec riov[2] = { { back, 4096 }, { back + 4096, 8192 } };
	t_is(loop_readv(l, &r1, fd, riov, 2, 0), 0, "queue a readv");
	t_is(loop_fsync(l, &f1, fd, true), 0, "queue an fdatasync");
	t_is(loop_run(l), 0, "loop_run");
	t_is(t_res[2], (int)sizeof(back), "readv result");
	t_ok(memcmp(back, a, sizeof(a)) == 0 && memcmp(back + sizeof(a), b, sizeof(b)) == 0,
	     "read back what was written");
	t_is(t_res[3], 0, "fdatasync result");

	struct loop_op bad = { .cb = t_done_cb, .data = (void *)4 };
	t_is(loop_writev_async(l, &bad, -1, iov, 1, 0), 0, "queue a write on a bad fd");
	t_is(loop_run(l), 0, "loop_run");
	t_is(t_res[4], -EBADF, "bad fd: -EBADF in the callback");

	close(fd);
	loop_free(l);
	t_is(t_count_fds(), fds, "no fd leaked");
	return t_done();
}
