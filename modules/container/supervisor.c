/* Detached containers: the supervisor is a small process (double fork,
 * setsid, re-executed as `ucrt __supervise ID`) that owns the VM: QEMU is
 * its child (and dies with it, PR_SET_PDEATHSIG), the main process's
 * output goes to output.log, state.json follows the container's life, and
 * ctl.sock in the container directory serves stop, kill, exec, attach
 * and wait (wire format in ctl.c / docs/run.md). One reactor drives all
 * of it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "agent/agent.h"
#include "buf.h"
#include "container-internal.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "store/store.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

struct sup;

struct sup_client {
	struct sup *s;
	int fd;
	struct loop_op rop;
	uint8_t rbuf[CTR_CTL_MAX_FRAME + 4096];
	size_t rlen;
	bool got_line, exec, closing, eof;
	struct ctr_sink out;
	struct ctr_proc *p;
	struct ctr_spec spec;
	struct buf stdin_q;
	bool stdin_eof_q;
	bool want_alive;		/* sent a signal: owed CTR_CTL_ALIVE */
	bool attach;			/* gets the main process's output and EXIT */
	bool attach_stdin;		/* its STDIN frames feed the main process */
	bool waiter;			/* "wait": gets "EXITCODE\n" at the end */
	bool want_stats, want_top;	/* "stats", "top": answered with the guest's */
	struct sup_client *next;
};

struct sup {
	struct loop *l;
	const char *root;
	struct ctr_config cfg;
	struct vm_host host;
	struct store *store;
	struct ctr *c;
	struct ctr_log log;		/* output.log + output.idx */
	struct ctr_state st;
	int lfd;
	struct loop_op accept_op;
	struct sup_client *clients;
	bool done;
	struct loop_signal sigs[2];
	struct ctr_net_opts net;	/* network.json */
	struct ctr_nethost *nh;		/* NULL: --network none */
	bool hold;			/* start the process on the first attach (start -a) */
	bool ended;			/* final state written, ctl.sock gone (sup_end) */
	bool end_pending;		/* done, telling it waits for the log (sup_finish) */
	struct agent_stats last, prev;	/* the guest's last two samples */
	bool have_last;
	struct loop_timer hold_timer;
	/* policy.json: --restart (a fresh VM on the same overlay after
	 * docker's backoff) and the health check (health.c). */
	struct ctr_policy policy;
	struct ctr_health *health;
	char *console;
	struct loop_timer restart_timer;
	bool restart_pending;		/* the VM ended, the next one is due */
	bool no_restart;		/* stopped or told to end: this run is the last */
	unsigned backoff_step;
	uint64_t t_launch;		/* loop_now_ns() of this VM's start */
};

/* An attach client that falls this far behind the output is dropped: the
 * log keeps everything, and one stuck terminal must not grow the
 * supervisor without bound nor stall the container. */
#define SUP_ATTACH_MAX_QUEUE (16u << 20)
/* A held container whose starter never attached (it died) runs anyway. */
#define SUP_HOLD_MS 60000u

int ctr_sock_addr(int dirfd, const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

/* ---- per-client ---- */

static void sup_client_read(struct sup_client *cl);

static void sup_send_frame(struct sup_client *cl, uint8_t type, const void *data, size_t len)
{
	uint8_t h[5] = { type, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	ctr_sink_write(&cl->out, h, sizeof(h));
	ctr_sink_write(&cl->out, data, len);
}

static void sup_client_fail(struct sup_client *cl, const char *msg)
{
	if (cl->exec)
		sup_send_frame(cl, CTR_CTL_FAIL, msg, strlen(msg));
	else
		ctr_sink_write(&cl->out, msg, strlen(msg));
	cl->closing = true;
}

static void sup_exec_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct sup_client *cl = ud;
	char line[400];

	if (err) {
		snprintf(line, sizeof(line), "exec %s: %s%s%s", cl->spec.argv[0], strerror(err),
			 msg[0] ? ": " : "", msg);
		sup_client_fail(cl, line);
	}
}

static void sup_exec_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof,
			    void *ud)
{
	struct sup_client *cl = ud;

	if (len)
		sup_send_frame(cl, chan == PROTO_CHAN_STDERR ? CTR_CTL_STDERR : CTR_CTL_STDOUT, data, len);
	ctr_sink_credit(&cl->out, p, chan, (uint32_t)len);
}

