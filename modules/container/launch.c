/* One container on the reactor: start QEMU on the image disk (overlay or
 * snapshot), open the agent session, configure the guest, start the main
 * process, dispatch output/exit per process, end the VM after the main
 * process's EXIT (QMP quit, SIGKILL after a grace) and report once QEMU is
 * reaped. Every way of failing ends in exactly one done() with 125 and a
 * message naming the cause. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "agent/agent.h"
#include "container-internal.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"
#include "netcfg-internal.h"

#define CTR_EOF_WAIT_MS 300u	/* after EXIT, for the last output frames */
#define CTR_QUIT_GRACE_MS 1500u
#define CTR_BYE_GRACE_MS 3000u	/* for the guest's power-off (sync, unmount) */
#define CTR_BOOT_TIMEOUT_S 120u	/* TCG boots take ~1-3 s; a hung kernel must not hang ucrt */
/* Liveness of a running guest (docs/run.md, "Unresponsive guests"): a
 * STATS request and a QMP query-status every CTR_PING_MS; a guest whose
 * guest-init leaves a request unanswered for the guest timeout (default
 * CTR_GUEST_TIMEOUT_S, $UCRT_GUEST_TIMEOUT) has halted or hung, and
 * nothing else would ever end it. guest-init answers from its poll loop,
 * so only a guest starved far beyond any load seen gets near the
 * default. After a signal to a process someone waits for its effect: the
 * deadline is then CTR_SIGNAL_PROBE_MS. */
#define CTR_PING_MS 5000u
#define CTR_GUEST_TIMEOUT_S 30u
#define CTR_QMP_TIMEOUT_MS 3000u
#define CTR_CONSOLE_TAIL 320u	/* console bytes quoted when the log goes with the container */

struct ctr_proc {
	struct ctr *c;
	uint32_t stream;
	const struct ctr_proc_ops *ops;
	void *ud;
	struct agent_proc_spec spec;
	bool started, exited, out_eof, err_eof;
	int status;
	struct ctr_proc *next;
};

struct ctr {
	struct loop *l;
	struct ctr_launch o;
	struct ctr_events ev;
	void *ud;
	struct vm *vm;
	struct agent *ag;
	struct ctr_proc main;
	struct ctr_proc *procs;		/* exec'ed ones */
	bool ready, main_exited, quitting, done, freeing, killed;
	bool manual_credit;		/* ctr_manual_credit before the agent existed */
	bool qmp_polling;		/* a query-status is out */
	bool unresponsive;		/* a probe went unanswered: asking QEMU */
	uint64_t probe_sent, probe_deadline;	/* ns; probe_sent 0: none out */
	unsigned guest_timeout_ms;
	char *console;			/* console log path (owned) */
	int status;
	struct err err;
	char guest_log[256];		/* last LOG line from guest-init */
	uint64_t t_main_exit;		/* EXIT of the main process (timeline) */
	uint64_t guest_start_ns, guest_sent_ns;	/* guest-init's clock in its HELLO (timeline) */
	struct ctr_netvm *net;		/* tap + lease + filter, NULL: no network */
	struct ctr_mounts_live *mounts;	/* shares, disks and their locks */
	struct ctr_clone clone;		/* restored from a template (template-use.c) */
	struct loop_timer bye_timer;	/* the guest's own power-off, then quit */
	struct loop_timer eof_timer, stop_timer, boot_timer, live_timer;
};

static void ctr_spec_to_agent(const struct ctr_spec *s, struct agent_proc_spec *a, uint16_t rows,
			      uint16_t cols)
{
	*a = (struct agent_proc_spec){
		.argv = s->argv, .env = s->env, .cwd = s->cwd, .root = s->root, .uid = s->uid, .gid = s->gid,
		.tty = s->tty, .stdin_open = s->stdin_open, .rows = rows, .cols = cols,
	};
}

static struct ctr_proc *ctr_proc_of(struct ctr *c, uint32_t stream)
{
	if (c->main.stream == stream)
		return &c->main;
	for (struct ctr_proc *p = c->procs; p; p = p->next) {
		if (p->stream == stream)
			return p;
	}
	return NULL;
}

/* Ask QEMU to go (the guest powers off by itself too; whichever first). */
static void ctr_quit(struct ctr *c)
{
	if (c->quitting)
		return;
	c->quitting = true;
	loop_timer_stop(c->l, &c->eof_timer);
	loop_timer_stop(c->l, &c->stop_timer);
	loop_timer_stop(c->l, &c->boot_timer);
	loop_timer_stop(c->l, &c->bye_timer);
	loop_timer_stop(c->l, &c->live_timer);
	if (c->vm)
		vm_quit(c->vm, CTR_QUIT_GRACE_MS);
}

