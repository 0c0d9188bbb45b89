/* The per-container process of an OCI bundle (`ucrt-oci create`): the
 * process whose PID podman's conmon or containerd's shim waits for. It
 * keeps the stdio it was given (their pipes, or a pty slave), boots the
 * VM at once (guest configured, main process held), waits on start.fifo
 * for `ucrt-oci start`, which only lets the bundle's process run, forwards
 * every signal it gets to that process,
 * serves exec on ctl.sock (the protocol of supervisor.c, so
 * ctr_ctl_exec is the client) and exits with the process's status
 * (128+N for a signal): the parent that reaps it sees the container's
 * own status. One reactor drives all of it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "buf.h"
#include "container-internal.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

#define SHIM_STOP_GRACE_MS 10000u

struct shim;

struct shim_client {
	struct shim *s;
	int fd;
	struct loop_op rop;
	uint8_t rbuf[CTR_CTL_MAX_FRAME + 4096];
	size_t rlen;
	bool got_line, closing, eof;
	struct ctr_sink out;
	struct ctr_proc *p;
	struct ctr_spec spec;
	struct buf stdin_q;
	bool stdin_eof_q, want_alive;
	struct shim_client *next;
};

struct shim {
	struct loop *l;
	const struct ctr_bundle_run *o;
	struct ctr_bundle *b;
	struct vm_host host;
	bool have_host;
	struct ctr *c;
	struct ctr_proc *p;
	struct ctr_sink out, err;
	struct ctr_state st;
	int fifo;
	struct loop_op fifo_op;
	char fifo_buf[16];
	struct loop_op in_op;
	size_t in_len, in_off;
	bool stdin_eof, stdin_dead;
	int lfd;
	struct loop_op accept_op;
	struct shim_client *clients;
	struct loop_signal sigs[16];
	unsigned nsigs;
	bool done;
	int status;
	struct err e;
	char inbuf[PROTO_MAX_PAYLOAD];
};

static void shim_state(struct shim *s)
{
	ctr_state_write(s->o->root, s->b->cfg.id, &s->st);
}

static void shim_end(struct shim *s, int status, const char *why)
{
	if (s->done)
		return;
	s->done = true;
	s->status = status;
	if (why && !s->e.code)
		err_set(&s->e, EIO, "%s", why);
	if (s->lfd >= 0 && loop_op_active(&s->accept_op))
		loop_cancel(s->l, &s->accept_op);
	if (loop_op_active(&s->fifo_op))
		loop_cancel(s->l, &s->fifo_op);
}

/* ---- exec clients (ctl.sock, the wire format of ctl.c) ---- */

static void shim_client_read(struct shim_client *cl);

static void shim_frame(struct shim_client *cl, uint8_t type, const void *data, size_t len)
{
	uint8_t h[5] = { type, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	ctr_sink_write(&cl->out, h, sizeof(h));
	ctr_sink_write(&cl->out, data, len);
}

static void shim_client_fail(struct shim_client *cl, const char *msg)
{
	shim_frame(cl, CTR_CTL_FAIL, msg, strlen(msg));
	cl->closing = true;
}

static void shim_exec_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct shim_client *cl = ud;
	char line[400];

	if (err) {
		snprintf(line, sizeof(line), "exec %s: %s%s%s", cl->spec.argv[0], strerror(err),
			 msg[0] ? ": " : "", msg);
		shim_client_fail(cl, line);
	}
}

static void shim_exec_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof,
			     void *ud)
{
	struct shim_client *cl = ud;

	if (len)
		shim_frame(cl, chan == PROTO_CHAN_STDERR ? CTR_CTL_STDERR : CTR_CTL_STDOUT, data, len);
	ctr_sink_credit(&cl->out, p, chan, (uint32_t)len);
}

static void shim_exec_exit(struct ctr_proc *p, int status, void *ud)
{
	struct shim_client *cl = ud;
	int32_t st = status;

	shim_frame(cl, CTR_CTL_EXIT, &st, sizeof(st));
	cl->closing = true;
}

