/* `ucrt stop` / `ucrt kill` of one running `run --parallel` instance.
 *
 * An instance has no container directory and no supervisor: the run's
 * own reactor drives its VM. So the run listens on a socket of its own
 * next to its records (the instances directory, 0700, per store root),
 * named "<group>-<pid>.sock" so that ps and `system check` can tell a
 * dead run's socket by its pid as they do its records (instances.c).
 *
 * The wire is one line per connection, at most CTR_IREQ_MAX bytes:
 *
 *     stop INDEX SECONDS     SIGTERM, the VM ended after SECONDS (<= 3600)
 *     kill INDEX SIGNAL      the signal (1..64) to the main process
 *
 * answered by "ok\n" or "error: <why>\n", then the run closes. The
 * client is any process of the same user (the directory is private);
 * still, every byte is validated: a bad line gets an error reply. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "container/container-internal.h"
#include "err.h"
#include "loop.h"
#include "str.h"
#include "util.h"

#define ICTL_STOP_MAX_SECS 3600u

/* ---- the request line ---- */

/* A decimal number of 1..10 digits, no sign, no leading junk. */
static const char *ireq_number(const char *p, const char *end, uint64_t *v)
{
	const char *s = p;

	*v = 0;
	while (p < end && *p >= '0' && *p <= '9' && p - s < 10)
		*v = *v * 10 + (uint64_t)(*p++ - '0');
	return p > s && (p == end || *p < '0' || *p > '9') ? p : NULL;
}

int ctr_ireq_parse(const char *line, size_t len, struct ctr_ireq *out)
{
	const char *p = line, *end = line + len;
	uint64_t idx, arg;

	memset(out, 0, sizeof(*out));
	if (len > CTR_IREQ_MAX)
		return -EINVAL;
	if (len >= 5 && memcmp(p, "stop ", 5) == 0)
		out->op = CTR_IREQ_STOP;
	else if (len >= 5 && memcmp(p, "kill ", 5) == 0)
		out->op = CTR_IREQ_KILL;
	else
		return -EINVAL;
	p += 5;
	if (!(p = ireq_number(p, end, &idx)) || p == end || *p++ != ' ' || !(p = ireq_number(p, end, &arg)) ||
	    p != end)
		return -EINVAL;
	if (idx > UINT32_MAX)
		return -ERANGE;
	if (out->op == CTR_IREQ_STOP ? arg > ICTL_STOP_MAX_SECS : arg < 1 || arg > 64)
		return -ERANGE;
	out->index = (unsigned)idx;
	out->arg = (unsigned)arg;
	return 0;
}

int ctr_ireq_format(const struct ctr_ireq *rq, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s %u %u\n", rq->op == CTR_IREQ_STOP ? "stop" : "kill", rq->index, rq->arg);

	return n > 0 && (size_t)n < cap ? n : -ENOBUFS;
}

void ctr_ictl_sock_name(const char *group, pid_t pid, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.*s-%d" CTR_ICTL_SUFFIX, CTR_SHORT_ID, group, (int)pid);
}

/* ---- the run's side, on its reactor ---- */

struct ictl_client {
	struct ctr_ictl *s;
	int fd;
	struct loop_op op;		/* the recv, then the reply's send */
	char buf[CTR_IREQ_MAX + 1];	/* the line and its '\n' */
	size_t len;
	char reply[160];
	size_t rlen, sent;
	struct ictl_client *next;
};

struct ctr_ictl {
	struct loop *l;
	int lfd, dfd;
	char name[64];
	struct loop_op accept_op;
	struct ictl_client *clients;
	ctr_ireq_fn fn;
	void *ud;
	bool closing;
};

static void ictl_maybe_free(struct ctr_ictl *s)
{
	if (!s->closing || s->clients || loop_op_active(&s->accept_op))
		return;
	close(s->lfd);
	close(s->dfd);
	free(s);
}

