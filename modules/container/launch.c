/* One container on the reactor: start QEMU on the image disk (overlay or
 * snapshot), open the agent session, configure the guest, start the main
 * process, dispatch output/exit per process, end the VM after the main
 * process's EXIT (QMP quit, SIGKILL after a grace) and report once QEMU is
 * reaped. Every way of failing ends in exactly one done() with 125 and a
 * message naming the cause. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "agent/agent.h"
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
#define CTR_BOOT_TIMEOUT_S 120u	/* TCG boots take ~1-3 s; a hung kernel must not hang ucrt */

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
	char *console;			/* console log path (owned) */
	int status;
	struct err err;
	char guest_log[256];		/* last LOG line from guest-init */
	uint64_t t_main_exit;		/* EXIT of the main process (timeline) */
	struct ctr_netvm *net;		/* tap + lease + filter, NULL: no network */
	struct loop_timer eof_timer, stop_timer, boot_timer;
};

static void ctr_spec_to_agent(const struct ctr_spec *s, struct agent_proc_spec *a, uint16_t rows,
			      uint16_t cols)
{
	*a = (struct agent_proc_spec){
		.argv = s->argv, .env = s->env, .cwd = s->cwd, .uid = s->uid, .gid = s->gid,
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

static void ctr_boot_timeout(struct loop_timer *t)
{
	struct ctr *c = t->data;

	ctr_fail(c, ETIMEDOUT, "the guest did not answer within %u s (console log: %s)",
		 CTR_BOOT_TIMEOUT_S, c->o.console_log ? c->o.console_log : "not kept");
}

static void ctr_stop_timeout(struct loop_timer *t)
{
	struct ctr *c = t->data;

	log_debug("container %s: still running after the stop grace: ending the VM", c->o.cfg->name);
	ctr_quit(c);
}

static void ctr_maybe_quit(struct ctr *c)
{
	if (c->main_exited && c->main.out_eof && c->main.err_eof)
		ctr_quit(c);
}

static void ctr_on_ready(struct agent *a, const struct agent_hello *h, void *ud)
{
	struct ctr *c = ud;
	const struct ctr_config *cfg = c->o.cfg;
	struct agent_config ac = { .hostname = cfg->hostname };
	int r;

	ctr_netvm_agent_config(c->net, cfg, &ac);

	c->ready = true;
	loop_timer_stop(c->l, &c->boot_timer);
	vm_stamp(c->vm, VM_T_AGENT);
	log_debug("container %s: guest-init ready (kernel %s)", cfg->name, h->kernel);
	if ((cfg->hostname || c->net) && (r = agent_config(a, &ac)) < 0)
		log_warn("container %s: guest config: %s", cfg->name, strerror(-r));
	ctr_spec_to_agent(&cfg->spec, &c->main.spec, c->o.rows, c->o.cols);
	r = agent_start(a, &c->main.spec, &c->main.stream);
	if (r < 0)
		ctr_fail(c, -r, "starting %s in the guest: %s", cfg->spec.argv[0], strerror(-r));
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
	.closed = ctr_on_closed,
};

/* The vm module hands the channel over once it exists (at once for
 * virtio-serial, after guest-init connected for vsock). */
static void ctr_vm_agent(struct vm *vm, int fd, const struct err *e, void *data)
{
	struct ctr *c = data;
	int r;

	if (fd < 0) {
		ctr_fail(c, -fd, "%s (console log: %s)", e ? e->msg : strerror(-fd),
			 c->o.console_log ? c->o.console_log : "not kept");
		return;
	}
	if (c->quitting) {	/* killed or failed before the guest got here */
		close(fd);
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
		if (c->guest_log[0])
			ctr_fail(c, EIO, "guest: %s", c->guest_log);
		else if (qerr[0])
			ctr_fail(c, EIO, "qemu: %.*s", (int)strcspn(qerr, "\n"), qerr);
		else
			ctr_fail(c, EIO, "the VM ended before the process did (%s %d; console log: %s)",
				 WIFSIGNALED(wstatus) ? "signal" : "status",
				 WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus),
				 c->o.console_log ? c->o.console_log : "not kept");
	}
	c->done = true;
	loop_timer_stop(c->l, &c->eof_timer);
	loop_timer_stop(c->l, &c->stop_timer);
	loop_timer_stop(c->l, &c->boot_timer);
	/* QEMU is gone: free the address now (a blocking flock'd rewrite
	 * of the lease file, ~1 ms, deliberately in this callback so a
	 * --parallel run reuses addresses as instances end). */
	ctr_netvm_destroy(TAKE_PTR(c->net));
	ctr_log_timeline(c);
	ctr_timeline_emit(c);
	if (c->ev.done)
		c->ev.done(c, c->status, &c->err, c->ud);
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

	if (cfg->overlay)
		vc.disks[0] = (struct vm_disk){ .path = cfg->overlay, .qcow2 = true };
	else
		vc.disks[0] = (struct vm_disk){ .path = cfg->disk, .snapshot = true };
	c->l = l;
	c->o = *o;
	c->console = o->console_log ? xstrdup(o->console_log) : NULL;
	c->o.console_log = c->console;
	if (ev)
		c->ev = *ev;
	c->ud = ud;
	c->main = (struct ctr_proc){ .c = c, .ops = main_ops, .ud = ud, .stream = UINT32_MAX };
	loop_timer_init(&c->eof_timer, ctr_eof_timeout, c);
	loop_timer_init(&c->stop_timer, ctr_stop_timeout, c);
	loop_timer_init(&c->boot_timer, ctr_boot_timeout, c);
	/* Blocking network setup (netlink, flock, BPF load; see netcfg.c)
	 * before QEMU, which inherits the tap. */
	r = ctr_netvm_create(o->net, o->net_opts, cfg, &vc, &c->net, err);
	if (r == 0)
		r = vm_start(l, o->host, &vc, &vev, c, &c->vm, err);
	if (r < 0) {
		ctr_netvm_destroy(c->net);
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

int ctr_exec(struct ctr *c, const struct ctr_spec *s, const struct ctr_proc_ops *ops, void *ud,
	     struct ctr_proc **out)
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
		.argv = s->argv, .env = s->env, .cwd = s->cwd, .uid = s->uid, .gid = s->gid,
		.tty = s->tty, .stdin_open = s->stdin_open, .rows = c->o.rows, .cols = c->o.cols,
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
	return p->c->ag && p->started ? agent_signal(p->c->ag, p->stream, signo) : -ESRCH;
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
	loop_timer_stop(c->l, &c->eof_timer);
	loop_timer_stop(c->l, &c->stop_timer);
	loop_timer_stop(c->l, &c->boot_timer);
	if (c->ag)
		agent_free(c->ag);
	if (c->vm)
		vm_free(c->vm);
	ctr_netvm_destroy(c->net);	/* freed before QEMU exited */
	while (c->procs) {
		struct ctr_proc *p = c->procs;
		c->procs = p->next;
		free(p);
	}
	free(c->console);
	free(c);
}
