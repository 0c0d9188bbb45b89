/* The agent session: one guest channel on the reactor. Reads frames with
 * one loop_read at a time into a buffer that always has room for a whole
 * frame, writes queued frames with one loop_write at a time (a second buffer
 * collects frames while one is in flight, so the in-flight bytes never
 * move). Stream, request and credit state lets every guest frame be checked
 * against what the host actually asked for. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "buf.h"
#include <linux/time_types.h>	/* loop.h uses __kernel_timespec */

#include "loop.h"
#include "util.h"

#define AGENT_MAX_REQS 64
#define AGENT_RBUF (PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD + 64 * 1024)

struct agent_stream {
	uint32_t id;			/* 0: free slot */
	bool out_eof[3];
	uint32_t out_credit[3];		/* output bytes the guest may still send */
	uint32_t in_credit;		/* stdin bytes we may still send */
	bool in_eof;
};

struct agent_req {
	uint32_t ref;			/* 0: free slot */
	uint16_t type;
	uint32_t stream;
};

struct agent {
	struct loop *loop;
	int fd;
	const struct agent_ops *ops;
	void *ud;
	bool open, freed, dispatching, auto_credit, hello_seen;
	uint32_t main_stream;	/* the START'ed process, 0 before (one per session) */
	uint8_t *rbuf;
	size_t rlen;
	struct loop_op rop, wop;
	struct buf wsend, wpend;
	struct agent_stream streams[PROTO_MAX_PROCS];
	struct agent_req reqs[AGENT_MAX_REQS];
	uint32_t next_stream, next_ref;
};

static void agent_flush(struct agent *a);

static void agent_destroy(struct agent *a)
{
	if (a->fd >= 0)
		close(a->fd);
	buf_free(&a->wsend);
	buf_free(&a->wpend);
	free(a->rbuf);
	free(a);
}

/* Free the memory once nothing in flight can call back into it. */
static void agent_maybe_destroy(struct agent *a)
{
	if (a->freed && !a->dispatching && !loop_op_active(&a->rop) && !loop_op_active(&a->wop))
		agent_destroy(a);
}

static void agent_close(struct agent *a, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void agent_close(struct agent *a, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!a->open)
		return;
	a->open = false;
	loop_cancel(a->loop, &a->rop);
	loop_cancel(a->loop, &a->wop);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!a->freed && a->ops->closed)
		a->ops->closed(a, err, msg, a->ud);
}

#define agent_violation(a, ...) agent_close(a, -EPROTO, __VA_ARGS__)

static struct agent_stream *agent_stream(struct agent *a, uint32_t id)
{
	for (unsigned i = 0; id && i < PROTO_MAX_PROCS; i++)
		if (a->streams[i].id == id)
			return &a->streams[i];
	return NULL;
}

static void agent_queue(struct agent *a, uint16_t type, uint16_t flags, uint32_t stream, uint32_t ref,
			const void *p, size_t len)
{
	agent_encode_frame(&a->wpend, type, flags, stream, ref, p, len);
	agent_flush(a);
}

static void agent_send_credit(struct agent *a, uint32_t stream, uint32_t chan, uint32_t bytes)
{
	uint8_t p[PROTO_CREDIT_SIZE];

	proto_put32(p, chan);
	proto_put32(p + 4, bytes);
	agent_queue(a, PROTO_T_CREDIT, 0, stream, 0, p, sizeof(p));
}

/* ---- guest frames ---- */

static struct agent_req *agent_take_req(struct agent *a, uint32_t ref, uint16_t type_a, uint16_t type_b,
					struct agent_req *out)
{
	for (unsigned i = 0; i < AGENT_MAX_REQS; i++) {
		struct agent_req *q = &a->reqs[i];
		if (q->ref == ref && (q->type == type_a || q->type == type_b)) {
			*out = *q;
			q->ref = 0;
			return out;
		}
	}
	return NULL;
}

