/* Frame codec of the agent protocol. Decoding is the hostile side: every
 * length, type, flag and string from the guest is checked before use. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/agent.h"
#include "buf.h"
#include "util.h"

/* Which frame types the guest may send, and the smallest payload each
 * needs. Flags other than EOF on data frames are refused. */
static bool agent_guest_type_ok(const struct proto_hdr *h)
{
	bool data = h->type == PROTO_T_STDOUT || h->type == PROTO_T_STDERR;

	if (h->flags && !data)
		return false;
	switch (h->type) {
	case PROTO_T_HELLO:
		return h->len >= PROTO_HELLO_FIXED && h->stream == 0;
	case PROTO_T_RESULT:
		return h->ref != 0;
	case PROTO_T_STDOUT:
	case PROTO_T_STDERR:
		return h->stream != 0;
	case PROTO_T_CREDIT:
		return h->len >= PROTO_CREDIT_SIZE && h->stream != 0;
	case PROTO_T_EXIT:
		return h->len >= PROTO_EXIT_SIZE && h->stream != 0;
	case PROTO_T_STATS:
		return h->len >= PROTO_STATS_SIZE && h->ref != 0;
	case PROTO_T_TOP:
		return h->stream == 0 && h->ref != 0;
	case PROTO_T_LOG:
		return h->stream == 0;
	default:
		return false;
	}
}

ssize_t agent_frame_parse(const uint8_t *buf, size_t len, struct agent_frame *f)
{
	if (len < PROTO_HDR_SIZE)
		return 0;
	if (proto_hdr_get(buf, &f->h) < 0 || !agent_guest_type_ok(&f->h))
		return -EBADMSG;
	if (len - PROTO_HDR_SIZE < f->h.len)
		return 0;
	f->payload = buf + PROTO_HDR_SIZE;
	return (ssize_t)(PROTO_HDR_SIZE + f->h.len);
}

/* Copy a guest string for printing: bounded, control bytes replaced. */
static void agent_copy_text(char *out, size_t cap, const uint8_t *v, size_t len)
{
	size_t n = len < cap - 1 ? len : cap - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = (v[i] >= 0x20 && v[i] < 0x7f) || v[i] == '\t' ? (char)v[i] : '?';
	out[n] = 0;
}

int agent_decode_hello(const struct agent_frame *f, struct agent_hello *out)
{
	struct proto_tlv_iter it;
	const uint8_t *v;
	uint16_t tag, l;
	int k;

	memset(out, 0, sizeof(*out));
	if (f->h.type != PROTO_T_HELLO || f->h.len < PROTO_HELLO_FIXED ||
	    proto_get32(f->payload) != PROTO_MAGIC)
		return -EBADMSG;
	out->version = proto_get32(f->payload + 4);
	out->features = proto_get32(f->payload + 8);
	proto_tlv_init(&it, f->payload + PROTO_HELLO_FIXED, f->h.len - PROTO_HELLO_FIXED);
	while ((k = proto_tlv_next(&it, &tag, &v, &l)) > 0) {
		if (tag == PROTO_A_KERNEL) {
			agent_copy_text(out->kernel, sizeof(out->kernel), v, l);
		} else if (tag == PROTO_A_CLOCK) {
			if (l != 16)
				return -EBADMSG;
			out->guest_start_ns = proto_get64(v);
			out->guest_sent_ns = proto_get64(v + 8);
		}
	}
	return k < 0 ? -EBADMSG : 0;
}

int agent_decode_result(const struct agent_frame *f, struct agent_result *out)
{
	struct proto_tlv_iter it;
	const uint8_t *v;
	uint16_t tag, l;
	int k;

	memset(out, 0, sizeof(*out));
	if (f->h.type != PROTO_T_RESULT)
		return -EBADMSG;
	proto_tlv_init(&it, f->payload, f->h.len);
	while ((k = proto_tlv_next(&it, &tag, &v, &l)) > 0) {
		if ((tag == PROTO_A_ERRNO || tag == PROTO_A_PID) && l != 4)
			return -EBADMSG;
		if (tag == PROTO_A_ERRNO) {
			uint32_t e = proto_get32(v);
			if (e >= 4096)	/* errno values are small */
				return -EBADMSG;
			out->err = (int)e;
		} else if (tag == PROTO_A_PID) {
			out->pid = proto_get32(v);
		} else if (tag == PROTO_A_MSG) {
			agent_copy_text(out->msg, sizeof(out->msg), v, l);
		}
	}
	return k < 0 ? -EBADMSG : 0;
}