static void ctr_fail(struct ctr *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ctr_fail(struct ctr *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (!c->err.code && !c->main_exited) {
		va_start(ap, fmt);
		vsnprintf(c->err.msg, sizeof(c->err.msg), fmt, ap);
		va_end(ap);
		c->err.code = code ? code : EIO;
		c->status = 125;
	}
	ctr_quit(c);
}

static void ctr_eof_timeout(struct loop_timer *t)
{
	ctr_quit(t->data);
}

/* Where a failure's console output can be read: its path, or, when the
 * log goes away with the container (--rm), its last lines themselves. */
static const char *ctr_console_ref(const struct ctr *c, char *out, size_t cap)
{
	char tail[CTR_CONSOLE_TAIL + 1];
	const char *t;
	ssize_t n = 0;
	off_t end;
	size_t k;
	int fd;

	if (!c->o.console_log)
		return "console log: not kept";
	if (!c->o.console_gone) {
		snprintf(out, cap, "console log: %s", c->o.console_log);
		return out;
	}
	fd = open(c->o.console_log, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (end = lseek(fd, 0, SEEK_END)) > 0)
		n = pread(fd, tail, CTR_CONSOLE_TAIL, end > (off_t)CTR_CONSOLE_TAIL ? end - (off_t)CTR_CONSOLE_TAIL : 0);
	if (fd >= 0)
		close(fd);
	n = n > 0 ? n : 0;
	while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		n--;
	tail[n] = 0;
	/* From a line start when the window cut one; lines joined by " | ". */
	t = (size_t)n == CTR_CONSOLE_TAIL && strchr(tail, '\n') ? strchr(tail, '\n') + 1 : tail;
	if (!*t)
		return "the console was empty";
	k = (size_t)snprintf(out, cap, "console: ");
	for (; *t && k + 4 < cap; t++) {
		if (*t == '\r')
			continue;
		if (*t == '\n')
			k += (size_t)snprintf(out + k, cap - k, " | ");
		else
			out[k++] = *t >= 0x20 && *t < 0x7f ? *t : '?';
	}
	out[MIN(k, cap - 1)] = 0;
	return out;
}

static void ctr_boot_timeout(struct loop_timer *t)
{
	struct ctr *c = t->data;
	char con[CTR_CONSOLE_TAIL + 64];

	ctr_fail(c, ETIMEDOUT, "the guest did not answer within %u s (%s)", CTR_BOOT_TIMEOUT_S,
		 ctr_console_ref(c, con, sizeof(con)));
}

/* ---- liveness ---- */

static void ctr_live_arm(struct ctr *c, uint64_t ms)
{
	loop_timer_stop(c->l, &c->live_timer);
	loop_timer_start(c->l, &c->live_timer, ms * 1000000ull);
}

/* After an unanswered probe: status is QEMU's run state, NULL when QMP
 * did not answer either. */
static void ctr_unresponsive_end(struct ctr *c, const char *status)
{
	char con[CTR_CONSOLE_TAIL + 64], why[64];

	if (c->quitting)
		return;
	if (!status)
		snprintf(why, sizeof(why), "QEMU does not answer QMP either");
	else if (strcmp(status, "running") == 0)
		snprintf(why, sizeof(why), "QEMU runs it: halted or hung");
	else
		snprintf(why, sizeof(why), "QEMU reports it %.30s", status);
	ctr_fail(c, ETIMEDOUT, "the guest of %s stopped answering: no reply from guest-init in %.1f s (%s; %s)",
		 c->o.cfg->name, (double)(loop_now_ns() - c->probe_sent) / 1e9, why,
		 ctr_console_ref(c, con, sizeof(con)));
}

/* "status" of query-status's return value; NULL when absent. */
static char *ctr_qmp_status(int res, const char *json, size_t len)
{
	struct json_doc d;
	char *st = NULL;

	if (res == 0 && json_parse(&d, json, len, 64) == 0) {
		st = json_str(&d, json_get(&d, 0, "status"));
		json_free(&d);
	}
	return st;
}

static void ctr_qmp_status_done(struct vm *vm, int res, const char *json, size_t len, void *data)
{
	struct ctr *c = data;
	_cleanup_free_ char *st = NULL;

	if (c->freeing)
		return;
	c->qmp_polling = false;
	st = ctr_qmp_status(res, json, len);
	if (c->unresponsive) {
		ctr_unresponsive_end(c, st);
		return;
	}
	/* QEMU stops a guest itself on a host I/O error (werror=enospc: a
	 * full host disk) or a KVM internal error, and it stays stopped. */
	if (st && strcmp(st, "running") != 0 && !c->quitting && !c->main_exited) {
		char con[CTR_CONSOLE_TAIL + 64];
		ctr_fail(c, EIO, "QEMU stopped the guest of %s (status %.30s; %s)", c->o.cfg->name, st,
			 ctr_console_ref(c, con, sizeof(con)));
	}
}

static int ctr_qmp_poll(struct ctr *c)
{
	if (c->qmp_polling)
		return 0;
	if (!c->vm || !vm_running(c->vm) ||
	    vm_qmp(c->vm, "query-status", NULL, ctr_qmp_status_done, c) < 0)
		return -ESRCH;
	c->qmp_polling = true;
	return 0;
}

static void ctr_live_tick(struct loop_timer *t)
{
	struct ctr *c = t->data;
	uint64_t now = loop_now_ns();

	if (c->quitting || c->main_exited || !c->ag || !vm_running(c->vm))
		return;
	if (c->unresponsive) {
		ctr_unresponsive_end(c, NULL);	/* QMP did not answer in time */
		return;
	}
	if (c->probe_sent && now >= c->probe_deadline) {
		/* Ask QEMU how the guest is before saying what happened. */
		c->unresponsive = true;
		if (ctr_qmp_poll(c) == 0)
			ctr_live_arm(c, CTR_QMP_TIMEOUT_MS);
		else
			ctr_unresponsive_end(c, NULL);
		return;
	}
	if (!c->probe_sent) {
		if (agent_request_stats(c->ag) < 0) {
			/* A closing channel: closed() reports. Else all request
			 * slots are taken (execs pending): try again later. */
			if (agent_is_open(c->ag))
				ctr_live_arm(c, CTR_PING_MS);
			return;
		}
		c->probe_sent = now;
		c->probe_deadline = now + (uint64_t)c->guest_timeout_ms * 1000000u;
		ctr_qmp_poll(c);
	}
	ctr_live_arm(c, (c->probe_deadline - now) / 1000000u + 1);
}

/* An answer to a probe: the guest lives. */
static void ctr_on_stats(struct agent *a, const struct agent_stats *st, void *ud)
{
	struct ctr *c = ud;

	if (c->unresponsive || c->quitting || c->main_exited)
		return;
	c->probe_sent = 0;
	ctr_live_arm(c, CTR_PING_MS);
	if (c->ev.alive)
		c->ev.alive(c, c->ud);
	if (c->ev.stats)
		c->ev.stats(c, st, c->ud);
}

static void ctr_on_top(struct agent *a, const struct agent_ps *ps, size_t n, bool trunc, void *ud)
{
	struct ctr *c = ud;

	if (c->ev.top && !c->quitting)
		c->ev.top(c, ps, n, trunc, c->ud);
}

int ctr_request_top(struct ctr *c)
{
	if (!c->ready || !c->ag || c->quitting || c->main_exited)
		return -ESRCH;
	return agent_request_top(c->ag);
}

int ctr_probe(struct ctr *c, unsigned deadline_ms)
{
	uint64_t now = loop_now_ns(), dl = now + (uint64_t)deadline_ms * 1000000u;
	int r;

	if (!c->ready || !c->ag || c->quitting || c->main_exited)
		return -ESRCH;
	if (c->unresponsive)
		return 0;
	if (!c->probe_sent) {
		if ((r = agent_request_stats(c->ag)) < 0)
			return r;
		c->probe_sent = now;
		c->probe_deadline = dl;
	} else if (dl < c->probe_deadline) {
		c->probe_deadline = dl;
	}
	ctr_live_arm(c, (c->probe_deadline - now) / 1000000u + 1);
	return 0;
}

static void ctr_stop_timeout(struct loop_timer *t)
{
	struct ctr *c = t->data;

	log_debug("container %s: still running after the stop grace: ending the VM", c->o.cfg->name);
	/* docker's stop: past the grace the process is killed, and the
	 * container ends as SIGKILLed (137), not as a failure. */
	ctr_kill_vm(c);
}

static void ctr_bye_timeout(struct loop_timer *t)
{
	ctr_quit(t->data);
}

/* A guest with disks that outlive it (a kept container's overlay, volumes
 * attached read-write) powers off by itself after the host's SHUTDOWN:
 * it syncs and unmounts them first, which a QMP quit would cut short.
 * Others are simply ended. */
static void ctr_maybe_quit(struct ctr *c)
{
	if (!(c->main_exited && c->main.out_eof && c->main.err_eof) || c->quitting)
		return;
	if (c->o.cfg->overlay || ctr_mounts_rw_disks(c->mounts)) {
		if (!loop_timer_armed(&c->bye_timer))
			loop_timer_start(c->l, &c->bye_timer, CTR_BYE_GRACE_MS * 1000000ull);
		return;
	}
	ctr_quit(c);
}

static void ctr_start_main(struct ctr *c)
{
	const struct ctr_config *cfg = c->o.cfg;
	int r;

	ctr_spec_to_agent(&cfg->spec, &c->main.spec, c->o.rows, c->o.cols);
	r = agent_start(c->ag, &c->main.spec, &c->main.stream);
	if (r < 0)
		ctr_fail(c, -r, "starting %s in the guest: %s", cfg->spec.argv[0], strerror(-r));
}

static void ctr_on_ready(struct agent *a, const struct agent_hello *h, void *ud)
{
	struct ctr *c = ud;
	const struct ctr_config *cfg = c->o.cfg;
	struct agent_config ac = { .hostname = cfg->hostname };
	int r;

	ctr_netvm_agent_config(c->net, cfg, &ac);
	ctr_mounts_agent(c->mounts, &ac);
	if (c->clone.has_mac) {
		ac.has_mac = true;
		memcpy(ac.mac, c->clone.mac, sizeof(ac.mac));
	}

	c->ready = true;
	loop_timer_stop(c->l, &c->boot_timer);
	ctr_live_arm(c, CTR_PING_MS);
	vm_stamp(c->vm, VM_T_AGENT);
	c->guest_start_ns = h->guest_start_ns;
	c->guest_sent_ns = h->guest_sent_ns;
	log_debug("container %s: guest-init ready (kernel %s)", cfg->name, h->kernel);
	if ((cfg->hostname || c->net || ac.nmounts) && (r = agent_config(a, &ac)) < 0)
		log_warn("container %s: guest config: %s", cfg->name, strerror(-r));
	if (!c->o.hold)
		ctr_start_main(c);
	else if (c->ev.ready)
		c->ev.ready(c, c->ud);
}

int ctr_release(struct ctr *c)
{
	if (!c->o.hold)
		return -EALREADY;
	c->o.hold = false;
	if (c->ready && !c->quitting)
		ctr_start_main(c);
	return 0;
}

int ctr_power_off(struct ctr *c)
{
	if (!c->o.hold || c->main.started)
		return -EALREADY;
	if (c->quitting || c->done)
		return 0;
	/* A QMP quit would lose what the guest has not written back yet; the
	 * bye timer ends a guest that does not power off by itself. */
	if (!c->ag || agent_shutdown(c->ag) < 0) {
		ctr_quit(c);
		return 0;
	}
	if (!loop_timer_armed(&c->bye_timer))
		loop_timer_start(c->l, &c->bye_timer, CTR_BYE_GRACE_MS * 1000000ull);
	return 0;
}

static void ctr_on_result(struct agent *a, uint32_t stream, const struct agent_result *r, void *ud)
{
	struct ctr *c = ud;
	struct ctr_proc *p;

	if (stream == 0) {
		if (r->err)
			log_warn("container %s: guest config: %s%s%s", c->o.cfg->name, strerror(r->err),
				 r->msg[0] ? ": " : "", r->msg);
		return;
	}
	p = ctr_proc_of(c, stream);
	if (!p)
		return;
	p->started = r->err == 0;
	if (p == &c->main && r->err == 0)
		vm_stamp(c->vm, VM_T_PROCESS);
	if (p->ops && p->ops->started)
		p->ops->started(p, r->err, r->msg, p->ud);
	if (p == &c->main && r->err) {
		/* Exec failures come back as exit 126/127; a result error
		 * means the guest could not even set the process up. */
		ctr_fail(c, r->err, "starting %s: %s%s%s", c->o.cfg->spec.argv[0], strerror(r->err),
			 r->msg[0] ? ": " : "", r->msg);
	}
}

static void ctr_on_output(struct agent *a, uint32_t stream, int chan, const uint8_t *data,
			  size_t len, bool eof, void *ud)
{
	struct ctr *c = ud;
	struct ctr_proc *p = ctr_proc_of(c, stream);

	if (!p)
		return;
	if (p->ops && p->ops->output && (len || eof))
		p->ops->output(p, chan, data, len, eof, p->ud);
	if (eof)
		*(chan == PROTO_CHAN_STDERR ? &p->err_eof : &p->out_eof) = true;
	if (p == &c->main)
		ctr_maybe_quit(c);
}

static void ctr_on_exit(struct agent *a, uint32_t stream, const struct agent_exit *e, void *ud)
{
	struct ctr *c = ud;
	struct ctr_proc *p = ctr_proc_of(c, stream);

	if (!p || p->exited)
		return;
	p->exited = true;
	p->status = (int)e->code;
	if (p == &c->main) {
		c->t_main_exit = loop_now_ns();
		c->main_exited = true;
		c->status = p->status;
		log_debug("container %s: process exited with %d%s", c->o.cfg->name, p->status,
			  e->signal ? " (signal)" : "");
		/* EXIT can overtake the last output frames' EOF marks. */
		loop_timer_start(c->l, &c->eof_timer, CTR_EOF_WAIT_MS * 1000000ull);
	}
	if (p->ops && p->ops->exit)
		p->ops->exit(p, p->status, p->ud);
	if (p == &c->main)
		ctr_maybe_quit(c);
}

static void ctr_on_stdin_ready(struct agent *a, uint32_t stream, void *ud)
{
	struct ctr_proc *p = ctr_proc_of(ud, stream);

	if (p && p->ops && p->ops->stdin_ready)
		p->ops->stdin_ready(p, p->ud);
}

static void ctr_on_log(struct agent *a, const char *line, void *ud)
{
	struct ctr *c = ud;

	snprintf(c->guest_log, sizeof(c->guest_log), "%s", line);
	log_debug("container %s: guest: %s", c->o.cfg->name, line);
}

static void ctr_on_closed(struct agent *a, int err, const char *msg, void *ud)
{
	struct ctr *c = ud;

	if (!c->main_exited) {
		if (c->guest_log[0])
			ctr_fail(c, EIO, "guest: %s", c->guest_log);
		else if (err && c->clone.active && !c->ready)
			;	/* a failed restore: QEMU's exit says why */
		else if (err)
			ctr_fail(c, -err, "guest channel: %s%s%s", strerror(-err), msg ? ": " : "",
				 msg ? msg : "");
	}
	ctr_quit(c);
}

static const struct agent_ops ctr_agent_ops = {
	.ready = ctr_on_ready,
	.result = ctr_on_result,
	.output = ctr_on_output,
	.exit = ctr_on_exit,
	.stdin_ready = ctr_on_stdin_ready,
	.log = ctr_on_log,
	.stats = ctr_on_stats,
	.top = ctr_on_top,
	.closed = ctr_on_closed,
};

/* The vm module hands the channel over once it exists (at once for
 * virtio-serial, after guest-init connected for vsock). */
static void ctr_vm_agent(struct vm *vm, int fd, const struct err *e, void *data)
{
	struct ctr *c = data;
	int r;

	if (fd < 0) {
		char con[CTR_CONSOLE_TAIL + 64];
		ctr_fail(c, -fd, "%s (%s)", e ? e->msg : strerror(-fd), ctr_console_ref(c, con, sizeof(con)));
		return;
	}
	if (c->quitting) {	/* killed or failed before the guest got here */
		close(fd);
		return;
	}
	if (c->clone.active && (r = ctr_clone_resume(&c->clone, fd)) < 0) {
		close(fd);
		ctr_fail(c, -r, "waking the template clone of %s: %s", c->o.cfg->name, strerror(-r));
		return;
	}
	r = agent_new(&c->ag, c->l, fd, &ctr_agent_ops, c);
	if (r < 0) {
		ctr_fail(c, -r, "agent session of %s: %s", c->o.cfg->name, strerror(-r));
		return;
	}
	if (c->manual_credit)
		agent_set_auto_credit(c->ag, false);
}

/* UCRT_TIMELINE_FD=N: one JSON line into fd N when the VM is gone, every
 * phase as absolute CLOCK_MONOTONIC ns (0 = not reached), so `ucrt bench`
 * in the parent puts them on its own clock (docs/benchmarks.md). qemu_cpu_ns
 * is every reaped child of this process: QEMU alone for one `run --rm`. */
static void ctr_timeline_emit(const struct ctr *c)
{
	static const char *const names[VM_T_COUNT] = {
		"qemu_start", "spawned", "qmp", "console", "agent", "process", "vm_exited",
	};
	const char *fdenv = getenv("UCRT_TIMELINE_FD");
	struct rusage ru;
	struct buf b = BUF_INIT;
	struct json_writer w;
	uint64_t v;
	int r;

	if (!fdenv || !c->vm || str_to_u64(fdenv, &v) < 0 || v < 3 || v > INT32_MAX)
		return;
	getrusage(RUSAGE_CHILDREN, &ru);
	jw_init(&w, &b, false);
	jw_obj_begin(&w);
	jw_key(&w, "t0");
	jw_uint(&w, c->o.t0);
	jw_key(&w, "image");
	jw_uint(&w, c->o.t_image);
	jw_key(&w, "disk");
	jw_uint(&w, c->o.t_disk);
	for (int p = VM_T_START; p < VM_T_COUNT; p++) {
		jw_key(&w, names[p]);
		jw_uint(&w, vm_time(c->vm, (enum vm_phase)p));
	}
	jw_key(&w, "process_exit");
	jw_uint(&w, c->t_main_exit);
	jw_key(&w, "status");
	jw_int(&w, c->status);
	jw_key(&w, "qemu_pid");
	jw_int(&w, vm_pid(c->vm));
	jw_key(&w, "qemu_cpu_ns");
	jw_uint(&w, ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
			    ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull);
	/* The guest's own clock (CLOCK_MONOTONIC, ~0 at kernel entry): the
	 * reader puts it on this timeline through "agent", received then. */
	jw_key(&w, "guest_start_ns");
	jw_uint(&w, c->guest_start_ns);
	jw_key(&w, "guest_hello_ns");
	jw_uint(&w, c->guest_sent_ns);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	/* Blocking, once per container: one short line fits a pipe's buffer. */
	if ((r = write_all((int)v, b.data, b.len)) < 0)
		log_debug("UCRT_TIMELINE_FD=%s: %s", fdenv, strerror(-r));
	buf_free(&b);
}

static void ctr_vm_exited(struct vm *vm, int wstatus, void *data)
{
	struct ctr *c = data;

	if (!c->main_exited && !c->err.code && !c->killed) {
		const char *qerr = vm_qemu_stderr(vm);
		char con[CTR_CONSOLE_TAIL + 64];
		const char *hint = c->clone.active && !c->ready ? " (restoring from a VM template: run with "
								   "--no-template, or remove it: ucrt template prune --all)"
								 : "";
		if (c->guest_log[0])
			ctr_fail(c, EIO, "guest: %s", c->guest_log);
		else if (qerr[0])
			ctr_fail(c, EIO, "qemu: %.*s%s", (int)strcspn(qerr, "\n"), qerr, hint);
		else
			ctr_fail(c, EIO, "the VM ended before the process did (%s %d; %s)%s",
				 WIFSIGNALED(wstatus) ? "signal" : "status",
				 WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus),
				 ctr_console_ref(c, con, sizeof(con)), hint);
	}
	c->done = true;
	loop_timer_stop(c->l, &c->live_timer);
	loop_timer_stop(c->l, &c->eof_timer);
	loop_timer_stop(c->l, &c->stop_timer);
	loop_timer_stop(c->l, &c->boot_timer);
	/* QEMU is gone: free the address now (a blocking flock'd rewrite
	 * of the lease file, ~1 ms, deliberately in this callback so a
	 * --parallel run reuses addresses as instances end). */
	ctr_netvm_destroy(TAKE_PTR(c->net));
	ctr_mounts_detach(TAKE_PTR(c->mounts));
	ctr_log_timeline(c);
	ctr_timeline_emit(c);
	if (c->ev.done)
		c->ev.done(c, c->status, &c->err, c->ud);
}