static void agent_on_result(struct agent *a, const struct agent_frame *f)
{
	struct agent_result r;
	struct agent_req q;

	if (!agent_take_req(a, f->h.ref, PROTO_T_START, PROTO_T_EXEC, &q) &&
	    !agent_take_req(a, f->h.ref, PROTO_T_CONFIG, PROTO_T_CONFIG, &q))
		return agent_violation(a, "result for request %u that is not pending", f->h.ref);
	if (agent_decode_result(f, &r) < 0)
		return agent_violation(a, "malformed result");
	if (r.err && q.stream) {
		struct agent_stream *s = agent_stream(a, q.stream);
		if (s)
			s->id = 0;	/* never started: nothing more may come */
	}
	if (a->ops->result)
		a->ops->result(a, q.stream, &r, a->ud);
}

static void agent_on_output(struct agent *a, const struct agent_frame *f)
{
	struct agent_stream *s = agent_stream(a, f->h.stream);
	int chan = f->h.type == PROTO_T_STDOUT ? PROTO_CHAN_STDOUT : PROTO_CHAN_STDERR;
	bool eof = f->h.flags & PROTO_F_EOF;
	uint32_t id = f->h.stream;

	if (!s)
		return agent_violation(a, "output for unknown stream %u", id);
	if (s->out_eof[chan])
		return agent_violation(a, "output after end of stream %u", id);
	if (f->h.len > s->out_credit[chan])
		return agent_violation(a, "stream %u sent %u bytes beyond its credit of %u", id, f->h.len,
				       s->out_credit[chan]);
	s->out_credit[chan] -= f->h.len;
	s->out_eof[chan] = eof;
	if (a->ops->output)
		a->ops->output(a, id, chan, f->payload, f->h.len, eof, a->ud);
	if (a->open && a->auto_credit && f->h.len && !eof && agent_stream(a, id) == s)
		agent_credit(a, id, chan, f->h.len);
}

static void agent_on_credit(struct agent *a, const struct agent_frame *f)
{
	struct agent_stream *s = agent_stream(a, f->h.stream);
	uint32_t chan, n;

	if (!s)
		return agent_violation(a, "credit for unknown stream %u", f->h.stream);
	if (agent_decode_credit(f, &chan, &n) < 0 || chan != PROTO_CHAN_STDIN)
		return agent_violation(a, "malformed credit");
	if (n > PROTO_INITIAL_CREDIT - s->in_credit)
		return agent_violation(a, "stream %u returned more stdin credit than was used", f->h.stream);
	s->in_credit += n;
	if (n && a->ops->stdin_ready)
		a->ops->stdin_ready(a, f->h.stream, a->ud);
}

static void agent_on_exit(struct agent *a, const struct agent_frame *f)
{
	struct agent_stream *s = agent_stream(a, f->h.stream);
	struct agent_exit e;

	if (!s)
		return agent_violation(a, "exit of unknown stream %u", f->h.stream);
	if (agent_decode_exit(f, &e) < 0)
		return agent_violation(a, "malformed exit status");
	s->id = 0;
	/* The main process's EXIT comes after all its output: acknowledge it
	 * so guest-init powers off. Until then it waits, because a reboot
	 * drops whatever QEMU has not yet passed on from the port. */
	if (f->h.stream == a->main_stream && a->open)
		agent_queue(a, PROTO_T_SHUTDOWN, 0, 0, 0, NULL, 0);
	if (a->ops->exit)
		a->ops->exit(a, f->h.stream, &e, a->ud);
}

static void agent_on_hello(struct agent *a, const struct agent_frame *f)
{
	struct agent_hello h;

	if (a->hello_seen)
		return agent_violation(a, "second hello");
	if (agent_decode_hello(f, &h) < 0)
		return agent_violation(a, "malformed hello");
	if (h.version != PROTO_VERSION)
		return agent_violation(a, "guest speaks protocol version %u, we speak %u", h.version, PROTO_VERSION);
	a->hello_seen = true;
	if (a->ops->ready)
		a->ops->ready(a, &h, a->ud);
}

