/* 1,000 concurrent socketpair echo streams on one reactor: each client
 * sends 64 KiB in random-sized chunks (send), the echo side reads (read)
 * and writes back (writev), the client receives (recv) and checks every
 * byte. All streams are in flight at once. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

#define T_STREAMS 1000
#define T_BYTES (64 * 1024)

struct t_stream {
	unsigned idx;
	int cfd, sfd;
	uint32_t rng;
	/* client */
	struct loop_op c_send, c_recv;
	size_t sent, received;
	unsigned char *out, *in;
	bool c_done;
	/* echo side */
	struct loop_op s_read, s_write;
	unsigned char sbuf[4096];
	size_t s_len, s_off;
	struct iovec s_iov;
	bool s_done;
};

static struct loop *L;
static unsigned t_finished, t_errors, t_mismatch;

static uint32_t t_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void t_fail(struct t_stream *s, const char *what, int res)
{
	if (t_errors++ < 5)
		t_diag("stream %u: %s: %s", s->idx, what, strerror(-res));
}

static void t_check_done(struct t_stream *s)
{
	if (s->c_done && s->s_done)
		t_finished++;
}

static void t_client_send(struct t_stream *s)
{
	size_t chunk = (size_t)(t_rand(&s->rng) % 16384) + 1;	/* MIN evaluates twice */
	size_t n = MIN(chunk, T_BYTES - s->sent);
	loop_send(L, &s->c_send, s->cfd, s->out + s->sent, n, MSG_NOSIGNAL);
}

static void t_client_sent(struct loop_op *op, int res, uint32_t flags)
{
	struct t_stream *s = container_of(op, struct t_stream, c_send);
	if (res <= 0)
		return t_fail(s, "send", res);
	s->sent += (size_t)res;
	if (s->sent < T_BYTES)
		t_client_send(s);
	else
		shutdown(s->cfd, SHUT_WR);	/* echo side sees EOF after the last byte */
}

static void t_client_received(struct loop_op *op, int res, uint32_t flags)
{
	struct t_stream *s = container_of(op, struct t_stream, c_recv);
	if (res < 0)
		return t_fail(s, "recv", res);
	if (res == 0) {
		if (s->received != T_BYTES || memcmp(s->in, s->out, T_BYTES) != 0)
			t_mismatch++;
		s->c_done = true;
		return t_check_done(s);
	}
	s->received += (size_t)res;
	if (s->received > T_BYTES)
		return t_fail(s, "received too much", -EPROTO);
	loop_recv(L, &s->c_recv, s->cfd, s->in + s->received, T_BYTES + 1 - s->received, 0);
}

static void t_echo_written(struct loop_op *op, int res, uint32_t flags);

static void t_echo_write(struct t_stream *s)
{
	s->s_iov.iov_base = s->sbuf + s->s_off;
	s->s_iov.iov_len = s->s_len - s->s_off;
	loop_writev(L, &s->s_write, s->sfd, &s->s_iov, 1, -1);
}

static void t_echo_read(struct loop_op *op, int res, uint32_t flags)
{
	struct t_stream *s = container_of(op, struct t_stream, s_read);
	if (res < 0)
		return t_fail(s, "read", res);
	if (res == 0) {
		shutdown(s->sfd, SHUT_WR);
		s->s_done = true;
		return t_check_done(s);
	}
	s->s_len = (size_t)res;
	s->s_off = 0;
	t_echo_write(s);
}

static void t_echo_written(struct loop_op *op, int res, uint32_t flags)
{
	struct t_stream *s = container_of(op, struct t_stream, s_write);
	if (res <= 0)
		return t_fail(s, "writev", res);
	s->s_off += (size_t)res;
	if (s->s_off < s->s_len)
		return t_echo_write(s);
	loop_read(L, &s->s_read, s->sfd, s->sbuf, sizeof(s->sbuf), -1);
}

static void t_raise_nofile(unsigned need)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (rl.rlim_max < need)
			rl.rlim_max = need;	/* root may raise the hard limit */
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
}

int main(void)
{
	struct err e = { 0 };
	struct t_stream *st;
	int fds = t_count_fds();
	unsigned n = T_STREAMS;

	t_raise_nofile(2 * T_STREAMS + 64);
	if (loop_new(&L, 512, &e) < 0)
		t_skip_all(err_msg(&e));
	st = xcalloc(n, sizeof(*st));
	for (unsigned i = 0; i < n; i++) {
		struct t_stream *s = &st[i];
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			t_diag("socketpair %u: %s (RLIMIT_NOFILE?)", i, strerror(errno));
			n = i;
			break;
		}
		s->idx = i;
		s->cfd = sv[0];
		s->sfd = sv[1];
		s->rng = i * 2654435761u + 1;
		s->out = xmalloc(T_BYTES);
		s->in = xmalloc(T_BYTES + 1);
		for (size_t k = 0; k < T_BYTES; k++)
			s->out[k] = (unsigned char)t_rand(&s->rng);
		s->c_send.cb = t_client_sent;
		s->c_recv.cb = t_client_received;
		s->s_read.cb = t_echo_read;
		s->s_write.cb = t_echo_written;
		t_client_send(s);
		loop_recv(L, &s->c_recv, s->cfd, s->in, T_BYTES + 1, 0);
		loop_read(L, &s->s_read, s->sfd, s->sbuf, sizeof(s->sbuf), -1);
	}
	t_is(n, T_STREAMS, "1,000 socketpairs open at once");
	t_ok(loop_pending(L) >= 3 * n, "%u ops in flight", loop_pending(L));
	uint64_t t0 = loop_now_ns();
	t_is(loop_run(L), 0, "loop_run");
	uint64_t ms = (loop_now_ns() - t0) / 1000000;
	t_is(t_errors, 0, "no I/O errors");
	t_is(t_finished, n, "every stream finished on both sides");
	t_is(t_mismatch, 0, "every echoed byte matches what was sent");
	t_diag("%u streams x %d KiB echoed in %llu ms", n, T_BYTES / 1024, (unsigned long long)ms);
	for (unsigned i = 0; i < n; i++) {
		close(st[i].cfd);
		close(st[i].sfd);
		free(st[i].out);
		free(st[i].in);
	}
	free(st);
	loop_free(L);
	t_is(t_count_fds(), fds, "no fd leaked");
	return t_done();
}