/* $UCRT_GUEST_TIMEOUT: seconds, 1..3600 (tests, extremely loaded hosts). */
static unsigned ctr_guest_timeout_ms(void)
{
	const char *v = getenv("UCRT_GUEST_TIMEOUT");
	uint64_t s;

	if (v && str_to_u64(v, &s) == 0 && s >= 1 && s <= 3600)
		return (unsigned)s * 1000u;
	if (v)
		log_warn("ignoring UCRT_GUEST_TIMEOUT=%s (want seconds, 1..3600)", v);
	return CTR_GUEST_TIMEOUT_S * 1000u;
}

int ctr_start(struct loop *l, const struct ctr_launch *o, const struct ctr_events *ev,
	      const struct ctr_proc_ops *main_ops, void *ud, struct ctr **out, struct err *err)
{
	const struct ctr_config *cfg = o->cfg;
	struct vm_config vc = {
		.name = cfg->name,
		.cpus = cfg->cpus,
		.mem_mib = cfg->mem_mib,
		.ndisks = 1,
		.console_log = o->console_log,
		.agent = true,
		.agent_timeout_ms = CTR_BOOT_TIMEOUT_S * 1000u,
	};
	struct vm_events vev = { .exited = ctr_vm_exited, .agent = ctr_vm_agent };
	struct ctr *c = xcalloc(1, sizeof(*c));
	int r;

	if (cfg->overlay) {
		vc.disks[0] = (struct vm_disk){ .path = cfg->overlay, .qcow2 = true, .backing = cfg->disk };
		vc.cmdline = cfg->read_only ? "ucrt.ro" : NULL;
	} else {
		/* A snapshot: the guest need not make it clean for a next start. */
		vc.disks[0] = (struct vm_disk){ .path = cfg->disk, .snapshot = true };
		vc.cmdline = cfg->read_only ? "ucrt.ro ucrt.ephemeral" : "ucrt.ephemeral";
	}
	c->l = l;
	c->o = *o;
	c->clone.state_fd = -1;
	c->console = o->console_log ? xstrdup(o->console_log) : NULL;
	c->o.console_log = c->console;
	if (ev)
		c->ev = *ev;
	c->ud = ud;
	c->main = (struct ctr_proc){ .c = c, .ops = main_ops, .ud = ud, .stream = UINT32_MAX };
	loop_timer_init(&c->eof_timer, ctr_eof_timeout, c);
	loop_timer_init(&c->stop_timer, ctr_stop_timeout, c);
	loop_timer_init(&c->boot_timer, ctr_boot_timeout, c);
	loop_timer_init(&c->live_timer, ctr_live_tick, c);
	c->guest_timeout_ms = ctr_guest_timeout_ms();
	loop_timer_init(&c->bye_timer, ctr_bye_timeout, c);
	/* Blocking network setup (netlink, flock, BPF load; see netcfg.c)
	 * before QEMU, which inherits the tap. */
	r = ctr_mounts_attach(cfg, &vc, &c->mounts, err);
	if (r == 0)
		r = ctr_netvm_create(o->net, o->net_opts, cfg, &vc, &c->net, err);
	if (r == 0)
		ctr_template_attach(cfg->name, o->host, &vc, &c->clone);
	if (r == 0)
		r = vm_start(l, o->host, &vc, &vev, c, &c->vm, err);
	if (r < 0 && c->clone.active)
		r = ctr_template_detach(cfg->name, l, o->host, &vc, &vev, c, &c->clone, &c->vm, err);
	ctr_clone_started(&c->clone);
	if (r < 0) {
		ctr_clone_release(&c->clone);
		ctr_netvm_destroy(c->net);
		ctr_mounts_detach(c->mounts);
		free(c->console);
		free(c);
		return err_wrap(err, "starting the VM of %s", cfg->name);
	}
	loop_timer_start(l, &c->boot_timer, CTR_BOOT_TIMEOUT_S * 1000000000ull);
	*out = c;
	return 0;
}