static void agent_handle(struct agent *a, const struct agent_frame *f)
{
	char line[512];
	struct agent_stats st;
	struct agent_req q;

	if (!a->hello_seen && f->h.type != PROTO_T_HELLO)
		return agent_violation(a, "frame type %u before hello", f->h.type);
	switch (f->h.type) {
	case PROTO_T_HELLO:
		return agent_on_hello(a, f);
	case PROTO_T_RESULT:
		return agent_on_result(a, f);
	case PROTO_T_STDOUT:
	case PROTO_T_STDERR:
		return agent_on_output(a, f);
	case PROTO_T_CREDIT:
		return agent_on_credit(a, f);
	case PROTO_T_EXIT:
		return agent_on_exit(a, f);
	case PROTO_T_STATS:
		if (!agent_take_req(a, f->h.ref, PROTO_T_STATS_REQ, PROTO_T_STATS_REQ, &q))
			return agent_violation(a, "stats nobody asked for");
		agent_decode_stats(f, &st);
		if (a->ops->stats)
			a->ops->stats(a, &st, a->ud);
		return;
	case PROTO_T_TOP: {
		struct agent_ps *ps;
		size_t n;
		bool trunc;
		if (!agent_take_req(a, f->h.ref, PROTO_T_TOP_REQ, PROTO_T_TOP_REQ, &q))
			return agent_violation(a, "a process list nobody asked for");
		if (agent_decode_top(f, &ps, &n, &trunc) < 0)
			return agent_violation(a, "malformed process list");
		if (a->ops->top)
			a->ops->top(a, ps, n, trunc, a->ud);
		free(ps);
		return;
	}
	case PROTO_T_LOG:
		agent_decode_log(f, line, sizeof(line));
		if (a->ops->log)
			a->ops->log(a, line, a->ud);
		return;
	}
}

/* ---- I/O ---- */

static void agent_read_arm(struct agent *a)
{
	int r = loop_read(a->loop, &a->rop, a->fd, a->rbuf + a->rlen, (unsigned)(AGENT_RBUF - a->rlen),
			  (uint64_t)-1);

	if (r < 0)
		agent_close(a, r, "reading the guest channel: %s", strerror(-r));
}

static void agent_parse(struct agent *a)
{
	struct agent_frame f;
	size_t off = 0;
	ssize_t n;

	a->dispatching = true;
	while (a->open && !a->freed && (n = agent_frame_parse(a->rbuf + off, a->rlen - off, &f)) != 0) {
		if (n < 0) {
			/* Name what the header said: a bad type, a length over the
			 * limit or under a fixed payload's size, unknown flags. */
			const uint8_t *b = a->rbuf + off;
			agent_violation(a, "malformed frame from the guest (type %u, length %u, flags %#x, stream %u)",
					proto_get16(b + 4), proto_get32(b), proto_get16(b + 6), proto_get32(b + 8));
			break;
		}
		agent_handle(a, &f);
		off += (size_t)n;
	}
	a->dispatching = false;
	memmove(a->rbuf, a->rbuf + off, a->rlen - off);
	a->rlen -= off;
}

static void agent_read_done(struct loop_op *op, int res, uint32_t flags)
{
	struct agent *a = container_of(op, struct agent, rop);

	if (!a->open || a->freed) {
		agent_maybe_destroy(a);
		return;
	}
	if (res == 0)
		agent_close(a, 0, "the guest closed the channel");
	else if (res < 0)
		agent_close(a, res, "reading the guest channel: %s", strerror(-res));
	else {
		a->rlen += (size_t)res;
		agent_parse(a);
		if (a->open && !a->freed)
			agent_read_arm(a);
	}
	agent_maybe_destroy(a);
}

static void agent_write_done(struct loop_op *op, int res, uint32_t flags)
{
	struct agent *a = container_of(op, struct agent, wop);

	if (a->open && !a->freed) {
		if (res < 0)
			agent_close(a, res, "writing the guest channel: %s", strerror(-res));
		else {
			buf_consume(&a->wsend, (size_t)res);
			agent_flush(a);
		}
	}
	agent_maybe_destroy(a);
}

