/* The guest end of the protocol: one poll() loop over the host channel, a
 * signalfd (SIGCHLD, SIGTERM, SIGINT) and the stdio fds of every process.
 *
 * Flow control (docs/protocol.md): a process's stdout/stderr is read only
 * while the host has granted credit on that channel and our send buffer is
 * below GI_OUT_HIGH, so a chatty process blocks in write() instead of
 * filling guest memory. Stdin bytes are buffered up to the credit we
 * granted, which we return as the process consumes them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "serve.h"

#define GI_OUT_HIGH (512u * 1024u)
#define GI_ACK_BATCH (16u * 1024u)
/* How long the main process's EXIT waits for the host's SHUTDOWN before
 * guest-init powers off anyway (a host that went away without closing). */
#define GI_BYE_WAIT_MS 10000

void gi_send(struct gi_srv *s, uint16_t type, uint16_t flags, uint32_t stream, uint32_t ref,
		    const void *p, size_t len)
{
	struct proto_hdr h = { .len = (uint32_t)len, .type = type, .flags = flags, .stream = stream, .ref = ref };
	size_t need = PROTO_HDR_SIZE + len;

	if (s->ooff && s->olen + need > s->ocap) {
		memmove(s->obuf, s->obuf + s->ooff, s->olen - s->ooff);
		s->olen -= s->ooff;
		s->ooff = 0;
	}
	if (s->olen + need > s->ocap) {
		size_t cap = s->ocap ? s->ocap : 64 * 1024;
		while (cap < s->olen + need)
			cap *= 2;
		s->obuf = realloc(s->obuf, cap);
		if (!s->obuf)
			gi_die("out of memory");
		s->ocap = cap;
	}
	proto_hdr_put(s->obuf + s->olen, &h);
	if (len)
		memcpy(s->obuf + s->olen + PROTO_HDR_SIZE, p, len);
	s->olen += need;
}

static size_t gi_pending_out(const struct gi_srv *s)
{
	return s->olen - s->ooff;
}

void gi_send_result(struct gi_srv *s, uint32_t ref, uint32_t stream, int err, const char *msg, pid_t pid)
{
	uint8_t buf[1024];
	size_t off = 0;

	if (!ref)
		return;
	proto_tlv_put32(buf, sizeof(buf), &off, PROTO_A_ERRNO, (uint32_t)(err < 0 ? -err : err));
	if (msg && *msg)
		proto_tlv_put(buf, sizeof(buf), &off, PROTO_A_MSG, msg, strnlen(msg, sizeof(buf) - 32));
	if (pid > 0)
		proto_tlv_put32(buf, sizeof(buf), &off, PROTO_A_PID, (uint32_t)pid);
	gi_send(s, PROTO_T_RESULT, 0, stream, ref, buf, off);
}

void gi_send_credit(struct gi_srv *s, uint32_t stream, uint32_t chan, uint32_t bytes)
{
	uint8_t p[PROTO_CREDIT_SIZE];

	proto_put32(p, chan);
	proto_put32(p + 4, bytes);
	gi_send(s, PROTO_T_CREDIT, 0, stream, 0, p, sizeof(p));
}

struct gi_proc *gi_proc_find(struct gi_srv *s, uint32_t id)
{
	for (unsigned i = 0; i < PROTO_MAX_PROCS; i++)
		if (s->procs[i] && s->procs[i]->id == id)
			return s->procs[i];
	return NULL;
}

/* ---- processes ---- */

static void gi_proc_close_in(struct gi_proc *p)
{
	if (p->in_fd >= 0)
		close(p->in_fd);
	p->in_fd = -1;
	p->in_len = 0;
}