struct ctr_proc *ctr_main(struct ctr *c) { return &c->main; }
pid_t ctr_qemu_pid(const struct ctr *c) { return c->vm ? vm_pid(c->vm) : 0; }
bool ctr_process_started(const struct ctr *c) { return c->main.started; }

int ctr_exec(struct ctr *c, const struct ctr_spec *s, uint16_t rows, uint16_t cols, const struct ctr_proc_ops *ops,
	     void *ud, struct ctr_proc **out)
{
	struct ctr_proc *p;
	int r;

	if (!c->ready || c->main_exited || c->quitting)
		return -ESRCH;
	p = xcalloc(1, sizeof(*p));
	p->c = c;
	p->ops = ops;
	p->ud = ud;
	p->spec = (struct agent_proc_spec){
		.argv = s->argv, .env = s->env, .cwd = s->cwd, .root = s->root, .uid = s->uid, .gid = s->gid,
		.tty = s->tty, .stdin_open = s->stdin_open,
		.rows = rows && cols ? rows : c->o.rows, .cols = rows && cols ? cols : c->o.cols,
	};
	r = agent_exec(c->ag, &p->spec, &p->stream);
	if (r < 0) {
		free(p);
		return r;
	}
	p->next = c->procs;
	c->procs = p;
	*out = p;
	return 0;
}