static void sup_exec_exit(struct ctr_proc *p, int status, void *ud)
{
	struct sup_client *cl = ud;
	int32_t st = status;

	sup_send_frame(cl, CTR_CTL_EXIT, &st, sizeof(st));
	cl->closing = true;
}

/* The process a client's stdin, resizes and signals go to: its exec'ed
 * one, or for an attach client the main process. */
static struct ctr_proc *sup_target(struct sup_client *cl)
{
	if (cl->p)
		return cl->p;
	return cl->attach && cl->s->c && !cl->s->done ? ctr_main(cl->s->c) : NULL;
}

static void sup_exec_pump(struct sup_client *cl)
{
	struct ctr_proc *t = cl->attach_stdin || cl->p ? sup_target(cl) : NULL;

	if (!t)
		buf_reset(&cl->stdin_q);
	/* Held or booting: sup_main_started pumps again. */
	if (t && !cl->p && !ctr_process_started(cl->s->c))
		return;
	while (t && cl->stdin_q.len) {
		ssize_t n = ctr_stdin(t, cl->stdin_q.data, cl->stdin_q.len);
		if (n <= 0) {
			if (n < 0)
				buf_reset(&cl->stdin_q);
			break;
		}
		buf_consume(&cl->stdin_q, (size_t)n);
	}
	if (!cl->stdin_q.len && cl->stdin_eof_q) {
		if (t)
			ctr_stdin_eof(t);
		cl->stdin_eof_q = false;
	}
	/* Read more from the client only once its stdin went to the guest. */
	if (!cl->stdin_q.len && !cl->closing && !cl->eof && !loop_op_active(&cl->rop))
		sup_client_read(cl);
}

static void sup_exec_stdin_ready(struct ctr_proc *p, void *ud)
{
	sup_exec_pump(ud);
}

static const struct ctr_proc_ops sup_exec_ops = {
	.started = sup_exec_started,
	.output = sup_exec_output,
	.stdin_ready = sup_exec_stdin_ready,
	.exit = sup_exec_exit,
};

static bool sup_user_stop(struct sup *s);

static void sup_command(struct sup_client *cl, char *line)
{
	struct sup *s = cl->s;
	uint64_t v = 0;
	char *arg = strchr(line, ' ');

	if (arg)
		*arg++ = 0;
	if (strcmp(line, "exec") == 0 && arg) {
		uint16_t rows = 0, cols = 0;
		cl->exec = true;
		if (ctr_ctl_parse_exec(arg, strlen(arg), &cl->spec, &rows, &cols) < 0) {
			sup_client_fail(cl, "bad exec request");
			return;
		}
		if (!s->c || ctr_exec(s->c, &cl->spec, rows, cols, &sup_exec_ops, cl, &cl->p) < 0) {
			sup_client_fail(cl, "the container is not running");
			return;
		}
		return;
	}
	if (strcmp(line, "attach") == 0 && arg) {
		bool in = false, release = false;
		uint16_t rows = 0, cols = 0;
		cl->exec = true;	/* the same frames as an exec */
		if (ctr_ctl_parse_attach(arg, strlen(arg), &in, &release, &rows, &cols) < 0) {
			sup_client_fail(cl, "bad attach request");
			return;
		}
		if (!s->c || s->done) {
			sup_client_fail(cl, "the container is not running");
			return;
		}
		cl->attach = true;
		cl->attach_stdin = in && s->cfg.spec.stdin_open;
		if (s->cfg.spec.tty && rows && cols)
			ctr_resize(ctr_main(s->c), rows, cols);
		if (release && s->hold) {
			s->hold = false;
			loop_timer_stop(s->l, &s->hold_timer);
			ctr_release(s->c);
		}
		return;
	}
	if ((strcmp(line, "stats") == 0 || strcmp(line, "top") == 0) && !arg) {
		bool top = line[0] == 't';
		if (!s->c || s->done || (top ? ctr_request_top(s->c) : ctr_probe(s->c, CTR_SIGNAL_PROBE_MS)) < 0) {
			sup_client_fail(cl, "error: the container is not running\n");
			return;
		}
		*(top ? &cl->want_top : &cl->want_stats) = true;	/* answered by sup_stats/sup_top */
		return;
	}
	if (strcmp(line, "wait") == 0 && !arg) {
		cl->waiter = true;	/* answered by sup_done */
		return;
	}
	if ((strcmp(line, "stop") == 0 || strcmp(line, "kill") == 0) && arg && str_to_u64(arg, &v) == 0 &&
	    sup_user_stop(s)) {
		/* Between two runs of a restart policy: nothing to signal. */
	} else if (strcmp(line, "stop") == 0 && arg && str_to_u64(arg, &v) == 0 && s->c) {
		ctr_stop(s->c, (unsigned)MIN(v, 3600u) * 1000u);
	} else if (strcmp(line, "kill") == 0 && arg && str_to_u64(arg, &v) == 0 && v > 0 && v < 65 && s->c) {
		if (v == SIGKILL || ctr_signal(ctr_main(s->c), (int)v) < 0)
			ctr_kill_vm(s->c);
	} else {
		sup_client_fail(cl, "error: unknown or invalid request\n");
		return;
	}
	ctr_sink_write(&cl->out, "ok\n", 3);
	cl->closing = true;
}

