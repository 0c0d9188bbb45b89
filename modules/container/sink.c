/* Output queues on the reactor with credit-based back-pressure (see
 * container.h). One write in flight per fd; bytes arriving meanwhile
 * collect in q and go out together next. */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "container/container.h"
#include "loop.h"
#include "util.h"

#define CTR_SINK_HIGH (1u << 20)	/* queued bytes above which credit waits */

struct ctr_sink_grant {
	struct ctr_proc *p;
	int chan;
	uint32_t n;
};

void ctr_sink_init(struct ctr_sink *s, struct loop *l, int fd)
{
	memset(s, 0, sizeof(*s));
	s->l = l;
	s->fd = fd;
	s->q = xcalloc(1, sizeof(struct buf));
	s->inflight = xcalloc(1, sizeof(struct buf));
}

static size_t ctr_sink_queued(const struct ctr_sink *s)
{
	return s->q->len + s->inflight->len;
}

static void ctr_sink_grant_all(struct ctr_sink *s)
{
	/* Copy first: a credit call may not re-enter the sink, but keep it
	 * robust against changes to the array all the same. */
	size_t n = s->ngrants;
	struct ctr_sink_grant *g = s->grants;

	s->grants = NULL;
	s->ngrants = 0;
	for (size_t i = 0; i < n; i++)
		ctr_credit(g[i].p, g[i].chan, g[i].n);
	free(g);
}

static void ctr_sink_kick(struct ctr_sink *s);

static void ctr_sink_done(struct loop_op *op, int res, uint32_t flags)
{
	struct ctr_sink *s = container_of(op, struct ctr_sink, op);

	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		s->failed = true;
		buf_reset(s->inflight);
		buf_reset(s->q);
	} else if (res > 0) {
		buf_consume(s->inflight, (size_t)res);
	}
	if (ctr_sink_queued(s) < CTR_SINK_HIGH)
		ctr_sink_grant_all(s);
	ctr_sink_kick(s);
}

static void ctr_sink_kick(struct ctr_sink *s)
{
	if (loop_op_active(&s->op) || s->failed)
		return;
	if (!s->inflight->len) {
		struct buf *t = s->inflight;
		s->inflight = s->q;
		s->q = t;
	}
	if (!s->inflight->len)
		return;
	s->op.cb = ctr_sink_done;
	unsigned n = (unsigned)MIN(s->inflight->len, (size_t)1 << 30);
	if (loop_write(s->l, &s->op, s->fd, s->inflight->data, n, (uint64_t)-1) < 0) {
		s->failed = true;
		buf_reset(s->inflight);
		buf_reset(s->q);
	}
}

void ctr_sink_write(struct ctr_sink *s, const void *data, size_t len)
{
	if (s->failed || !len)
		return;
	buf_append(s->q, data, len);
	ctr_sink_kick(s);
}

void ctr_sink_credit(struct ctr_sink *s, struct ctr_proc *p, int chan, uint32_t n)
{
	if (!n)
		return;
	if (s->failed || ctr_sink_queued(s) < CTR_SINK_HIGH) {
		ctr_credit(p, chan, n);
		return;
	}
	for (size_t i = 0; i < s->ngrants; i++) {
		if (s->grants[i].p == p && s->grants[i].chan == chan) {
			s->grants[i].n += n;
			return;
		}
	}
	s->grants = xrealloc(s->grants, (s->ngrants + 1) * sizeof(*s->grants));
	s->grants[s->ngrants++] = (struct ctr_sink_grant){ p, chan, n };
}

void ctr_sink_forget(struct ctr_sink *s, struct ctr_proc *p)
{
	size_t j = 0;

	for (size_t i = 0; i < s->ngrants; i++) {
		if (s->grants[i].p != p)
			s->grants[j++] = s->grants[i];
	}
	s->ngrants = j;
}

bool ctr_sink_idle(const struct ctr_sink *s)
{
	return !loop_op_active(&s->op) && (s->failed || ctr_sink_queued(s) == 0);
}

void ctr_sink_release(struct ctr_sink *s)
{
	/* The caller waited for idle (or the loop is going away). */
	if (s->q) {
		buf_free(s->q);
		buf_free(s->inflight);
		free(s->q);
		free(s->inflight);
	}
	free(s->grants);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