void ctr_proc_detach(struct ctr_proc *p)
{
	p->ops = NULL;
	p->ud = NULL;
}

ssize_t ctr_stdin(struct ctr_proc *p, const void *data, size_t len)
{
	return p->c->ag && p->stream != UINT32_MAX ? agent_stdin(p->c->ag, p->stream, data, len) : -ENOTCONN;
}

int ctr_stdin_eof(struct ctr_proc *p)
{
	return p->c->ag && p->stream != UINT32_MAX ? agent_stdin_eof(p->c->ag, p->stream) : -ENOTCONN;
}

int ctr_signal(struct ctr_proc *p, int signo)
{
	struct ctr *c = p->c;
	int r = c->ag && p->started ? agent_signal(c->ag, p->stream, signo) : -ESRCH;

	/* Someone waits for this signal's effect (or for a process the
	 * guest never started): a guest that cannot take it is found out
	 * within seconds rather than the guest timeout. */
	ctr_probe(c, MIN(CTR_SIGNAL_PROBE_MS, c->guest_timeout_ms));
	return r;
}

int ctr_resize(struct ctr_proc *p, uint16_t rows, uint16_t cols)
{
	p->c->o.rows = rows;
	p->c->o.cols = cols;
	return p->c->ag && p->started ? agent_resize(p->c->ag, p->stream, rows, cols) : 0;
}