static void ictl_client_free(struct ictl_client *cl)
{
	struct ctr_ictl *s = cl->s;

	for (struct ictl_client **pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	close(cl->fd);
	free(cl);
	ictl_maybe_free(s);
}

/* After the reply: read what the client sent beyond its line until it
 * hangs up, so that closing with unread bytes does not reset the
 * connection before the client read the reply (a too-long line); at
 * most ICTL_DRAIN_MAX bytes, then it is closed anyway. */
#define ICTL_DRAIN_MAX (64u << 10)

static void ictl_drained(struct loop_op *op, int res, uint32_t flags)
{
	struct ictl_client *cl = container_of(op, struct ictl_client, op);

	cl->sent += res > 0 ? (size_t)res : 0;
	if (res > 0 && !cl->s->closing && cl->sent < ICTL_DRAIN_MAX) {
		cl->op.cb = ictl_drained;
		if (loop_recv(cl->s->l, &cl->op, cl->fd, cl->buf, sizeof(cl->buf), 0) == 0)
			return;
	}
	ictl_client_free(cl);
}

static void ictl_sent(struct loop_op *op, int res, uint32_t flags)
{
	struct ictl_client *cl = container_of(op, struct ictl_client, op);

	if (res > 0 && !cl->s->closing) {
		cl->sent += (size_t)res;
		cl->op.cb = cl->sent < cl->rlen ? ictl_sent : ictl_drained;
		if (cl->sent < cl->rlen) {
			if (loop_send(cl->s->l, &cl->op, cl->fd, cl->reply + cl->sent, cl->rlen - cl->sent,
				      MSG_NOSIGNAL) == 0)
				return;
		} else {
			shutdown(cl->fd, SHUT_WR);
			cl->sent = 0;
			if (loop_recv(cl->s->l, &cl->op, cl->fd, cl->buf, sizeof(cl->buf), 0) == 0)
				return;
		}
	}
	ictl_client_free(cl);
}

/* "ok", or "error: why": one line, then the run hangs up. */
static void ictl_reply(struct ictl_client *cl, const char *why)
{
	int n = why ? snprintf(cl->reply, sizeof(cl->reply), "error: %s\n", why)
		    : snprintf(cl->reply, sizeof(cl->reply), "ok\n");

	cl->rlen = n < 0 ? 0 : MIN((size_t)n, sizeof(cl->reply) - 1);
	cl->sent = 0;
	cl->op.cb = ictl_sent;
	if (loop_send(cl->s->l, &cl->op, cl->fd, cl->reply, cl->rlen, MSG_NOSIGNAL) < 0)
		ictl_client_free(cl);
}

static void ictl_handle(struct ictl_client *cl, size_t linelen)
{
	struct ctr_ireq rq;
	char why[128] = "";

	if (ctr_ireq_parse(cl->buf, linelen, &rq) < 0) {
		ictl_reply(cl, "bad request (want stop INDEX SECONDS or kill INDEX SIGNAL)");
		return;
	}
	if (cl->s->fn(cl->s->ud, &rq, why, sizeof(why)) < 0) {
		ictl_reply(cl, why[0] ? why : "refused");
		return;
	}
	ictl_reply(cl, NULL);
}

static void ictl_client_read(struct ictl_client *cl);

static void ictl_recv(struct loop_op *op, int res, uint32_t flags)
{
	struct ictl_client *cl = container_of(op, struct ictl_client, op);
	char *nl;

	if (res <= 0 || cl->s->closing) {
		/* Hung up before a whole line (a probe), or the run ends. */
		ictl_client_free(cl);
		return;
	}
	cl->len += (size_t)res;
	if ((nl = memchr(cl->buf, '\n', cl->len))) {
		ictl_handle(cl, (size_t)(nl - cl->buf));
		return;
	}
	if (cl->len == sizeof(cl->buf)) {
		ictl_reply(cl, "request too long");
		return;
	}
	ictl_client_read(cl);
}

static void ictl_client_read(struct ictl_client *cl)
{
	cl->op.cb = ictl_recv;
	if (loop_recv(cl->s->l, &cl->op, cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, 0) < 0)
		ictl_client_free(cl);
}

static void ictl_accept_next(struct ctr_ictl *s);

static void ictl_accepted(struct loop_op *op, int res, uint32_t flags)
{
	struct ctr_ictl *s = container_of(op, struct ctr_ictl, accept_op);

	if (res >= 0 && s->closing)
		close(res);
	else if (res >= 0) {
		struct ictl_client *cl = xcalloc(1, sizeof(*cl));
		cl->s = s;
		cl->fd = res;
		cl->next = s->clients;
		s->clients = cl;
		ictl_client_read(cl);
	}
	/* EMFILE and the like end this accept only; the run goes on. */
	if (!s->closing && res != -ECANCELED)
		ictl_accept_next(s);
	else
		ictl_maybe_free(s);
}

static void ictl_accept_next(struct ctr_ictl *s)
{
	s->accept_op.cb = ictl_accepted;
	loop_accept(s->l, &s->accept_op, s->lfd, NULL, NULL, SOCK_CLOEXEC);
}

int ctr_ictl_open(struct loop *l, int dfd, const char *group, ctr_ireq_fn fn, void *ud, struct ctr_ictl **out)
{
	struct ctr_ictl *s = xcalloc(1, sizeof(*s));
	struct sockaddr_un sa;
	socklen_t len;
	int r;

	*out = NULL;
	*s = (struct ctr_ictl){ .l = l, .lfd = -1, .fn = fn, .ud = ud };
	ctr_ictl_sock_name(group, getpid(), s->name, sizeof(s->name));
	s->dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (s->dfd < 0 || (r = ctr_sock_addr(s->dfd, s->name, &sa, &len)) < 0) {
		r = s->dfd < 0 ? -errno : r;
		goto fail;
	}
	unlinkat(s->dfd, s->name, 0);	/* a dead run of a recycled pid */
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, len) < 0 || listen(s->lfd, 16) < 0) {
		r = -errno;
		goto fail;
	}
	ictl_accept_next(s);
	*out = s;
	return 0;
