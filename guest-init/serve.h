/* guest-init: state of the protocol server (serve.c, dispatch.c). */
#ifndef UCRT_GI_SERVE_H
#define UCRT_GI_SERVE_H

#include "gi.h"

struct gi_proc {
	uint32_t id;		/* stream id */
	pid_t pid;
	bool is_main, tty, exited, stdin_open;
	int wstatus;
	int in_fd;		/* -1 once closed */
	int out_fd[3];		/* [1] stdout/pty, [2] stderr; -1 once ended */
	uint32_t credit[3];	/* output bytes the host lets us send */
	uint8_t *in;		/* stdin bytes not yet written (<= our credit) */
	size_t in_len;
	bool in_eof;
	uint32_t in_ack;	/* consumed, not yet returned as credit */
};

struct gi_srv {
	int fd, sfd, etc_fd;
	bool test;
	uint8_t *ibuf;
	size_t ilen;
	uint8_t *obuf;
	size_t olen, ocap, ooff;
	struct gi_proc *procs[PROTO_MAX_PROCS];
	bool host_hello, host_gone, shutdown, main_started, main_done;
	int main_code;
	char config_err[256];	/* a CONFIG that failed: START is refused */
};

void gi_send(struct gi_srv *s, uint16_t type, uint16_t flags, uint32_t stream, uint32_t ref,
	     const void *p, size_t len);
void gi_send_result(struct gi_srv *s, uint32_t ref, uint32_t stream, int err, const char *msg, pid_t pid);
void gi_send_credit(struct gi_srv *s, uint32_t stream, uint32_t chan, uint32_t bytes);
struct gi_proc *gi_proc_find(struct gi_srv *s, uint32_t id);
void gi_proc_start(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl, bool is_main);
void gi_proc_write_in(struct gi_srv *s, struct gi_proc *p);
/* stats.c: the STATS payload's CPU and disk fields (p holds
 * PROTO_STATS_SIZE_FULL bytes); the TOP answer. */
void gi_stats_more(uint8_t *p);
void gi_on_top(struct gi_srv *s, const struct proto_hdr *h);
void gi_kill_all(struct gi_srv *s);
/* One frame from the host (header already validated). */
void gi_dispatch(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl);
#ifdef UCRT_HOSTILE
/* hostile.c (test builds only): misbehave instead of starting, if asked. */
bool gi_hostile_start(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl);
#endif

#endif