void ctr_manual_credit(struct ctr *c)
{
	c->manual_credit = true;
	if (c->ag)
		agent_set_auto_credit(c->ag, false);
}

int ctr_credit(struct ctr_proc *p, int chan, uint32_t bytes)
{
	if (!p->c->ag || p->stream == UINT32_MAX || !bytes)
		return 0;
	return agent_credit(p->c->ag, p->stream, chan, bytes);
}

void ctr_stop(struct ctr *c, unsigned grace_ms)
{
	if (c->done)
		return;
	if (!c->main.started || c->main_exited || ctr_signal(&c->main, SIGTERM) < 0) {
		ctr_quit(c);
		return;
	}
	if (!loop_timer_armed(&c->stop_timer))
		loop_timer_start(c->l, &c->stop_timer, (uint64_t)grace_ms * 1000000u);
}

void ctr_kill_vm(struct ctr *c)
{
	if (!c->done) {
		if (!c->main_exited && !c->err.code) {
			c->status = 137;	/* as if SIGKILLed, like docker kill */
			c->killed = true;
		}
		ctr_quit(c);
	}
}

uint64_t ctr_start_latency(const struct ctr *c)
{
	uint64_t p = c->vm ? vm_time(c->vm, VM_T_PROCESS) : 0;

	return p && c->o.t0 ? p - c->o.t0 : 0;
}