/* Frames from an exec client: stdin data/eof, resize, signal. */
static int sup_client_frames(struct sup_client *cl)
{
	size_t off = 0;

	while (cl->rlen - off >= 5) {
		uint8_t *h = cl->rbuf + off;
		uint32_t len = h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
		if (len > CTR_CTL_MAX_FRAME)
			return -EBADMSG;
		if (cl->rlen - off < 5 + (size_t)len)
			break;
		uint8_t *p = h + 5;
		switch (h[0]) {
		case CTR_CTL_STDIN:
			buf_append(&cl->stdin_q, p, len);
			break;
		case CTR_CTL_STDIN_EOF:
			cl->stdin_eof_q = true;
			break;
		case CTR_CTL_RESIZE:
			if (len == 4 && sup_target(cl))
				ctr_resize(sup_target(cl), (uint16_t)(p[0] | p[1] << 8),
					   (uint16_t)(p[2] | p[3] << 8));
			break;
		case CTR_CTL_SIGNAL:
			/* The client waits a bounded time for proof that the
			 * guest lives (sup_alive); ctr_signal probes it. */
			if (len == 4 && sup_target(cl)) {
				cl->want_alive = true;
				ctr_signal(sup_target(cl), p[0]);
			}
			break;
		default:
			return -EBADMSG;
		}
		off += 5 + len;
	}
	memmove(cl->rbuf, cl->rbuf + off, cl->rlen - off);
	cl->rlen -= off;
	return 0;
}

static void sup_client_recv(struct loop_op *op, int res, uint32_t flags)
{
	struct sup_client *cl = container_of(op, struct sup_client, rop);

	if (res <= 0) {
		cl->eof = true;
		/* An exec client that hangs up takes its process along, as a
		 * terminal hangup would. */
		if (cl->p && !cl->closing)
			ctr_signal(cl->p, SIGKILL);
		cl->closing = true;
		return;
	}
	cl->rlen += (size_t)res;
	if (!cl->got_line) {
		uint8_t *nl = memchr(cl->rbuf, '\n', cl->rlen);
		if (!nl) {
			if (cl->rlen == sizeof(cl->rbuf))
				sup_client_fail(cl, "error: request too long\n");
			else
				sup_client_read(cl);
			return;
		}
		*nl = 0;
		cl->got_line = true;
		size_t used = (size_t)(nl - cl->rbuf) + 1;
		char *line = xstrdup((char *)cl->rbuf);
		memmove(cl->rbuf, cl->rbuf + used, cl->rlen - used);
		cl->rlen -= used;
		sup_command(cl, line);
		free(line);
		if (!cl->exec || cl->closing)
			return;
	}
	if (sup_client_frames(cl) < 0) {
		sup_client_fail(cl, "bad frame");
		return;
	}
	if (cl->p || cl->attach)
		sup_exec_pump(cl);
}

static void sup_client_read(struct sup_client *cl)
{
	cl->rop.cb = sup_client_recv;
	if (loop_recv(cl->s->l, &cl->rop, cl->fd, cl->rbuf + cl->rlen, sizeof(cl->rbuf) - cl->rlen, 0) < 0)
		cl->closing = true;
}

static void sup_accept_next(struct sup *s);

static void sup_accepted(struct loop_op *op, int res, uint32_t flags)
{
	struct sup *s = container_of(op, struct sup, accept_op);

	if (res >= 0) {
		struct sup_client *cl = xcalloc(1, sizeof(*cl));
		cl->s = s;
		cl->fd = res;
		ctr_sink_init(&cl->out, s->l, res);
		cl->next = s->clients;
		s->clients = cl;
		sup_client_read(cl);
	}
	if (!s->done && res != -ECANCELED)
		sup_accept_next(s);
}

