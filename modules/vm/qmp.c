/* QMP client on the reactor: greeting, qmp_capabilities, then commands
 * matched to replies by "id". QEMU runs guest-facing device code, so its
 * replies are bounded and parsed defensively like any other input. */
#include <errno.h>
#include <sys/socket.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "vm-internal.h"

#define VM_QMP_MAX_LINE (256u * 1024u)
#define VM_QMP_MAX_TOKENS 8192

struct vm_qmp_req {
	struct vm_qmp_req *next;
	int64_t id;
	char *line;		/* the command, until it is queued for writing */
	vm_qmp_cb cb;
	void *data;
};

static void vm_qmp_read(struct vm_qmp *q);
static void vm_qmp_flush(struct vm_qmp *q);

static void vm_qmp_req_done(struct vm_qmp *q, struct vm_qmp_req *r, int res, const char *json, size_t len)
{
	if (r->cb)
		r->cb(q->vm, res, json, len, r->data);
	free(r->line);
	free(r);
}

static void vm_qmp_fail_all(struct vm_qmp *q)
{
	struct vm_qmp_req *lists[2] = { q->head, q->pending };

	q->head = q->tail = q->pending = NULL;
	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			struct vm_qmp_req *r = lists[i];
			lists[i] = r->next;
			vm_qmp_req_done(q, r, -ECONNRESET, NULL, 0);
		}
	}
}

void vm_qmp_shutdown(struct vm_qmp *q)
{
	struct loop *l = vm_loop(q->vm);

	q->dead = true;
	q->ready = false;
	if (loop_op_active(&q->rd))
		loop_cancel(l, &q->rd);
	if (loop_op_active(&q->wr))
		loop_cancel(l, &q->wr);
	vm_qmp_fail_all(q);
}

static void vm_qmp_enqueue_line(struct vm_qmp *q, struct vm_qmp_req *r)
{
	buf_puts(&q->out, r->line);
	free(TAKE_PTR(r->line));
	r->next = NULL;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
}

static void vm_qmp_greeted(struct vm_qmp *q)
{
	struct vm_qmp_req *r = q->pending;

	q->ready = true;
	q->pending = NULL;
	vm_stamp(q->vm, VM_T_QMP);
	while (r) {
		struct vm_qmp_req *next = r->next;
		vm_qmp_enqueue_line(q, r);
		r = next;
	}
	vm_qmp_flush(q);
}

int vm_qmp_parse(const char *line, size_t len, struct vm_qmp_msg *m)
{
	struct json_doc d;
	int t, e;

	memset(m, 0, sizeof(*m));
	m->id = -1;
	if (json_parse(&d, line, len, VM_QMP_MAX_TOKENS) < 0)
		return -EBADMSG;
	if (json_type(&d, 0) != JSON_OBJECT) {
		json_free(&d);
		return -EBADMSG;
	}
	if (json_get(&d, 0, "QMP") >= 0) {
		m->kind = VM_QMP_GREETING;
	} else if ((t = json_get(&d, 0, "event")) >= 0) {
		_cleanup_free_ char *ev = json_str(&d, t);
		m->kind = VM_QMP_EVENT;
		snprintf(m->event, sizeof(m->event), "%s", ev ? ev : "?");
	} else if ((t = json_get(&d, 0, "id")) >= 0 && json_int(&d, t, &m->id) == 0) {
		m->kind = VM_QMP_REPLY;
		if ((t = json_get(&d, 0, "return")) >= 0) {
			m->ok = true;
		} else if ((e = json_get(&d, 0, "error")) >= 0) {
			t = json_get(&d, e, "desc");
		}
		if (t >= 0) {
			m->val = d.src + d.toks[t].start;
			m->vlen = (size_t)(d.toks[t].end - d.toks[t].start);
		}
	}
	json_free(&d);
	return 0;
}

/* One complete line from QEMU. */
static void vm_qmp_line(struct vm_qmp *q, const char *line, size_t len)
{
	struct vm_qmp_msg m;
	struct vm_qmp_req **pp = &q->head, *r, *prev = NULL;

	if (vm_qmp_parse(line, len, &m) < 0) {
		log_warn("vm: malformed QMP message ignored");
		return;
	}
	switch (m.kind) {
	case VM_QMP_GREETING:
		/* Negotiate, then release the queued commands. */
		buf_puts(&q->out, "{\"execute\":\"qmp_capabilities\",\"id\":0}\n");
		vm_qmp_flush(q);
		return;
	case VM_QMP_EVENT:
		log_debug("vm: QMP event %s", m.event);
		return;
	case VM_QMP_OTHER:
		return;
	case VM_QMP_REPLY:
		break;
	}
	if (m.id == 0 && !q->ready) {
		vm_qmp_greeted(q);
		return;
	}
	while (*pp && (*pp)->id != m.id) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!(r = *pp))
		return;		/* not ours (or already failed): ignore */
	*pp = r->next;
	if (q->tail == r)
		q->tail = prev;
	vm_qmp_req_done(q, r, m.ok ? 0 : -EIO, m.val ? m.val : "", m.vlen);
}