fail:
	if (s->lfd >= 0) {
		close(s->lfd);
		unlinkat(s->dfd, s->name, 0);
	}
	if (s->dfd >= 0)
		close(s->dfd);
	free(s);
	return r;
}

void ctr_ictl_close(struct ctr_ictl *s)
{
	if (!s)
		return;
	/* The name goes first: a client from now on is refused at once. */
	unlinkat(s->dfd, s->name, 0);
	s->closing = true;
	if (loop_op_active(&s->accept_op))
		loop_cancel(s->l, &s->accept_op);
	for (struct ictl_client *cl = s->clients; cl; cl = cl->next) {
		shutdown(cl->fd, SHUT_RDWR);
		if (loop_op_active(&cl->op))
			loop_cancel(s->l, &cl->op);
	}
	ictl_maybe_free(s);
}

/* ---- the CLI's side (blocking: a short-lived client) ---- */

int ctr_instance_find(const char *root, const char *what, struct ctr_instance *out)
{
	struct ctr_instance *v;
	size_t n;
	int r = -ENOENT;

	memset(out, 0, sizeof(*out));
	if (ctr_instances_list(root, &v, &n) < 0)
		return -ENOENT;
	for (size_t i = 0; i < n && r < 0; i++) {
		if (strcmp(v[i].name, what) == 0 || (what[0] && str_startswith(v[i].id, what))) {
			*out = v[i];
			memset(&v[i], 0, sizeof(v[i]));
			r = 0;
		}
	}
	ctr_instances_free(v, n);
	return r;
}

static bool ictl_record_gone(int dfd, const struct ctr_instance *in)
{
	char path[CTR_ID_LEN + 16];

	snprintf(path, sizeof(path), "%s.json", in->id);
	return (faccessat(dfd, path, F_OK, 0) < 0 && errno == ENOENT) ||
	       !ctr_proc_alive(in->owner, in->owner_start);
}

int ctr_instance_request(const char *root, const struct ctr_instance *in, const struct ctr_ireq *rq,
			 unsigned wait_ms, struct err *err)
{
	_cleanup_close_ int dfd = ctr_instances_open(root, false), fd = -1;
	struct timeval tv = { .tv_sec = 30 };
	struct sockaddr_un sa;
	socklen_t len;
	char name[64], line[CTR_IREQ_MAX + 1], reply[200];
	int n, r;

	if (dfd < 0)
		return err_setx(err, dfd, "the records of running instances");
	ctr_ictl_sock_name(in->group ? in->group : "", in->owner, name, sizeof(name));
	if ((r = ctr_sock_addr(dfd, name, &sa, &len)) < 0 || (r = ctr_ireq_format(rq, line, sizeof(line))) < 0)
		return err_setx(err, r, "%s", name);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_setx(err, errno, "socket");
	/* A run that stopped serving must not hang the CLI. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			return err_set(err, ESRCH, "%s is not running (its run with pid %d ended)", in->name,
				       (int)in->owner);
		return err_setx(err, errno, "connecting to the run (pid %d) of %s", (int)in->owner, in->name);
	}
	if ((n = ctr_ctl_exchange(fd, line, (size_t)r, reply, sizeof(reply))) < 0)
		return err_setx(err, n, "talking to the run (pid %d) of %s", (int)in->owner, in->name);
	reply[strcspn(reply, "\n")] = 0;
	if (strcmp(reply, "ok") != 0) {
		if (!n)
			return err_set(err, ESRCH, "%s: its run (pid %d) did not answer", in->name, (int)in->owner);
		return err_set(err, EIO, "%s: %s", in->name,
			       str_startswith(reply, "error: ") ? reply + 7 : reply);
	}
	/* Accepted: wait, if asked, until its VM is gone (the run removes
	 * the record then). */
	for (unsigned t = 0; wait_ms && !ictl_record_gone(dfd, in); t += 50) {
		if (t >= wait_ms)
			return err_set(err, ETIMEDOUT, "%s did not end within %u s", in->name, wait_ms / 1000);
		usleep(50000);
	}
	return 0;
}