static void sup_accept_next(struct sup *s)
{
	s->accept_op.cb = sup_accepted;
	loop_accept(s->l, &s->accept_op, s->lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Close clients that are done and whose replies went out. */
static void sup_sweep(struct sup *s)
{
	for (struct sup_client **pp = &s->clients; *pp;) {
		struct sup_client *cl = *pp;
		if (s->done && !s->end_pending && !cl->closing) {
			char msg[sizeof(s->st.error) + 32];
			snprintf(msg, sizeof(msg), "the container stopped%s%s", s->st.error[0] ? ": " : "",
				 s->st.error);
			sup_client_fail(cl, msg);
		}
		if (!cl->closing || !ctr_sink_idle(&cl->out)) {
			pp = &cl->next;
			continue;
		}
		if (loop_op_active(&cl->rop)) {
			shutdown(cl->fd, SHUT_RDWR);
			loop_cancel(s->l, &cl->rop);
			pp = &cl->next;
			continue;
		}
		*pp = cl->next;
		if (cl->p) {
			ctr_sink_forget(&cl->out, cl->p);
			ctr_proc_detach(cl->p);
		}
		close(cl->fd);
		ctr_sink_release(&cl->out);
		ctr_spec_free(&cl->spec);
		buf_free(&cl->stdin_q);
		free(cl);
	}
}

/* ---- the supervisor process ---- */

static void sup_main_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof,
			    void *ud)
{
	struct sup *s = ud;

	ctr_log_write(&s->log, chan, data, len);
	ctr_sink_credit(&s->log.data, p, chan, (uint32_t)len);
	for (struct sup_client *cl = s->clients; cl && len; cl = cl->next) {
		if (!cl->attach || cl->closing)
			continue;
		if (cl->out.q->len + cl->out.inflight->len > SUP_ATTACH_MAX_QUEUE) {
			sup_client_fail(cl, "attach: the client fell too far behind the output");
			continue;
		}
		sup_send_frame(cl, chan == PROTO_CHAN_STDERR ? CTR_CTL_STDERR : CTR_CTL_STDOUT, data, len);
	}
}

static void sup_main_stdin_ready(struct ctr_proc *p, void *ud)
{
	struct sup *s = ud;

	for (struct sup_client *cl = s->clients; cl; cl = cl->next) {
		if (cl->attach_stdin && !cl->closing && cl->stdin_q.len)
			sup_exec_pump(cl);
	}
}

static void sup_main_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct sup *s = ud;

	s->st.status = CTR_RUNNING;
	s->st.qemu = ctr_qemu_pid(s->c);
	s->st.qemu_start = ctr_proc_start_time(s->st.qemu);
	s->st.started = (int64_t)time(NULL);
	s->st.restarting = false;
	ctr_state_write(s->root, s->cfg.id, &s->st);
	if (!err && !s->health)
		s->health = ctr_health_start(s->l, s->c, s->root, &s->cfg, &s->policy.health);
	/* Stdin that attach clients sent before the process ran. */
	for (struct sup_client *cl = s->clients; cl; cl = cl->next) {
		if (cl->attach_stdin && !cl->closing)
			sup_exec_pump(cl);
	}
}

static const struct ctr_proc_ops sup_main_ops = {
	.started = sup_main_started,
	.output = sup_main_output,
	.stdin_ready = sup_main_stdin_ready,
};

/* The VM is gone: the container's end is on disk and its socket away
 * before anyone hears of it, so a `wait` followed by `start` finds it
 * stopped, and the next supervisor's files are never touched by this one
 * (it only flushes its clients and the log from here on). */
static void sup_end(struct sup *s)
{
	if (s->ended)
		return;
	s->ended = true;
	if (s->lfd >= 0) {
		_cleanup_free_ char *sock = ctr_path(s->root, s->cfg.id, "ctl.sock");
		unlink(sock);
	}
	if (!s->cfg.rm)
		ctr_state_write(s->root, s->cfg.id, &s->st);
}

/* The end, for those who wait for it: attach clients get the status (or
 * why the container failed), "wait" clients the exit code. */
static void sup_tell_end(struct sup *s)
{
	for (struct sup_client *cl = s->clients; cl; cl = cl->next) {
		if (cl->closing)
			continue;
		if (cl->waiter) {
			char line[16];
			int n = snprintf(line, sizeof(line), "%d\n", s->st.exit_code);
			ctr_sink_write(&cl->out, line, (size_t)n);
			cl->closing = true;
		} else if (cl->attach) {
			int32_t st = s->st.exit_code;
			if (st == 125 && s->st.error[0])
				sup_send_frame(cl, CTR_CTL_FAIL, s->st.error, strlen(s->st.error));
			else
				sup_send_frame(cl, CTR_CTL_EXIT, &st, sizeof(st));
			cl->closing = true;
		}
	}
}