static void shim_exec_pump(struct shim_client *cl)
{
	while (cl->stdin_q.len) {
		ssize_t n = ctr_stdin(cl->p, cl->stdin_q.data, cl->stdin_q.len);
		if (n <= 0) {
			if (n < 0)
				buf_reset(&cl->stdin_q);
			break;
		}
		buf_consume(&cl->stdin_q, (size_t)n);
	}
	if (!cl->stdin_q.len && cl->stdin_eof_q) {
		ctr_stdin_eof(cl->p);
		cl->stdin_eof_q = false;
	}
	if (!cl->stdin_q.len && !cl->closing && !cl->eof && !loop_op_active(&cl->rop))
		shim_client_read(cl);
}

static void shim_exec_stdin_ready(struct ctr_proc *p, void *ud)
{
	shim_exec_pump(ud);
}

static const struct ctr_proc_ops shim_exec_ops = {
	.started = shim_exec_started,
	.output = shim_exec_output,
	.stdin_ready = shim_exec_stdin_ready,
	.exit = shim_exec_exit,
};

static void shim_command(struct shim_client *cl, char *line)
{
	struct shim *s = cl->s;
	char *arg = strchr(line, ' ');
	uint16_t rows = 0, cols = 0;

	if (arg)
		*arg++ = 0;
	if (strcmp(line, "exec") != 0 || !arg) {
		shim_client_fail(cl, "unknown or invalid request");
		return;
	}
	if (ctr_ctl_parse_exec(arg, strlen(arg), &cl->spec, &rows, &cols) < 0) {
		shim_client_fail(cl, "bad exec request");
		return;
	}
	if (!s->c || !ctr_process_started(s->c) ||
	    ctr_exec(s->c, &cl->spec, rows, cols, &shim_exec_ops, cl, &cl->p) < 0) {
		shim_client_fail(cl, "the container is not running");
		return;
	}
}