static void vm_qmp_read_done(struct loop_op *op, int res, uint32_t flags)
{
	struct vm_qmp *q = container_of(op, struct vm_qmp, rd);
	struct vm *vm = q->vm;
	char *nl;

	if (res <= 0 || q->dead) {
		if (res < 0 && res != -ECANCELED)
			log_debug("vm: QMP read: %s", strerror(-res));
		if (!q->dead)
			vm_qmp_shutdown(q);
		vm_op_unref(vm);
		return;
	}
	buf_append(&q->in, q->rbuf, (size_t)res);
	while ((nl = memchr(q->in.data, '\n', q->in.len)) && !q->dead) {
		size_t n = (size_t)(nl - q->in.data);
		char *line = xstrndup(q->in.data, n);

		buf_consume(&q->in, n + 1);
		vm_qmp_line(q, line, n);
		free(line);
	}
	if (q->in.len > VM_QMP_MAX_LINE) {
		log_warn("vm: QMP line over %u bytes: closing QMP", VM_QMP_MAX_LINE);
		vm_qmp_shutdown(q);
	}
	if (!q->dead)
		vm_qmp_read(q);
	vm_op_unref(vm);
}

static void vm_qmp_read(struct vm_qmp *q)
{
	q->rd.cb = vm_qmp_read_done;
	if (loop_recv(vm_loop(q->vm), &q->rd, q->fd, q->rbuf, sizeof(q->rbuf), 0) < 0) {
		vm_qmp_shutdown(q);
		return;
	}
	vm_op_ref(q->vm);
}

static void vm_qmp_write_done(struct loop_op *op, int res, uint32_t flags)
{
	struct vm_qmp *q = container_of(op, struct vm_qmp, wr);
	struct vm *vm = q->vm;

	if (res <= 0) {
		if (!q->dead)
			vm_qmp_shutdown(q);
	} else {
		buf_consume(&q->out, (size_t)res);
		if (!q->dead)
			vm_qmp_flush(q);
	}
	vm_op_unref(vm);
}

static void vm_qmp_flush(struct vm_qmp *q)
{
	if (q->dead || loop_op_active(&q->wr) || q->out.len == 0)
		return;
	q->wr.cb = vm_qmp_write_done;
	if (loop_send(vm_loop(q->vm), &q->wr, q->fd, q->out.data, q->out.len, MSG_NOSIGNAL) < 0) {
		vm_qmp_shutdown(q);
		return;
	}
	vm_op_ref(q->vm);
}

void vm_qmp_open(struct vm_qmp *q, struct vm *vm, int fd)
{
	memset(q, 0, sizeof(*q));
	q->vm = vm;
	q->fd = fd;
	vm_qmp_read(q);
}

int vm_qmp_send(struct vm_qmp *q, const char *execute, const char *args_json, vm_qmp_cb cb, void *data)
{
	struct vm_qmp_req *r;
	struct buf line = BUF_INIT;

	if (q->dead)
		return -ECONNRESET;
	r = xcalloc(1, sizeof(*r));
	r->id = ++q->last_id;
	r->cb = cb;
	r->data = data;
	buf_puts(&line, "{\"execute\":");
	json_escape(&line, execute, strlen(execute));
	if (args_json)
		buf_printf(&line, ",\"arguments\":%s", args_json);
	buf_printf(&line, ",\"id\":%lld}\n", (long long)r->id);
	r->line = buf_steal(&line);
	if (!q->ready) {
		struct vm_qmp_req **pp = &q->pending;
		while (*pp)
			pp = &(*pp)->next;
		*pp = r;
		return 0;
	}
	vm_qmp_enqueue_line(q, r);
	vm_qmp_flush(q);
	return 0;
}

int vm_qmp_pass_fd(struct vm_qmp *q, int fd)
{
	char space = ' ';
	struct iovec iov = { .iov_base = &space, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	if (q->dead)
		return -ECONNRESET;
	/* The byte must not land inside a command being written. */
	if (!q->ready || loop_op_active(&q->wr) || q->out.len)
		return -EBUSY;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(q->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -errno;
}

void vm_qmp_free(struct vm_qmp *q)
{
	vm_qmp_fail_all(q);
	buf_free(&q->in);
	buf_free(&q->out);
}
