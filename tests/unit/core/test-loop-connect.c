/* Sockets on the reactor: loop_accept and loop_connect meet on a unix
 * socket, a byte goes each way with loop_send/loop_recv, and a connect to
 * a path nobody listens on reports -ECONNREFUSED or -ENOENT. */
#include "tests/lib/tap.h"
#include "err.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int t_res[8];
static int t_calls;

static void t_cb(struct loop_op *op, int res, uint32_t flags)
{
	(void)flags;
	t_res[(intptr_t)op->data] = res;
	t_calls++;
}

static void t_wait(struct loop *l, int calls)
{
	while (t_calls < calls && loop_run_once(l, true) >= 0)
		;
}

int main(void)
{
	struct loop *l;
	struct err e = { 0 };
	int fds = t_count_fds();

	if (loop_new(&l, 64, &e) < 0)
		t_skip_all(err_msg(&e));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/ucrt-loop-connect-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t_ok(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 4) == 0, "listening");
	int cs = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	struct loop_op acc = { .cb = t_cb, .data = (void *)0 };
	struct loop_op con = { .cb = t_cb, .data = (void *)1 };
	t_is(loop_accept(l, &acc, ls, NULL, NULL, SOCK_CLOEXEC), 0, "queue accept");
	t_is(loop_connect(l, &con, cs, (struct sockaddr *)&sa, sizeof(sa)), 0, "queue connect");
	t_wait(l, 2);
	t_ok(t_res[0] >= 0, "accepted fd %d", t_res[0]);
	t_is(t_res[1], 0, "connected");
	int as = t_res[0];

	char in = 0, out = 'x';
	struct loop_op snd = { .cb = t_cb, .data = (void *)2 };
	struct loop_op rcv = { .cb = t_cb, .data = (void *)3 };
	t_is(loop_recv(l, &rcv, as, &in, 1, 0), 0, "queue recv");
	t_is(loop_send(l, &snd, cs, &out, 1, MSG_NOSIGNAL), 0, "queue send");
	t_wait(l, 4);
	t_ok(t_res[2] == 1 && t_res[3] == 1 && in == 'x', "a byte from the connected side reached the accepted one");

	int bad = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un none = { .sun_family = AF_UNIX };
	snprintf(none.sun_path, sizeof(none.sun_path), "/tmp/ucrt-loop-connect-%d.none", (int)getpid());
	struct loop_op refused = { .cb = t_cb, .data = (void *)4 };
	t_is(loop_connect(l, &refused, bad, (struct sockaddr *)&none, sizeof(none)), 0, "queue a connect to nobody");
	t_wait(l, 5);
	t_ok(t_res[4] == -ENOENT || t_res[4] == -ECONNREFUSED, "connect to nobody fails (%s)", strerror(-t_res[4]));

	close(bad);
	close(as);
	close(cs);
	close(ls);
	unlink(sa.sun_path);
	loop_free(l);
	t_is(t_count_fds(), fds, "no fd leaked");
	return t_done();
}