static void sup_hold_timeout(struct loop_timer *t)
{
	struct sup *s = t->data;

	if (s->hold && s->c) {
		s->hold = false;
		ctr_release(s->c);
	}
}

/* The restart policy asks for another run: the state says "restarting"
 * (still owned, ps shows Restarting (status)) until the next VM runs. */
static bool sup_restart_due(struct sup *s, int status, const struct err *err)
{
	if (s->cfg.rm || s->no_restart || !ctr_restart_wanted(&s->policy.restart, status, s->st.restart_count, s->st.user_stop))
		return false;
	s->restart_pending = true;
	s->st.restarting = true;
	s->st.exit_code = status;
	s->st.finished = (int64_t)time(NULL);
	snprintf(s->st.error, sizeof(s->st.error), "%s", err && err->code ? err_msg(err) : "");
	ctr_state_write(s->root, s->cfg.id, &s->st);
	return true;
}

static void sup_done(struct ctr *c, int status, const struct err *err, void *ud)
{
	struct sup *s = ud;

	ctr_health_stop(TAKE_PTR(s->health));
	if (sup_restart_due(s, status, err))
		return;
	s->done = true;
	s->st.restarting = false;
	s->st.status = CTR_EXITED;
	s->st.exit_code = status;
	s->st.finished = (int64_t)time(NULL);
	if (err && err->code)
		snprintf(s->st.error, sizeof(s->st.error), "%s", err_msg(err));
	/* The exited state and the waiters' replies wait for the output's
	 * last writes: `ucrt wait` then `ucrt logs` must see every line. */
	s->end_pending = true;
}

static void sup_finish(struct sup *s)
{
	s->end_pending = false;
	sup_end(s);
	sup_tell_end(s);
	if (s->lfd >= 0 && loop_op_active(&s->accept_op))
		loop_cancel(s->l, &s->accept_op);
}

static void sup_alive(struct ctr *c, void *ud)
{
	struct sup *s = ud;

	for (struct sup_client *cl = s->clients; cl; cl = cl->next) {
		if (cl->want_alive && !cl->closing)
			sup_send_frame(cl, CTR_CTL_ALIVE, NULL, 0);
		cl->want_alive = false;
	}
}

/* No restart after this: the user stopped it (stop, kill), or the
 * supervisor is told to end (SIGTERM: the host shuts down, which is not
 * the user's stop: unless-stopped comes back at boot). Returns true when
 * the container was between two runs and has now ended. */
static bool sup_no_more(struct sup *s, bool by_user)
{
	s->no_restart = true;
	if (by_user)
		s->st.user_stop = true;
	if (!s->restart_pending || s->done)
		return false;
	loop_timer_stop(s->l, &s->restart_timer);
	s->restart_pending = false;
	s->done = true;
	s->st.status = CTR_EXITED;
	s->st.restarting = false;
	sup_end(s);
	sup_tell_end(s);
	if (s->lfd >= 0 && loop_op_active(&s->accept_op))
		loop_cancel(s->l, &s->accept_op);
	return true;
}

static bool sup_user_stop(struct sup *s)
{
	return sup_no_more(s, true);
}

/* "stats BUSY TOTAL PREV_BUSY PREV_TOTAL NCPUS MEM_TOTAL MEM_AVAIL
 * BLK_READ BLK_WRITE PIDS\n": this sample and the one before (CPU %
 * over the interval between them; zeros when there is none, that is
 * since boot). CPU fields are 0 for a guest that does not count them. */