int agent_decode_exit(const struct agent_frame *f, struct agent_exit *out)
{
	if (f->h.type != PROTO_T_EXIT || f->h.len < PROTO_EXIT_SIZE)
		return -EBADMSG;
	out->code = proto_get32(f->payload);
	out->signal = proto_get32(f->payload + 4);
	out->wstatus = proto_get32(f->payload + 8);
	if (out->code > 255 || out->signal > 64)
		return -EBADMSG;
	return 0;
}

int agent_decode_stats(const struct agent_frame *f, struct agent_stats *out)
{
	const uint8_t *p = f->payload;

	if (f->h.type != PROTO_T_STATS || f->h.len < PROTO_STATS_SIZE)
		return -EBADMSG;
	out->uptime_ms = proto_get64(p + PROTO_STATS_UPTIME_MS);
	out->mem_total = proto_get64(p + PROTO_STATS_MEM_TOTAL);
	out->mem_free = proto_get64(p + PROTO_STATS_MEM_FREE);
	out->mem_available = proto_get64(p + PROTO_STATS_MEM_AVAIL);
	out->load[0] = proto_get32(p + PROTO_STATS_LOAD1);
	out->load[1] = proto_get32(p + PROTO_STATS_LOAD5);
	out->load[2] = proto_get32(p + PROTO_STATS_LOAD15);
	out->nprocs = proto_get32(p + PROTO_STATS_NPROCS);
	out->has_cpu = f->h.len >= PROTO_STATS_SIZE_FULL;
	if (out->has_cpu) {
		out->cpu_busy_ns = proto_get64(p + PROTO_STATS_CPU_BUSY_NS);
		out->cpu_total_ns = proto_get64(p + PROTO_STATS_CPU_TOTAL_NS);
		out->blk_read = proto_get64(p + PROTO_STATS_BLK_READ);
		out->blk_write = proto_get64(p + PROTO_STATS_BLK_WRITE);
		out->ncpus = proto_get32(p + PROTO_STATS_NCPUS);
		out->user_procs = proto_get32(p + PROTO_STATS_USER_PROCS);
		/* Counters from the guest: a busy time beyond the total or no
		 * CPU at all is not believed. */
		if (out->cpu_busy_ns > out->cpu_total_ns || out->ncpus == 0 || out->ncpus > 4096)
			out->has_cpu = false;
	}
	return 0;
}

int agent_decode_top(const struct agent_frame *f, struct agent_ps **out, size_t *n, bool *trunc)
{
	struct proto_tlv_iter it;
	const uint8_t *v;
	uint16_t tag, len;
	struct agent_ps *ps = NULL;
	size_t cnt = 0;
	int r;

	*out = NULL;
	*n = 0;
	*trunc = false;
	if (f->h.type != PROTO_T_TOP)
		return -EBADMSG;
	proto_tlv_init(&it, f->payload, f->h.len);
	while ((r = proto_tlv_next(&it, &tag, &v, &len)) > 0) {
		if (tag == PROTO_A_TRUNC && len == 4) {
			*trunc = proto_get32(v) != 0;
			continue;
		}
		if (tag != PROTO_A_PROC || len < PROTO_PROC_FIXED || len > PROTO_PROC_FIXED + PROTO_MAX_PROC_CMD)
			goto bad;
		ps = xrealloc(ps, (cnt + 1) * sizeof(*ps));
		struct agent_ps *e = &ps[cnt++];
		uint32_t st = proto_get32(v + 12);
		e->pid = proto_get32(v);
		e->ppid = proto_get32(v + 4);
		e->uid = proto_get32(v + 8);
		e->state = (st >= 'A' && st <= 'Z') || (st >= 'a' && st <= 'z') ? (char)st : '?';
		e->cpu_ms = proto_get64(v + 16);
		e->rss = proto_get64(v + 24);
		agent_copy_text(e->cmd, sizeof(e->cmd), v + PROTO_PROC_FIXED, len - PROTO_PROC_FIXED);
	}
	if (r < 0)
		goto bad;
	*out = ps;
	*n = cnt;
	return 0;
bad:
	free(ps);
	return -EBADMSG;
}