void ctr_log_timeline(const struct ctr *c)
{
	static const char *const names[VM_T_COUNT] = {
		"qemu start", "qemu spawned", "qmp ready", "kernel booted (console)",
		"init ready", "process started", "exited",
	};
	uint64_t t0 = c->o.t0 ? c->o.t0 : vm_time(c->vm, VM_T_START);
	char line[768];
	int n;

	if (!log_enabled(LOG_DEBUG) || !c->vm)
		return;
	/* Signed: --parallel instances share an image made ready before
	 * their own start, so those phases come out negative. */
#define CTR_MS(t) ((double)(int64_t)((t) - t0) / 1e6)
	n = snprintf(line, sizeof(line), "container %s: timeline", c->o.cfg->name);
	if (c->o.t_image && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, " image ready %+.1fms", CTR_MS(c->o.t_image));
	if (c->o.t_disk && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", disk ready %+.1fms", CTR_MS(c->o.t_disk));
	for (int p = VM_T_START; p < VM_T_COUNT && n < (int)sizeof(line); p++) {
		uint64_t t = vm_time(c->vm, (enum vm_phase)p);
		if (t)
			n += snprintf(line + n, sizeof(line) - (size_t)n, ", %s %+.1fms", names[p], CTR_MS(t));
	}
#undef CTR_MS
	log_debug("%s", line);
}

void ctr_free(struct ctr *c)
{
	if (!c || c->freeing)
		return;
	c->freeing = true;
	loop_timer_stop(c->l, &c->live_timer);
	loop_timer_stop(c->l, &c->bye_timer);
	loop_timer_stop(c->l, &c->eof_timer);
	loop_timer_stop(c->l, &c->stop_timer);
	loop_timer_stop(c->l, &c->boot_timer);
	if (c->ag)
		agent_free(c->ag);
	if (c->vm)
		vm_free(c->vm);
	ctr_netvm_destroy(c->net);	/* freed before QEMU exited */
	ctr_mounts_detach(c->mounts);
	ctr_clone_release(&c->clone);
	while (c->procs) {
		struct ctr_proc *p = c->procs;
		c->procs = p->next;
		free(p);
	}
	free(c->console);
	free(c);
}