static void sup_stats(struct ctr *c, const struct agent_stats *st, void *ud)
{
	struct sup *s = ud;
	char line[320];
	int n;

	s->prev = s->have_last ? s->last : (struct agent_stats){ 0 };
	s->last = *st;
	s->have_last = true;
	n = snprintf(line, sizeof(line), "stats %llu %llu %llu %llu %u %llu %llu %llu %llu %u\n",
		     (unsigned long long)(st->has_cpu ? st->cpu_busy_ns : 0),
		     (unsigned long long)(st->has_cpu ? st->cpu_total_ns : 0),
		     (unsigned long long)(s->prev.has_cpu ? s->prev.cpu_busy_ns : 0),
		     (unsigned long long)(s->prev.has_cpu ? s->prev.cpu_total_ns : 0), st->has_cpu ? st->ncpus : 0,
		     (unsigned long long)st->mem_total, (unsigned long long)st->mem_available,
		     (unsigned long long)st->blk_read, (unsigned long long)st->blk_write,
		     st->has_cpu ? st->user_procs : st->nprocs);
	for (struct sup_client *cl = s->clients; cl; cl = cl->next) {
		if (cl->want_stats && !cl->closing) {
			ctr_sink_write(&cl->out, line, (size_t)n);
			cl->closing = true;
		}
	}
}

/* "top N TRUNC\n", then per process "PID PPID UID STATE CPU_MS RSS CMD\n"
 * (tab-separated; the command last, tabs in it made spaces). */
static void sup_top(struct ctr *c, const struct agent_ps *ps, size_t n, bool trunc, void *ud)
{
	struct sup *s = ud;
	struct buf b = BUF_INIT;

	buf_printf(&b, "top %zu %d\n", n, trunc);
	for (size_t i = 0; i < n; i++) {
		char cmd[sizeof(ps[i].cmd)];
		snprintf(cmd, sizeof(cmd), "%s", ps[i].cmd);
		for (char *p = cmd; *p; p++)
			if (*p == '\t')
				*p = ' ';
		buf_printf(&b, "%u\t%u\t%u\t%c\t%llu\t%llu\t%s\n", ps[i].pid, ps[i].ppid, ps[i].uid, ps[i].state,
			   (unsigned long long)ps[i].cpu_ms, (unsigned long long)ps[i].rss, cmd);
	}
	for (struct sup_client *cl = s->clients; cl; cl = cl->next) {
		if (cl->want_top && !cl->closing) {
			ctr_sink_write(&cl->out, b.data, b.len);
			cl->closing = true;
		}
	}
	buf_free(&b);
}

static void sup_signal(struct loop_signal *sig, int signo)
{
	struct sup *s = sig->data;

	if (!sup_no_more(s, false) && s->c && !s->restart_pending)
		ctr_stop(s->c, 10000);
}

static int sup_listen(struct sup *s, struct err *err)
{
	_cleanup_free_ char *dir = ctr_path(s->root, s->cfg.id, NULL);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct sockaddr_un sa;
	socklen_t len;

	if (dfd < 0)
		return err_setx(err, errno, "%s", dir);
	unlinkat(dfd, "ctl.sock", 0);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return err_setx(err, errno, "socket");
	ctr_sock_addr(dfd, "ctl.sock", &sa, &len);
	if (bind(s->lfd, (struct sockaddr *)&sa, len) < 0 || listen(s->lfd, 16) < 0)
		return err_setx(err, errno, "listening on %s/ctl.sock", dir);
	return 0;
}

static int sup_setup(struct sup *s, struct err *err)
{
	_cleanup_free_ char *cache = xasprintf("%s/vm", s->root);
	_cleanup_free_ char *logp = ctr_path(s->root, s->cfg.id, "output.log");
	struct vm_host_opts ho = { .kernel = s->cfg.kernel, .cache_dir = cache };
	int r;

	if (s->cfg.accel)
		vm_accel_parse(s->cfg.accel, &ho.accel);
	/* The image disk must outlive us: hold the store lock shared like
	 * any user of the store (prune takes it exclusive). */
	if (store_open(&s->store, s->root, err) < 0 || store_lock(s->store, false, true, err) < 0)
		return -EIO;
	if ((r = vm_host_probe(&s->host, &ho, err)) < 0)
		return r;
	ctr_templates_use(s->root);
	/* The supervisor owns the VM, so it holds the lease and the tap. */
	if (s->net.mode == CTR_NET_BRIDGE && (r = ctr_nethost_open(s->root, &s->nh, err)) < 0)
		return r;
	if ((r = loop_new(&s->l, 1024, err)) < 0)
		return r;
	if ((r = ctr_log_open(&s->log, s->l, s->root, s->cfg.id)) < 0)
		return err_setx(err, r, "%s", logp);
	return sup_listen(s, err);
}

