/* Frames from the host. The host is trusted more than the guest is by the
 * host, but every field is still checked so a bug there cannot crash PID 1. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <termios.h>
#include <unistd.h>

#include "serve.h"

static void gi_on_hello(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	if (h->len < PROTO_HELLO_FIXED || proto_get32(pl) != PROTO_MAGIC) {
		gi_log("bad hello from host");
		s->host_gone = true;
		return;
	}
	if (proto_get32(pl + 4) != PROTO_VERSION)
		gi_log("host speaks protocol %u, we speak %u", proto_get32(pl + 4), PROTO_VERSION);
	s->host_hello = true;
}

static void gi_on_config(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	char msg[256] = "";
	int r = gi_config_apply(pl, h->len, s->etc_fd, msg, sizeof(msg));

	/* The main process must not run without its mounts: START is
	 * refused with this message (serve.c). */
	if (r < 0 && !s->config_err[0])
		snprintf(s->config_err, sizeof(s->config_err), "%s", msg[0] ? msg : strerror(-r));
	gi_send_result(s, h->ref, 0, r, msg, 0);
}

static void gi_on_stdin(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	struct gi_proc *p = gi_proc_find(s, h->stream);

	if (!p || p->in_fd < 0) {
		/* nobody reads it: drop, but keep the host's credit whole */
		if (p && h->len)
			gi_send_credit(s, h->stream, PROTO_CHAN_STDIN, h->len);
		return;
	}
	if (p->in_len + h->len > PROTO_INITIAL_CREDIT) {
		gi_log("stream %u: host sent stdin beyond its credit", h->stream);
		return;
	}
	if (h->len) {
		if (!p->in) {
			p->in = malloc(PROTO_INITIAL_CREDIT);
			if (!p->in)
				gi_die("out of memory");
		}
		memcpy(p->in + p->in_len, pl, h->len);
		p->in_len += h->len;
	}
	if (h->flags & PROTO_F_EOF)
		p->in_eof = true;
	gi_proc_write_in(s, p);
}

static void gi_on_credit(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	struct gi_proc *p = gi_proc_find(s, h->stream);
	uint32_t chan, n;

	if (!p || h->len < PROTO_CREDIT_SIZE)
		return;
	chan = proto_get32(pl);
	n = proto_get32(pl + 4);
	if (chan != PROTO_CHAN_STDOUT && chan != PROTO_CHAN_STDERR)
		return;
	p->credit[chan] = PROTO_MAX_CREDIT - p->credit[chan] < n ? PROTO_MAX_CREDIT : p->credit[chan] + n;
}

static void gi_on_signal_frame(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	struct gi_proc *p = gi_proc_find(s, h->stream);
	uint32_t sig;

	if (!p || p->exited || h->len < PROTO_SIGNAL_SIZE)
		return;
	sig = proto_get32(pl);
	if (sig >= 1 && sig < 65)
		kill(p->pid, (int)sig);
}

static void gi_on_resize(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	struct gi_proc *p = gi_proc_find(s, h->stream);
	struct winsize ws;

	if (!p || !p->tty || p->out_fd[1] < 0 || h->len < PROTO_RESIZE_SIZE)
		return;
	ws.ws_row = proto_get16(pl);
	ws.ws_col = proto_get16(pl + 2);
	ws.ws_xpixel = proto_get16(pl + 4);
	ws.ws_ypixel = proto_get16(pl + 6);
	/* the kernel sends SIGWINCH to the pty's foreground group */
	ioctl(p->out_fd[1], TIOCSWINSZ, &ws);
}

/* MemAvailable is not in sysinfo(2). */
static uint64_t gi_mem_available(void)
{
	char buf[4096], *at;
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	at = strstr(buf, "MemAvailable:");
	return at ? strtoull(at + 13, NULL, 10) * 1024 : 0;
}

static void gi_on_stats(struct gi_srv *s, const struct proto_hdr *h)
{
	uint8_t p[PROTO_STATS_SIZE_FULL] = { 0 };
	struct sysinfo si;

	if (sysinfo(&si) == 0) {
		proto_put64(p + PROTO_STATS_UPTIME_MS, (uint64_t)si.uptime * 1000);
		proto_put64(p + PROTO_STATS_MEM_TOTAL, (uint64_t)si.totalram * si.mem_unit);
		proto_put64(p + PROTO_STATS_MEM_FREE, (uint64_t)si.freeram * si.mem_unit);
		/* sysinfo loads are fixed point with 16 fractional bits, as ours */
		proto_put32(p + PROTO_STATS_LOAD1, (uint32_t)si.loads[0]);
		proto_put32(p + PROTO_STATS_LOAD5, (uint32_t)si.loads[1]);
		proto_put32(p + PROTO_STATS_LOAD15, (uint32_t)si.loads[2]);
		proto_put32(p + PROTO_STATS_NPROCS, si.procs);
	}
	proto_put64(p + PROTO_STATS_MEM_AVAIL, gi_mem_available());
	gi_stats_more(p);
	gi_send(s, PROTO_T_STATS, 0, 0, h->ref, p, sizeof(p));
}

void gi_dispatch(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	switch (h->type) {
	case PROTO_T_HELLO:
		gi_on_hello(s, h, pl);
		break;
	case PROTO_T_CONFIG:
		gi_on_config(s, h, pl);
		break;
	case PROTO_T_START:
	case PROTO_T_EXEC:
#ifdef UCRT_HOSTILE
		if (h->type == PROTO_T_START && gi_hostile_start(s, h, pl))
			break;
#endif
		gi_proc_start(s, h, pl, h->type == PROTO_T_START);
		break;
	case PROTO_T_STDIN:
		gi_on_stdin(s, h, pl);
		break;
	case PROTO_T_CREDIT:
		gi_on_credit(s, h, pl);
		break;
	case PROTO_T_SIGNAL:
		gi_on_signal_frame(s, h, pl);
		break;
	case PROTO_T_RESIZE:
		gi_on_resize(s, h, pl);
		break;
	case PROTO_T_STATS_REQ:
		gi_on_stats(s, h);
		break;
	case PROTO_T_TOP_REQ:
		gi_on_top(s, h);
		break;
	case PROTO_T_SHUTDOWN:
		gi_kill_all(s);
		s->shutdown = true;
		break;
	default:
		/* guest-to-host types: ignore */
		break;
	}
}