void gi_proc_start(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl, bool is_main)
{
	struct gi_spec spec;
	struct gi_child c;
	struct gi_proc *p;
	char msg[256] = "";
	unsigned slot;
	int r;

	if (h->stream == 0)
		return gi_send_result(s, h->ref, h->stream, EINVAL, "stream id 0", 0);
	if (is_main && s->config_err[0])
		return gi_send_result(s, h->ref, h->stream, EIO, s->config_err, 0);
	if (gi_proc_find(s, h->stream) || (is_main && s->main_started))
		return gi_send_result(s, h->ref, h->stream, EEXIST, "stream id in use or main process already started", 0);
	for (slot = 0; slot < PROTO_MAX_PROCS && s->procs[slot]; slot++)
		;
	if (slot == PROTO_MAX_PROCS)
		return gi_send_result(s, h->ref, h->stream, EAGAIN, "too many processes", 0);
	r = gi_spec_parse(&spec, pl, h->len, msg, sizeof(msg));
	if (r < 0)
		return gi_send_result(s, h->ref, h->stream, -r, msg, 0);
	r = gi_spawn(&spec, &c, msg, sizeof(msg));
	if (r < 0) {
		gi_spec_free(&spec);
		return gi_send_result(s, h->ref, h->stream, -r, msg, 0);
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		gi_die("out of memory");
	p->id = h->stream;
	p->pid = c.pid;
	p->is_main = is_main;
	p->tty = spec.tty;
	p->in_fd = c.in_fd;
	p->out_fd[0] = -1;
	p->out_fd[1] = c.out_fd[1];
	p->out_fd[2] = c.out_fd[2];
	p->credit[1] = p->credit[2] = PROTO_INITIAL_CREDIT;
	s->procs[slot] = p;
	if (is_main)
		s->main_started = true;
	if (gi_debug)
		gi_log("started %s as pid %d (stream %u)", spec.argv[0], (int)c.pid, h->stream);
	gi_spec_free(&spec);
	gi_send_result(s, h->ref, h->stream, 0, NULL, c.pid);
}

/* Read one chunk of stdout/stderr within the credit. Returns false when the
 * channel reached its end (EOF, or nothing left after the process exited:
 * a background child may hold the pipe forever). */
static bool gi_proc_read(struct gi_srv *s, struct gi_proc *p, int chan)
{
	uint8_t buf[PROTO_MAX_PAYLOAD];
	size_t want = p->credit[chan] < sizeof(buf) ? p->credit[chan] : sizeof(buf);
	ssize_t n;

	if (!want)
		return true;
	n = read(p->out_fd[chan], buf, want);
	if (n > 0) {
		p->credit[chan] -= (uint32_t)n;
		gi_send(s, (uint16_t)(chan == 1 ? PROTO_T_STDOUT : PROTO_T_STDERR), 0, p->id, 0, buf, (size_t)n);
		return true;
	}
	if (n < 0 && errno == EINTR)
		return true;
	if (n < 0 && errno == EAGAIN && !p->exited)
		return true;
	/* 0, EIO (pty without slave) or drained after exit */
	return false;
}

static void gi_proc_end_chan(struct gi_srv *s, struct gi_proc *p, int chan)
{
	close(p->out_fd[chan]);
	p->out_fd[chan] = -1;
	gi_send(s, (uint16_t)(chan == 1 ? PROTO_T_STDOUT : PROTO_T_STDERR), PROTO_F_EOF, p->id, 0, NULL, 0);
}

/* An exited process whose output used up the credit exactly: nothing is
 * left to read, so end the channel without waiting for credit that a
 * reader with everything in hand may never send. */
static void gi_proc_check_empty(struct gi_srv *s, struct gi_proc *p)
{
	int avail;

	for (int c = 1; p->exited && c <= 2; c++)
		if (p->out_fd[c] >= 0 && !p->credit[c] && ioctl(p->out_fd[c], FIONREAD, &avail) == 0 && avail == 0)
			gi_proc_end_chan(s, p, c);
}

static uint32_t gi_exit_code(int ws, uint32_t *sig)
{
	*sig = 0;
	if (WIFEXITED(ws))
		return (uint32_t)WEXITSTATUS(ws);
	if (WIFSIGNALED(ws)) {
		*sig = (uint32_t)WTERMSIG(ws);
		return 128 + *sig;
	}
	return 255;
}

/* Once the process is reaped and its output channels ended: EXIT, free. */
static void gi_proc_maybe_done(struct gi_srv *s, unsigned slot)
{
	struct gi_proc *p = s->procs[slot];
	uint8_t e[PROTO_EXIT_SIZE];
	uint32_t code, sig;

	if (!p->exited || p->out_fd[1] >= 0 || p->out_fd[2] >= 0)
		return;
	code = gi_exit_code(p->wstatus, &sig);
	proto_put32(e, code);
	proto_put32(e + 4, sig);
	proto_put32(e + 8, (uint32_t)p->wstatus);
	gi_send(s, PROTO_T_EXIT, 0, p->id, 0, e, sizeof(e));
	if (gi_debug)
		gi_log("stream %u exited with %u", p->id, code);
	if (p->is_main) {
		s->main_done = true;
		s->main_code = (int)code;
	}
	gi_proc_close_in(p);
	free(p->in);
	free(p);
	s->procs[slot] = NULL;
}

static void gi_reap(struct gi_srv *s)
{
	int ws;
	pid_t pid;

	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		for (unsigned i = 0; i < PROTO_MAX_PROCS; i++) {
			struct gi_proc *p = s->procs[i];
			if (p && p->pid == pid && !p->exited) {
				p->exited = true;
				p->wstatus = ws;
			}
		}
	}
}