static int sup_launch(struct sup *s, struct err *err)
{
	struct ctr_launch lo = { .cfg = &s->cfg, .host = &s->host, .console_log = s->console,
				 .console_gone = s->cfg.rm,
				 .t0 = loop_now_ns(), .rows = 24, .cols = 80,
				 .net = s->nh, .net_opts = &s->net,
				 .hold = s->hold && !s->st.restart_count };
	struct ctr_events ev = { .done = sup_done, .alive = sup_alive, .stats = sup_stats, .top = sup_top };
	int r = ctr_start(s->l, &lo, &ev, &sup_main_ops, s, &s->c, err);

	if (r < 0) {
		s->c = NULL;
		return r;
	}
	s->t_launch = loop_now_ns();
	ctr_manual_credit(s->c);
	s->st.qemu = ctr_qemu_pid(s->c);
	s->st.qemu_start = ctr_proc_start_time(s->st.qemu);
	ctr_state_write(s->root, s->cfg.id, &s->st);
	return 0;
}

/* Let go of the ended VM: nothing may point into it any more (exec
 * clients' processes, the log's output credit). */
static void sup_drop_vm(struct sup *s)
{
	for (struct sup_client *cl = s->clients; cl; cl = cl->next) {
		if (!cl->p)
			continue;
		ctr_sink_forget(&cl->out, cl->p);
		ctr_proc_detach(cl->p);
		cl->p = NULL;
		if (!cl->closing)
			sup_client_fail(cl, "the container ended (its restart policy starts it again)");
	}
	ctr_sink_forget(&s->log.data, ctr_main(s->c));
	ctr_free(TAKE_PTR(s->c));
}

static void sup_restart_now(struct loop_timer *t)
{
	struct sup *s = t->data;
	struct err e = { 0 };

	s->restart_pending = false;
	s->st.restart_count++;
	log_info("container %s: restart %u", s->cfg.name, s->st.restart_count);
	/* A VM that cannot even start counts as a run that failed (125):
	 * the policy decides again, with the next backoff. */
	if (sup_launch(s, &e) < 0)
		sup_done(NULL, 125, &e, s);
}

static int sup_run(struct sup *s, struct err *err)
{
	int r;

	s->console = ctr_path(s->root, s->cfg.id, "console.log");
	loop_timer_init(&s->hold_timer, sup_hold_timeout, s);
	loop_timer_init(&s->restart_timer, sup_restart_now, s);
	r = sup_launch(s, err);
	if (r < 0)
		return r;
	if (s->hold)
		loop_timer_start(s->l, &s->hold_timer, SUP_HOLD_MS * 1000000ull);
	loop_signal_watch(s->l, &s->sigs[0], SIGTERM, sup_signal, s);
	loop_signal_watch(s->l, &s->sigs[1], SIGINT, sup_signal, s);
	sup_accept_next(s);
	while (!s->done || s->end_pending || s->clients || !ctr_log_idle(&s->log) ||
	       loop_op_active(&s->accept_op)) {
		if (s->end_pending && ctr_log_idle(&s->log))
			sup_finish(s);
		sup_sweep(s);
		if (s->done && !s->end_pending && !s->clients && ctr_log_idle(&s->log) && !loop_op_active(&s->accept_op))
			break;
		if (s->restart_pending && !loop_timer_armed(&s->restart_timer)) {
			/* Out of the VM's callbacks: free it, then wait. */
			uint64_t up_ms = (loop_now_ns() - s->t_launch) / 1000000u;
			if (s->c)
				sup_drop_vm(s);
			loop_timer_start(s->l, &s->restart_timer,
					 ctr_restart_delay_ms(&s->backoff_step, up_ms) * 1000000ull);
		}
		if (loop_run_once(s->l, true) < 0)
			break;
	}
	loop_signal_unwatch(s->l, &s->sigs[0]);
	loop_signal_unwatch(s->l, &s->sigs[1]);
	loop_timer_stop(s->l, &s->hold_timer);
	loop_timer_stop(s->l, &s->restart_timer);
	return 0;
}