static int shim_client_frames(struct shim_client *cl)
{
	size_t off = 0;

	while (cl->rlen - off >= 5) {
		uint8_t *h = cl->rbuf + off;
		uint32_t len = h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
		uint8_t *p = h + 5;

		if (len > CTR_CTL_MAX_FRAME)
			return -EBADMSG;
		if (cl->rlen - off < 5 + (size_t)len)
			break;
		switch (h[0]) {
		case CTR_CTL_STDIN:
			buf_append(&cl->stdin_q, p, len);
			break;
		case CTR_CTL_STDIN_EOF:
			cl->stdin_eof_q = true;
			break;
		case CTR_CTL_RESIZE:
			if (len == 4 && cl->p)
				ctr_resize(cl->p, (uint16_t)(p[0] | p[1] << 8), (uint16_t)(p[2] | p[3] << 8));
			break;
		case CTR_CTL_SIGNAL:
			if (len == 4 && cl->p && p[0] >= 1 && p[0] <= 64) {
				cl->want_alive = true;
				ctr_signal(cl->p, p[0]);
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

static void shim_client_recv(struct loop_op *op, int res, uint32_t flags)
{
	struct shim_client *cl = container_of(op, struct shim_client, rop);

	if (res <= 0) {
		cl->eof = true;
		/* A client that hangs up takes its process along, as a
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
				shim_client_fail(cl, "request too long");
			else
				shim_client_read(cl);
			return;
		}
		*nl = 0;
		cl->got_line = true;
		size_t used = (size_t)(nl - cl->rbuf) + 1;
		_cleanup_free_ char *line = xstrdup((char *)cl->rbuf);
		memmove(cl->rbuf, cl->rbuf + used, cl->rlen - used);
		cl->rlen -= used;
		shim_command(cl, line);
		if (cl->closing)
			return;
	}
	if (shim_client_frames(cl) < 0) {
		shim_client_fail(cl, "bad frame");
		return;
	}
	if (cl->p)
		shim_exec_pump(cl);
}

static void shim_client_read(struct shim_client *cl)
{
	cl->rop.cb = shim_client_recv;
	if (loop_recv(cl->s->l, &cl->rop, cl->fd, cl->rbuf + cl->rlen, sizeof(cl->rbuf) - cl->rlen, 0) < 0)
		cl->closing = true;
}

static void shim_accept_next(struct shim *s);

static void shim_accepted(struct loop_op *op, int res, uint32_t flags)
{
	struct shim *s = container_of(op, struct shim, accept_op);

	if (res >= 0) {
		struct shim_client *cl = xcalloc(1, sizeof(*cl));
		cl->s = s;
		cl->fd = res;
		ctr_sink_init(&cl->out, s->l, res);
		cl->next = s->clients;
		s->clients = cl;
		shim_client_read(cl);
	}
	if (!s->done && res != -ECANCELED)
		shim_accept_next(s);
}

static void shim_accept_next(struct shim *s)
{
	s->accept_op.cb = shim_accepted;
	loop_accept(s->l, &s->accept_op, s->lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void shim_sweep(struct shim *s)
{
	for (struct shim_client **pp = &s->clients; *pp;) {
		struct shim_client *cl = *pp;

		if (s->done && !cl->closing)
			shim_client_fail(cl, "the container stopped");
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

static void shim_alive(struct ctr *c, void *ud)
{
	struct shim *s = ud;

	for (struct shim_client *cl = s->clients; cl; cl = cl->next) {
		if (cl->want_alive && !cl->closing)
			shim_frame(cl, CTR_CTL_ALIVE, NULL, 0);
		cl->want_alive = false;
	}
}

/* ---- the main process's stdio ---- */

static void shim_stdin_read(struct shim *s);

static void shim_stdin_pump(struct shim *s)
{
	while (s->in_off < s->in_len) {
		ssize_t n = ctr_stdin(s->p, s->inbuf + s->in_off, s->in_len - s->in_off);
		if (n < 0) {
			s->stdin_dead = true;
			return;
		}
		if (n == 0)
			return;	/* out of credit: stdin_ready resumes */
		s->in_off += (size_t)n;
	}
	s->in_off = s->in_len = 0;
	if (s->stdin_eof) {
		ctr_stdin_eof(s->p);
		s->stdin_dead = true;
		return;
	}
	shim_stdin_read(s);
}

static void shim_stdin_done(struct loop_op *op, int res, uint32_t flags)
{
	struct shim *s = container_of(op, struct shim, in_op);

	if (s->done || s->stdin_dead || res == -ECANCELED)
		return;
	if (res <= 0)
		s->stdin_eof = true;
	else
		s->in_len = (size_t)res;
	shim_stdin_pump(s);
}

static void shim_stdin_read(struct shim *s)
{
	s->in_op.cb = shim_stdin_done;
	if (loop_read(s->l, &s->in_op, STDIN_FILENO, s->inbuf, sizeof(s->inbuf), (uint64_t)-1) < 0) {
		ctr_stdin_eof(s->p);
		s->stdin_dead = true;
	}
}

static void shim_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct shim *s = ud;

	if (err)
		return;	/* launch.c ends the container; done() says why */
	s->st.status = CTR_RUNNING;
	s->st.started = (int64_t)time(NULL);
	shim_state(s);
	shim_stdin_read(s);
}

static void shim_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof, void *ud)
{
	struct shim *s = ud;
	struct ctr_sink *k = chan == PROTO_CHAN_STDERR ? &s->err : &s->out;

	ctr_sink_write(k, data, len);
	ctr_sink_credit(k, p, chan, (uint32_t)len);
}

static void shim_stdin_ready(struct ctr_proc *p, void *ud)
{
	struct shim *s = ud;

	if (!s->stdin_dead && s->in_off < s->in_len)
		shim_stdin_pump(s);
}

static const struct ctr_proc_ops shim_main_ops = {
	.started = shim_started,
	.output = shim_output,
	.stdin_ready = shim_stdin_ready,
};

static void shim_done(struct ctr *c, int status, const struct err *err, void *ud)
{
	struct shim *s = ud;

	if (err && err->code)
		s->e = *err;
	shim_end(s, status, NULL);
}

static void shim_winsize(uint16_t *rows, uint16_t *cols)
{
	struct winsize ws = { 0 };

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

/* ---- start ---- */

static bool shim_needs_9p(const struct ctr_config *cfg)
{
	for (size_t i = 0; i < cfg->nmounts; i++) {
		if (cfg->mounts[i].type == CTR_MOUNT_BIND)
			return true;
	}
	return cfg->root_dir != NULL;
}

static void shim_boot(struct shim *s)
{
	_cleanup_free_ char *cache = xasprintf("%s/vm", s->o->root);
	_cleanup_free_ char *console = ctr_path(s->o->root, s->b->cfg.id, "console.log");
	static const struct ctr_net_opts no_net = { .mode = CTR_NET_NONE };
	/* The bundle's root is shared with its real owners (bundle.c). */
	struct vm_host_opts ho = { .cache_dir = cache, .qemu_owns_files = true };
	struct ctr_launch lo = { .cfg = &s->b->cfg, .host = &s->host, .console_log = console,
				 .t0 = loop_now_ns(), .rows = 24, .cols = 80, .net_opts = &no_net,
				 .hold = true };
	struct ctr_events ev = { .done = shim_done, .alive = shim_alive };
	int r;

	if (s->b->terminal)
		shim_winsize(&lo.rows, &lo.cols);
	/* Blocking probe (reads the kernel, may write the initramfs
	 * cache): nothing else waits on this reactor before the start. */
	r = mkdir_p_at(AT_FDCWD, cache, 0755);
	if (r < 0)
		err_setx(&s->e, r, "creating %s", cache);
	if (r == 0 && (r = vm_host_probe(&s->host, &ho, &s->e)) == 0)
		s->have_host = true;
	/* Debian's cloud kernel has no 9p: the guest could not mount its root. */
	if (r == 0 && !s->host.kernel.builtin && shim_needs_9p(&s->b->cfg))
		r = err_set(&s->e, ENOTSUP, "a bundle's root directory or bind mounts need ucrt's own kernel with 9p "
			    "(make kernel, or UCRT_KERNEL); %s has none", s->host.kernel.path);
	if (r == 0 && s->b->netns)
		r = ctr_bundle_net_open(s->b->netns, &s->b->cfg.bundle_net, &s->e);
	/* guest-init gets its network in the CONFIG request, which launch.c
	 * sends when there is a hostname to set. */
	if (r == 0 && s->b->cfg.bundle_net && !s->b->cfg.hostname)
		s->b->cfg.hostname = xstrndup(s->b->cfg.id, CTR_SHORT_ID);
	if (r == 0)
		r = ctr_start(s->l, &lo, &ev, &shim_main_ops, s, &s->c, &s->e);
	if (r < 0) {
		shim_end(s, 125, NULL);
		return;
	}
	s->p = ctr_main(s->c);
	ctr_manual_credit(s->c);
	s->st.qemu = ctr_qemu_pid(s->c);
	s->st.qemu_start = ctr_proc_start_time(s->st.qemu);
	shim_state(s);
}

static void shim_fifo_read(struct loop_op *op, int res, uint32_t flags)
{
	struct shim *s = container_of(op, struct shim, fifo_op);

	if (res == -ECANCELED || s->done)
		return;
	if (res <= 0) {
		shim_end(s, 125, "start.fifo failed");
		return;
	}
	close(s->fifo);
	s->fifo = -1;
	/* The VM booted at create: start only lets the process run. */
	if (s->c)
		ctr_release(s->c);
}

static void shim_signal(struct loop_signal *sig, int signo)
{
	struct shim *s = sig->data;

	if (signo == SIGWINCH) {
		uint16_t rows = 0, cols = 0;
		shim_winsize(&rows, &cols);
		if (s->p && rows && cols)
			ctr_resize(s->p, rows, cols);
		return;
	}
	/* Before the process runs there is nothing to forward to: like a
	 * runc container whose init got the signal, this one ends. */
	if (!s->c || !ctr_process_started(s->c)) {
		shim_end(s, 128 + signo, NULL);	/* the booted VM ends with us */
		return;
	}
	if (ctr_signal(s->p, signo) < 0)
		ctr_kill_vm(s->c);
}

static int shim_listen(struct shim *s, struct err *err)
{
	_cleanup_free_ char *dir = ctr_path(s->o->root, s->b->cfg.id, NULL);
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

static int shim_setup(struct shim *s, struct err *err)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGALRM,
				    SIGWINCH, SIGTSTP, SIGTTIN, SIGTTOU, SIGPWR, SIGXCPU, SIGXFSZ,
				    SIGVTALRM, SIGPROF };
	_cleanup_free_ char *fifo = ctr_path(s->o->root, s->b->cfg.id, "start.fifo");
	int r;

	if ((r = loop_new(&s->l, 1024, err)) < 0)
		return r;
	/* Opened read-write so the read waits for `start` instead of
	 * seeing EOF while no writer has it open. */
	s->fifo = open(fifo, O_RDWR | O_CLOEXEC);
	if (s->fifo < 0)
		return err_setx(err, errno, "%s", fifo);
	if ((r = shim_listen(s, err)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(sigs) && s->nsigs < ARRAY_SIZE(s->sigs); i++) {
		if (loop_signal_watch(s->l, &s->sigs[s->nsigs], sigs[i], shim_signal, s) == 0)
			s->nsigs++;
	}
	ctr_sink_init(&s->out, s->l, s->o->out_fd);
	ctr_sink_init(&s->err, s->l, s->b->terminal ? s->o->out_fd : s->o->err_fd);
	s->fifo_op.cb = shim_fifo_read;
	if (loop_read(s->l, &s->fifo_op, s->fifo, s->fifo_buf, sizeof(s->fifo_buf), (uint64_t)-1) < 0)
		return err_set(err, EIO, "waiting on %s", fifo);
	shim_accept_next(s);
	return 0;
}

static bool shim_finished(const struct shim *s)
{
	return s->done && !s->clients && ctr_sink_idle(&s->out) && ctr_sink_idle(&s->err) &&
	       !loop_op_active(&s->accept_op) && !loop_op_active(&s->fifo_op);
}

int ctr_bundle_run(const struct ctr_bundle_run *o, struct ctr_bundle *b)
{
	struct shim *s = xcalloc(1, sizeof(*s));
	int r, status;

	s->o = o;
	s->b = b;
	s->lfd = s->fifo = -1;
	s->st = (struct ctr_state){ .status = CTR_CREATED, .owner = getpid(), .exit_code = -1 };
	s->st.owner_start = ctr_proc_start_time(s->st.owner);
	shim_state(s);
	r = shim_setup(s, &s->e);
	/* The creator waits for this byte: from here on `start`, `kill`
	 * and `state` find a live process. */
	if (o->ready_fd >= 0) {
		char c = r < 0 ? 'E' : 'R';
		write_all(o->ready_fd, &c, 1);
		if (r < 0)
			write_all(o->ready_fd, err_msg(&s->e), strlen(err_msg(&s->e)));
		close(o->ready_fd);
	}
	if (r < 0) {
		s->done = true;
		s->status = 125;
	} else {
		shim_boot(s);
	}
	while (s->l && !shim_finished(s)) {
		shim_sweep(s);
		if (s->done && loop_op_active(&s->in_op))
			loop_cancel(s->l, &s->in_op);
		if (shim_finished(s) || loop_run_once(s->l, true) < 0)
			break;
	}
	status = s->status;
	s->st.status = CTR_EXITED;
	s->st.exit_code = status;
	s->st.finished = (int64_t)time(NULL);
	if (s->e.code) {
		snprintf(s->st.error, sizeof(s->st.error), "%s", err_msg(&s->e));
		if (o->error)
			o->error(err_msg(&s->e), o->ud);
	}
	if (s->c)
		ctr_free(s->c);
	ctr_bundle_net_close(TAKE_PTR(b->cfg.bundle_net));
	if (s->l)
		loop_drain(s->l);
	shim_state(s);
	if (s->lfd >= 0) {
		_cleanup_free_ char *sock = ctr_path(o->root, b->cfg.id, "ctl.sock");
		unlink(sock);
		close(s->lfd);
	}
	for (unsigned i = 0; i < s->nsigs; i++)
		loop_signal_unwatch(s->l, &s->sigs[i]);
	if (s->fifo >= 0)
		close(s->fifo);
	ctr_sink_release(&s->out);
	ctr_sink_release(&s->err);
	if (s->l)
		loop_free(s->l);
	if (s->have_host)
		vm_host_release(&s->host);
	free(s);
	return status;
}