static void agent_flush(struct agent *a)
{
	int r;

	if (!a->open || loop_op_active(&a->wop))
		return;
	if (!a->wsend.len) {
		struct buf t = a->wsend;
		a->wsend = a->wpend;
		a->wpend = t;
	}
	if (!a->wsend.len)
		return;
	r = loop_write(a->loop, &a->wop, a->fd, a->wsend.data, (unsigned)MIN(a->wsend.len, 1u << 30), (uint64_t)-1);
	if (r < 0)
		agent_close(a, r, "writing the guest channel: %s", strerror(-r));
}

/* ---- public ---- */

int agent_new(struct agent **out, struct loop *l, int fd, const struct agent_ops *ops, void *ud)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->loop = l;
	a->fd = fd;
	a->ops = ops;
	a->ud = ud;
	a->open = true;
	a->auto_credit = true;
	a->rbuf = xmalloc(AGENT_RBUF);
	a->rop.cb = agent_read_done;
	a->wop.cb = agent_write_done;
	a->next_stream = 1;
	a->next_ref = 1;
	agent_encode_hello(&a->wpend);
	agent_flush(a);
	agent_read_arm(a);
	*out = a;
	return 0;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	a->freed = true;
	agent_close(a, 0, "freed");
	/* The fd can go now (in-flight ops hold their own file reference, and
	 * the peer sees the close at once); the buffers wait for the ops. */
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	agent_maybe_destroy(a);
}

bool agent_is_open(const struct agent *a)
{
	return a->open;
}

void agent_set_auto_credit(struct agent *a, bool on)
{
	a->auto_credit = on;
}

static uint32_t agent_add_req(struct agent *a, uint16_t type, uint32_t stream)
{
	for (unsigned i = 0; i < AGENT_MAX_REQS; i++) {
		if (!a->reqs[i].ref) {
			uint32_t ref = a->next_ref++;
			if (!a->next_ref)
				a->next_ref = 1;
			a->reqs[i] = (struct agent_req){ ref, type, stream };
			return ref;
		}
	}
	return 0;
}

static void agent_drop_req(struct agent *a, uint32_t ref)
{
	for (unsigned i = 0; i < AGENT_MAX_REQS; i++)
		if (a->reqs[i].ref == ref)
			a->reqs[i].ref = 0;
}

int agent_config(struct agent *a, const struct agent_config *c)
{
	uint32_t ref;
	int r;

	if (!a->open)
		return -EPIPE;
	ref = agent_add_req(a, PROTO_T_CONFIG, 0);
	if (!ref)
		return -EBUSY;
	r = agent_encode_config(&a->wpend, ref, c);
	if (r < 0)
		agent_drop_req(a, ref);
	agent_flush(a);
	return r;
}

static int agent_proc(struct agent *a, uint16_t type, const struct agent_proc_spec *sp, uint32_t *stream)
{
	struct agent_stream *s = NULL;
	uint32_t ref, id;
	int r;

	if (!a->open)
		return -EPIPE;
	if (type == PROTO_T_START && a->main_stream)
		return -EEXIST;
	for (unsigned i = 0; i < PROTO_MAX_PROCS && !s; i++)
		if (!a->streams[i].id)
			s = &a->streams[i];
	if (!s)
		return -EAGAIN;
	do {
		id = a->next_stream;
		a->next_stream = a->next_stream >= PROTO_MAX_STREAM ? 1 : a->next_stream + 1;
	} while (agent_stream(a, id));
	ref = agent_add_req(a, type, id);
	if (!ref)
		return -EBUSY;
	r = agent_encode_proc(&a->wpend, type, id, ref, sp);
	if (r < 0) {
		agent_drop_req(a, ref);
		return r;
	}
	*s = (struct agent_stream){ .id = id, .in_credit = PROTO_INITIAL_CREDIT,
				    .out_credit = { 0, PROTO_INITIAL_CREDIT, PROTO_INITIAL_CREDIT } };
	s->in_eof = !sp->stdin_open;
	if (type == PROTO_T_START)
		a->main_stream = id;
	*stream = id;
	agent_flush(a);
	return 0;
}

