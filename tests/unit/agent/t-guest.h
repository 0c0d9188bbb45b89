/* Test helpers: run the real build/ucrt-init in serve mode over a
 * socketpair and talk to it frame by frame with the host codec. */
#ifndef UCRT_T_GUEST_H
#define UCRT_T_GUEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "buf.h"
#include "util.h"

struct t_guest {
	pid_t pid;
	int fd;
	uint8_t in[2 * (PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD)];
	size_t len;
	uint8_t frame[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];	/* last frame */
	struct agent_frame f;
};

static inline const char *t_init_path(void)
{
	static char path[4096];
	const char *p = getenv("UCRT_INIT");

	if (p)
		return p;
	snprintf(path, sizeof(path), "%s/ucrt-init", getenv("UCRT_BUILD") ? getenv("UCRT_BUILD") : "build");
	return path;
}

/* extra: NULL-terminated extra arguments for ucrt-init. */
static inline int t_guest_spawn(struct t_guest *g, const char *const *extra)
{
	int sv[2];
	const char *argv[16];
	char fdarg[16];
	int n = 0;

	memset(g, 0, sizeof(*g));
	if (access(t_init_path(), X_OK) < 0)
		return -ENOENT;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	g->pid = fork();
	if (g->pid == 0) {
		int fd = dup(sv[1]);	/* without CLOEXEC */
		snprintf(fdarg, sizeof(fdarg), "%d", fd);
		argv[n++] = t_init_path();
		argv[n++] = "--serve-fd";
		argv[n++] = fdarg;
		for (int i = 0; extra && extra[i] && n < 14; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(sv[1]);
	g->fd = sv[0];
	return 0;
}

static inline void t_send(struct t_guest *g, uint16_t type, uint16_t flags, uint32_t stream, uint32_t ref,
		   const void *p, size_t len)
{
	_cleanup_buf_ struct buf b = BUF_INIT;

	agent_encode_frame(&b, type, flags, stream, ref, p, len);
	write_all(g->fd, b.data, b.len);
}

static inline void t_send_buf(struct t_guest *g, struct buf *b)
{
	write_all(g->fd, b->data, b->len);
	buf_reset(b);
}

/* Next frame into g->f; 1 ok, 0 timeout, -1 closed or malformed. */
static inline int t_recv(struct t_guest *g, int timeout_ms)
{
	for (;;) {
		ssize_t n = g->len ? agent_frame_parse(g->in, g->len, &g->f) : 0;
		if (n < 0)
			return -1;
		if (n > 0) {
			memcpy(g->frame, g->in, (size_t)n);
			g->f.payload = g->frame + PROTO_HDR_SIZE;
			memmove(g->in, g->in + n, g->len - (size_t)n);
			g->len -= (size_t)n;
			return 1;
		}
		struct pollfd pf = { g->fd, POLLIN, 0 };
		if (poll(&pf, 1, timeout_ms) <= 0)
			return 0;
		n = read(g->fd, g->in + g->len, sizeof(g->in) - g->len);
		if (n <= 0)
			return -1;
		g->len += (size_t)n;
	}
}

/* Collected results of one process. */
struct t_proc {
	struct buf out, err;
	bool out_eof, err_eof, exited, started;
	struct agent_exit ex;
	struct agent_result res;
};

static inline void t_proc_free(struct t_proc *p)
{
	buf_free(&p->out);
	buf_free(&p->err);
}

/* Handle one frame for stream (granting output credit back at once unless
 * hold); returns false for frames of other types/streams left unhandled. */
static inline bool t_proc_frame(struct t_guest *g, uint32_t stream, struct t_proc *p, bool hold)
{
	const struct agent_frame *f = &g->f;
	uint8_t c[PROTO_CREDIT_SIZE];

	if (f->h.stream != stream)
		return false;
	switch (f->h.type) {
	case PROTO_T_RESULT:
		agent_decode_result(f, &p->res);
		p->started = true;
		return true;
	case PROTO_T_STDOUT:
	case PROTO_T_STDERR:
		buf_append(f->h.type == PROTO_T_STDOUT ? &p->out : &p->err, f->payload, f->h.len);
		if (f->h.flags & PROTO_F_EOF)
			*(f->h.type == PROTO_T_STDOUT ? &p->out_eof : &p->err_eof) = true;
		if (!hold && f->h.len) {
			proto_put32(c, f->h.type == PROTO_T_STDOUT ? PROTO_CHAN_STDOUT : PROTO_CHAN_STDERR);
			proto_put32(c + 4, f->h.len);
			t_send(g, PROTO_T_CREDIT, 0, stream, 0, c, sizeof(c));
		}
		return true;
	case PROTO_T_EXIT:
		p->exited = agent_decode_exit(f, &p->ex) == 0;
		return true;
	}
	return false;
}

/* Run frames until the process exited (or timeout). */
static inline bool t_proc_wait(struct t_guest *g, uint32_t stream, struct t_proc *p, int timeout_ms)
{
	while (!p->exited) {
		if (t_recv(g, timeout_ms) <= 0)
			return false;
		t_proc_frame(g, stream, p, false);
	}
	return true;
}

static inline int t_guest_end(struct t_guest *g)
{
	int ws = 0;

	close(g->fd);
	for (int i = 0; i < 500; i++) {
		if (waitpid(g->pid, &ws, WNOHANG) == g->pid)
			return ws;
		usleep(10000);
	}
	kill(g->pid, SIGKILL);
	waitpid(g->pid, &ws, 0);
	return -1;
}

#endif