static void gi_on_signal(struct gi_srv *s)
{
	struct signalfd_siginfo si;

	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			gi_reap(s);
			continue;
		}
		/* SIGTERM/SIGINT (ctrl-alt-del) to init: pass to the container */
		for (unsigned i = 0; i < PROTO_MAX_PROCS; i++)
			if (s->procs[i] && s->procs[i]->is_main && !s->procs[i]->exited)
				kill(s->procs[i]->pid, (int)si.ssi_signo);
	}
}

/* Write buffered stdin; return credit to the host as it is consumed. */
void gi_proc_write_in(struct gi_srv *s, struct gi_proc *p)
{
	ssize_t n = p->in_len ? write(p->in_fd, p->in, p->in_len) : 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		/* the process closed its stdin: drop what is left */
		p->in_ack += (uint32_t)p->in_len;
		gi_proc_close_in(p);
	} else if (n > 0) {
		memmove(p->in, p->in + n, p->in_len - (size_t)n);
		p->in_len -= (size_t)n;
		p->in_ack += (uint32_t)n;
	}
	if (p->in_ack && (p->in_ack >= GI_ACK_BATCH || p->in_len == 0)) {
		gi_send_credit(s, p->id, PROTO_CHAN_STDIN, p->in_ack);
		p->in_ack = 0;
	}
	if (p->in_fd >= 0 && p->in_len == 0 && p->in_eof && !p->tty)
		gi_proc_close_in(p);
}

void gi_kill_all(struct gi_srv *s)
{
	for (unsigned i = 0; i < PROTO_MAX_PROCS; i++)
		if (s->procs[i] && !s->procs[i]->exited)
			kill(s->procs[i]->pid, SIGKILL);
}

static void gi_flush(struct gi_srv *s)
{
	while (gi_pending_out(s)) {
		ssize_t n = write(s->fd, s->obuf + s->ooff, gi_pending_out(s));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			s->host_gone = true;
			s->ooff = s->olen = 0;
			return;
		}
		s->ooff += (size_t)n;
	}
	s->ooff = s->olen = 0;
}

static void gi_read_chan(struct gi_srv *s)
{
	ssize_t n = read(s->fd, s->ibuf + s->ilen, PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD - s->ilen);
	size_t off = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		s->host_gone = true;
		return;
	}
	s->ilen += (size_t)n;
	while (s->ilen - off >= PROTO_HDR_SIZE && !s->host_gone) {
		struct proto_hdr h;

		if (proto_hdr_get(s->ibuf + off, &h) < 0) {
			gi_log("bad frame header from host");
			s->host_gone = true;
			return;
		}
		if (s->ilen - off < PROTO_HDR_SIZE + h.len)
			break;
		gi_dispatch(s, &h, s->ibuf + off + PROTO_HDR_SIZE);
		off += PROTO_HDR_SIZE + h.len;
	}
	memmove(s->ibuf, s->ibuf + off, s->ilen - off);
	s->ilen -= off;
}

/* ---- the loop ---- */

static nfds_t gi_poll_setup(struct gi_srv *s, struct pollfd *pf, struct gi_proc **who, int *chan, bool *drain)
{
	nfds_t n = 0;

	pf[n++] = (struct pollfd){ s->fd, (short)(POLLIN | (gi_pending_out(s) ? POLLOUT : 0)), 0 };
	pf[n++] = (struct pollfd){ s->sfd, POLLIN, 0 };
	*drain = false;
	for (unsigned i = 0; i < PROTO_MAX_PROCS; i++) {
		struct gi_proc *p = s->procs[i];
		if (!p)
			continue;
		for (int c = 1; c <= 2; c++) {
			if (p->out_fd[c] < 0 || !p->credit[c] || gi_pending_out(s) >= GI_OUT_HIGH)
				continue;
			if (p->exited)
				*drain = true;	/* read without waiting */
			who[n] = p, chan[n] = c;
			pf[n++] = (struct pollfd){ p->out_fd[c], POLLIN, 0 };
		}
		if (p->in_fd >= 0 && (p->in_len || (p->in_eof && !p->tty))) {
			who[n] = p, chan[n] = 0;
			pf[n++] = (struct pollfd){ p->in_fd, POLLOUT, 0 };
		}
	}
	return n;
}