int agent_start(struct agent *a, const struct agent_proc_spec *s, uint32_t *stream)
{
	return agent_proc(a, PROTO_T_START, s, stream);
}

int agent_exec(struct agent *a, const struct agent_proc_spec *s, uint32_t *stream)
{
	return agent_proc(a, PROTO_T_EXEC, s, stream);
}

int agent_shutdown(struct agent *a)
{
	if (!a->open)
		return -EPIPE;
	agent_queue(a, PROTO_T_SHUTDOWN, 0, 0, 0, NULL, 0);
	return 0;
}

int agent_request_stats(struct agent *a)
{
	uint32_t ref;

	if (!a->open)
		return -EPIPE;
	ref = agent_add_req(a, PROTO_T_STATS_REQ, 0);
	if (!ref)
		return -EBUSY;
	agent_queue(a, PROTO_T_STATS_REQ, 0, 0, ref, NULL, 0);
	return 0;
}

int agent_request_top(struct agent *a)
{
	uint32_t ref;

	if (!a->open)
		return -EPIPE;
	ref = agent_add_req(a, PROTO_T_TOP_REQ, 0);
	if (!ref)
		return -EBUSY;
	agent_queue(a, PROTO_T_TOP_REQ, 0, 0, ref, NULL, 0);
	return 0;
}

ssize_t agent_stdin(struct agent *a, uint32_t stream, const void *data, size_t len)
{
	struct agent_stream *s = agent_stream(a, stream);
	size_t done = 0;

	if (!a->open)
		return -EPIPE;
	if (!s || s->in_eof)
		return -ENOENT;
	while (done < len && s->in_credit) {
		size_t n = MIN(MIN(len - done, (size_t)s->in_credit), (size_t)PROTO_MAX_PAYLOAD);
		agent_encode_frame(&a->wpend, PROTO_T_STDIN, 0, stream, 0, (const uint8_t *)data + done, n);
		s->in_credit -= (uint32_t)n;
		done += n;
	}
	agent_flush(a);
	return (ssize_t)done;
}

int agent_stdin_eof(struct agent *a, uint32_t stream)
{
	struct agent_stream *s = agent_stream(a, stream);

	if (!a->open)
		return -EPIPE;
	if (!s)
		return -ENOENT;
	if (!s->in_eof)
		agent_queue(a, PROTO_T_STDIN, PROTO_F_EOF, stream, 0, NULL, 0);
	s->in_eof = true;
	return 0;
}

int agent_signal(struct agent *a, uint32_t stream, int signo)
{
	uint8_t p[PROTO_SIGNAL_SIZE];

	if (!a->open)
		return -EPIPE;
	if (!agent_stream(a, stream))
		return -ENOENT;
	if (signo < 1 || signo > 64)
		return -EINVAL;
	proto_put32(p, (uint32_t)signo);
	agent_queue(a, PROTO_T_SIGNAL, 0, stream, 0, p, sizeof(p));
	return 0;
}

int agent_resize(struct agent *a, uint32_t stream, uint16_t rows, uint16_t cols)
{
	uint8_t p[PROTO_RESIZE_SIZE] = { 0 };

	if (!a->open)
		return -EPIPE;
	if (!agent_stream(a, stream))
		return -ENOENT;
	proto_put16(p, rows);
	proto_put16(p + 2, cols);
	agent_queue(a, PROTO_T_RESIZE, 0, stream, 0, p, sizeof(p));
	return 0;
}

int agent_credit(struct agent *a, uint32_t stream, int chan, uint32_t bytes)
{
	struct agent_stream *s = agent_stream(a, stream);

	if (!a->open)
		return -EPIPE;
	if (!s)
		return -ENOENT;
	if (chan != PROTO_CHAN_STDOUT && chan != PROTO_CHAN_STDERR)
		return -EINVAL;
	if (bytes > PROTO_MAX_CREDIT - s->out_credit[chan])
		return -ERANGE;
	s->out_credit[chan] += bytes;
	agent_send_credit(a, stream, (uint32_t)chan, bytes);
	return 0;
}