int ctr_supervise(const char *root, const char *id, bool hold)
{
	struct sup s = { .root = root, .lfd = -1, .hold = hold };
	struct err e = { 0 };
	int r;

	if (ctr_config_read(root, id, &s.cfg, &e) < 0 || ctr_net_load(root, id, &s.net, &e) < 0 ||
	    ctr_policy_read(root, id, &s.policy, &e) < 0) {
		fprintf(stderr, "ucrt supervisor: %s\n", err_msg(&e));
		ctr_config_free(&s.cfg);
		return 125;
	}
	s.st = (struct ctr_state){ .status = CTR_CREATED, .owner = getpid(), .exit_code = -1 };
	s.st.owner_start = ctr_proc_start_time(s.st.owner);
	ctr_state_write(root, id, &s.st);
	r = sup_setup(&s, &e);
	if (r == 0)
		r = sup_run(&s, &e);
	if (r < 0) {
		fprintf(stderr, "ucrt supervisor: %s\n", err_msg(&e));
		s.st.status = CTR_EXITED;
		s.st.exit_code = 125;
		s.st.finished = (int64_t)time(NULL);
		snprintf(s.st.error, sizeof(s.st.error), "%s", err_msg(&e));
	}
	ctr_health_stop(TAKE_PTR(s.health));
	if (s.c)
		ctr_free(s.c);
	if (s.l)
		loop_drain(s.l);
	sup_end(&s);
	if (s.lfd >= 0)
		close(s.lfd);
	if (s.cfg.rm)
		ctr_remove(root, id, true, NULL);
	ctr_log_close(&s.log);
	if (s.l)
		loop_free(s.l);
	vm_host_release(&s.host);
	ctr_nethost_close(s.nh);
	ctr_net_opts_free(&s.net);
	ctr_policy_free(&s.policy);
	free(s.console);
	if (s.store)
		store_close(s.store);
	ctr_config_free(&s.cfg);
	return r < 0 ? 125 : 0;
}

/* ---- starting one ---- */

static __attribute__((noreturn)) void ctr_detach_child(const char *self_exe, const char *root,
							const char *id, bool hold)
{
	_cleanup_free_ char *logp = ctr_path(root, id, "supervisor.log");
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	sigset_t none;

	if (setsid() < 0)
		_exit(125);
	pid_t pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? 125 : 0);
	/* The grandchild: no terminal, stdio away from the caller's. */
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	if (log >= 0)
		dup2(log, STDERR_FILENO);
	/* Whatever else the caller had open (a pipe it reads to EOF, a
	 * lock, a socket) must not live as long as the container: `ucrt run
	 * -d ... | cat` would wait for the container to end. */
	syscall(SYS_close_range, 3u, ~0u, 0);
	/* A caller without stdio got /dev/null as fd 0-2 itself: dup2 onto
	 * the same fd keeps O_CLOEXEC. */
	for (int fd = 0; fd < 3; fd++)
		fcntl(fd, F_SETFD, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	char *argv[] = { "ucrt", "--root", (char *)root, "__supervise", (char *)id, NULL, NULL };
	if (hold) {
		argv[4] = "--hold";
		argv[5] = (char *)id;
	}
	execv(self_exe, argv);
	_exit(125);
}

int ctr_detach(const char *self_exe, const char *root, const char *id, struct err *err)
{
	return ctr_spawn_supervisor(self_exe, root, id, false, err);
}

int ctr_spawn_supervisor(const char *self_exe, const char *root, const char *id, bool hold,
			 struct err *err)
{
	_cleanup_free_ char *exe = realpath(self_exe, NULL);
	_cleanup_free_ char *logp = ctr_path(root, id, "supervisor.log");
	struct ctr_state st;
	int wst;

	if (!exe)
		return err_setx(err, errno, "%s", self_exe);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return err_setx(err, errno, "fork");
	if (pid == 0)
		ctr_detach_child(exe, root, id, hold);
	if (waitpid(pid, &wst, 0) < 0 || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		return err_set(err, ECHILD, "could not start the supervisor");
	/* Wait until the process runs (or the container ended), as docker
	 * run -d does; blocking is fine: the CLI has nothing else to do. */
	for (unsigned i = 0; i < 180 * 50; i++) {
		ctr_state_read(root, id, &st);
		if (st.status == CTR_RUNNING || st.status == CTR_EXITED || st.status == CTR_DEAD)
			break;
		/* Held: its VM is spawned and ctl.sock listens; the process
		 * starts when the caller attaches. */
		if (hold && st.qemu && ctr_proc_alive(st.owner, st.owner_start))
			return 0;
		if (st.owner && !ctr_proc_alive(st.owner, st.owner_start) && ctr_state_read(root, id, &st) == 0 &&
		    st.status == CTR_CREATED)
			return err_set(err, EIO, "the supervisor died (see %s)", logp);
		usleep(20000);
	}
	if (st.status == CTR_EXITED && st.exit_code == 125)
		return err_set(err, EIO, "%s", st.error[0] ? st.error : "the container failed to start");
	if (st.status == CTR_CREATED)
		return err_set(err, ETIMEDOUT, "the container did not start within 180 s");
	return 0;
}