int agent_decode_credit(const struct agent_frame *f, uint32_t *chan, uint32_t *bytes)
{
	if (f->h.type != PROTO_T_CREDIT || f->h.len < PROTO_CREDIT_SIZE)
		return -EBADMSG;
	*chan = proto_get32(f->payload);
	*bytes = proto_get32(f->payload + 4);
	if (*chan > PROTO_CHAN_STDERR || *bytes > PROTO_MAX_CREDIT)
		return -EBADMSG;
	return 0;
}

void agent_decode_log(const struct agent_frame *f, char *out, size_t cap)
{
	agent_copy_text(out, cap, f->payload, f->h.len);
}

/* ---- encoding ---- */

int agent_encode_frame(struct buf *out, uint16_t type, uint16_t flags, uint32_t stream,
		       uint32_t ref, const void *payload, size_t len)
{
	struct proto_hdr h = { .len = (uint32_t)len, .type = type, .flags = flags, .stream = stream, .ref = ref };
	uint8_t hdr[PROTO_HDR_SIZE];

	if (len > PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	proto_hdr_put(hdr, &h);
	buf_append(out, hdr, sizeof(hdr));
	if (len)
		buf_append(out, payload, len);
	return 0;
}

void agent_encode_hello(struct buf *out)
{
	uint8_t p[PROTO_HELLO_FIXED];

	proto_put32(p, PROTO_MAGIC);
	proto_put32(p + 4, PROTO_VERSION);
	proto_put32(p + 8, 0);
	agent_encode_frame(out, PROTO_T_HELLO, 0, 0, 0, p, sizeof(p));
}

/* A TLV payload under construction, in a buffer of the frame's maximum. */
struct agent_tlv {
	uint8_t p[PROTO_MAX_PAYLOAD];
	size_t len;
	int err;
};

static void agent_put(struct agent_tlv *t, uint16_t tag, const void *v, size_t len)
{
	if (!t->err && proto_tlv_put(t->p, sizeof(t->p), &t->len, tag, v, len) < 0)
		t->err = -E2BIG;
}

static void agent_put32(struct agent_tlv *t, uint16_t tag, uint32_t v)
{
	uint8_t le[4];

	proto_put32(le, v);
	agent_put(t, tag, le, 4);
}

static void agent_putstrv(struct agent_tlv *t, uint16_t tag, char *const *v, bool one_line)
{
	for (size_t i = 0; v && v[i]; i++) {
		if (one_line && strpbrk(v[i], "\r\n"))
			t->err = t->err ? t->err : -EINVAL;
		agent_put(t, tag, v[i], strlen(v[i]));
	}
}

static int agent_tlv_frame(struct buf *out, struct agent_tlv *t, uint16_t type, uint32_t stream, uint32_t ref)
{
	int r = t->err ? t->err : agent_encode_frame(out, type, 0, stream, ref, t->p, t->len);

	free(t);
	return r;
}

int agent_encode_proc(struct buf *out, uint16_t type, uint32_t stream, uint32_t ref,
		      const struct agent_proc_spec *s)
{
	struct agent_tlv *t;

	if (!s->argv || !s->argv[0] || (s->cwd && s->cwd[0] != '/') || (s->root && s->root[0] != '/') ||
	    s->ngroups > PROTO_MAX_GROUPS)
		return -EINVAL;
	t = xcalloc(1, sizeof(*t));
	agent_putstrv(t, PROTO_A_ARG, s->argv, false);
	agent_putstrv(t, PROTO_A_ENV, s->env, false);
	if (s->cwd)
		agent_put(t, PROTO_A_CWD, s->cwd, strlen(s->cwd));
	if (s->root)
		agent_put(t, PROTO_A_ROOT, s->root, strlen(s->root));
	agent_put32(t, PROTO_A_UID, s->uid);
	agent_put32(t, PROTO_A_GID, s->gid);
	for (size_t i = 0; i < s->ngroups; i++)
		agent_put32(t, PROTO_A_GROUP, s->groups[i]);
	agent_put32(t, PROTO_A_TTY, s->tty);
	agent_put32(t, PROTO_A_STDIN, s->stdin_open);
	if (s->tty && s->rows && s->cols) {
		uint8_t ws[PROTO_RESIZE_SIZE] = { 0 };
		proto_put16(ws, s->rows);
		proto_put16(ws + 2, s->cols);
		agent_put(t, PROTO_A_WINSIZE, ws, sizeof(ws));
	}
	return agent_tlv_frame(out, t, type, stream, ref);
}

static void agent_put_addr(struct agent_tlv *t, uint16_t tag, const struct agent_addr *a, bool prefix)
{
	uint8_t v[17];
	size_t n = a->family == AF_INET ? 4 : 16;

	if (a->family != AF_INET && a->family != AF_INET6) {
		t->err = t->err ? t->err : -EINVAL;
		return;
	}
	memcpy(v, a->addr, n);
	v[n] = a->prefix;
	agent_put(t, tag, v, n + (prefix ? 1 : 0));
}

static void agent_put_mount(struct agent_tlv *t, const struct agent_mount *m)
{
	size_t sl = m->src ? strlen(m->src) : 0, tl = m->target ? strlen(m->target) : 0;
	uint8_t *v;

	if (m->kind < PROTO_MOUNT_9P || m->kind > PROTO_MOUNT_BINFMT || !sl || sl > UINT16_MAX ||
	    tl < 1 || m->target[0] != '/' || tl > PROTO_MAX_PATH) {
		t->err = t->err ? t->err : -EINVAL;
		return;
	}
	v = xmalloc(4 + sl + tl);
	v[0] = (uint8_t)m->kind;
	v[1] = m->readonly ? PROTO_MOUNT_RO : 0;
	proto_put16(v + 2, (uint16_t)sl);
	memcpy(v + 4, m->src, sl);
	memcpy(v + 4 + sl, m->target, tl);
	agent_put(t, PROTO_A_MOUNT, v, 4 + sl + tl);
	free(v);
}

int agent_encode_config(struct buf *out, uint32_t ref, const struct agent_config *c)
{
	struct agent_tlv *t = xcalloc(1, sizeof(*t));

	if (c->hostname) {
		if (strlen(c->hostname) > PROTO_MAX_HOSTNAME || strpbrk(c->hostname, "\r\n"))
			t->err = -EINVAL;
		agent_put(t, PROTO_A_HOSTNAME, c->hostname, strlen(c->hostname));
	}
	if (c->ifname)
		agent_put(t, PROTO_A_IFNAME, c->ifname, strlen(c->ifname));
	for (size_t i = 0; i < c->naddrs; i++)
		agent_put_addr(t, PROTO_A_ADDR, &c->addrs[i], true);
	if (c->gateway)
		agent_put_addr(t, PROTO_A_GATEWAY, c->gateway, false);
	if (c->mtu)
		agent_put32(t, PROTO_A_MTU, c->mtu);
	if (c->has_mac)
		agent_put(t, PROTO_A_MAC, c->mac, sizeof(c->mac));
	agent_putstrv(t, PROTO_A_DNS, c->dns, true);
	agent_putstrv(t, PROTO_A_SEARCH, c->search, true);
	agent_putstrv(t, PROTO_A_HOSTS, c->hosts, true);
	if (c->nmounts > PROTO_MAX_MOUNTS)
		t->err = t->err ? t->err : -E2BIG;
	else
		for (size_t i = 0; i < c->nmounts; i++)
			agent_put_mount(t, &c->mounts[i]);
	return agent_tlv_frame(out, t, PROTO_T_CONFIG, 0, ref);
}