static void gi_poll_once(struct gi_srv *s)
{
	struct pollfd pf[2 + 3 * PROTO_MAX_PROCS];
	struct gi_proc *who[2 + 3 * PROTO_MAX_PROCS];
	int chan[2 + 3 * PROTO_MAX_PROCS];
	bool drain;
	nfds_t n = gi_poll_setup(s, pf, who, chan, &drain);

	if (poll(pf, n, drain ? 0 : -1) < 0) {
		if (errno != EINTR)
			gi_die("poll: %s", strerror(errno));
		return;
	}
	if (pf[1].revents)
		gi_on_signal(s);
	if (pf[0].revents & POLLOUT)
		gi_flush(s);
	if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
		gi_read_chan(s);
	for (nfds_t i = 2; i < n; i++) {
		struct gi_proc *p = who[i];
		if (!gi_proc_find(s, p->id) || gi_proc_find(s, p->id) != p)
			continue;	/* freed by a SHUTDOWN in this round */
		if (chan[i] == 0 && (pf[i].revents || p->in_len == 0)) {
			if (p->in_fd >= 0)
				gi_proc_write_in(s, p);
		} else if (chan[i] && p->out_fd[chan[i]] >= 0 && (pf[i].revents || p->exited)) {
			if (!gi_proc_read(s, p, chan[i]))
				gi_proc_end_chan(s, p, chan[i]);
		}
	}
	for (unsigned i = 0; i < PROTO_MAX_PROCS; i++) {
		if (s->procs[i]) {
			gi_proc_check_empty(s, s->procs[i]);
			gi_proc_maybe_done(s, i);
		}
	}
	if (gi_pending_out(s))
		gi_flush(s);
}

/* Outside a VM: closing a socket with unread bytes (credits in flight)
 * makes the peer see a reset instead of the end; half-close and drain. */
static void gi_linger(int fd)
{
	struct pollfd pf = { fd, POLLIN, 0 };
	char junk[4096];

	shutdown(fd, SHUT_WR);
	while (poll(&pf, 1, 1000) > 0 && read(fd, junk, sizeof(junk)) > 0)
		;
}

/* In a VM: the EXIT frame is in the port, not yet at the host. A reboot
 * drops what QEMU has not passed on to its chardev (seen with 64 VMs on a
 * busy host: the container's status lost), so wait for the host's
 * SHUTDOWN, its acknowledgement, or for the channel to close. */
static void gi_await_bye(struct gi_srv *s)
{
	struct pollfd pf = { s->fd, POLLIN, 0 };
	struct timespec t0, t;
	long left = GI_BYE_WAIT_MS;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!s->shutdown && !s->host_gone && left > 0) {
		if (poll(&pf, 1, (int)left) > 0)
			gi_read_chan(s);
		if (gi_pending_out(s))
			gi_flush(s);
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = GI_BYE_WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
	}
	if (!s->shutdown && !s->host_gone)
		gi_log("no acknowledgement of the exit status from the host: powering off");
}

int gi_serve(const struct gi_serve_opts *o)
{
	struct gi_srv s = { .fd = o->fd, .etc_fd = o->etc_fd, .test = o->test, .main_code = -1 };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sfd < 0)
		gi_die("signalfd: %s", strerror(errno));
	fcntl(s.fd, F_SETFD, FD_CLOEXEC);
	fcntl(s.fd, F_SETFL, fcntl(s.fd, F_GETFL) | O_NONBLOCK);
	s.ibuf = malloc(PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD);
	if (!s.ibuf)
		gi_die("out of memory");
	gi_reap(&s);
	while (!s.host_gone && !s.shutdown && !(s.main_done && !gi_pending_out(&s)))
		gi_poll_once(&s);
	gi_kill_all(&s);
	if (s.main_done && !o->test)
		gi_await_bye(&s);
	if (s.host_gone && !s.main_done)
		gi_log("host channel closed");
	for (unsigned i = 0; i < PROTO_MAX_PROCS; i++) {
		if (s.procs[i]) {
			gi_proc_close_in(s.procs[i]);
			for (int c = 1; c <= 2; c++)
				if (s.procs[i]->out_fd[c] >= 0)
					close(s.procs[i]->out_fd[c]);
			free(s.procs[i]->in);
			free(s.procs[i]);
		}
	}
	if (o->test)
		gi_linger(s.fd);
	free(s.ibuf);
	free(s.obuf);
	close(s.sfd);
	return s.main_done ? s.main_code : -1;
}
