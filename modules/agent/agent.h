/* Host side of the host<->guest protocol (wire format: agent/proto.h,
 * prose: docs/protocol.md).
 *
 * Two layers:
 *  - a codec (agent_frame_parse, agent_decode_*, agent_encode_*): pure
 *    functions, no I/O, that treat every byte from the guest as hostile:
 *    bounded lengths, known types and attributes, checked counts;
 *  - a session (struct agent) that runs on the reactor over the channel fd
 *    (unix socket of a virtio-serial chardev, or a vsock connection), tracks
 *    streams, requests and credits, and calls back on output, exit status,
 *    results and errors. Any protocol violation ends the session. */
#ifndef UCRT_AGENT_H
#define UCRT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/proto.h"

struct buf;
struct loop;

/* ---- codec ---- */

struct agent_frame {
	struct proto_hdr h;
	const uint8_t *payload;		/* h.len bytes, inside the parsed buffer */
};

/* Parse one frame sent by the guest from buf[0..len). Returns the bytes it
 * spans (> 0), 0 when more bytes are needed, -EBADMSG when the bytes can
 * never form a valid guest frame (bad header, a type the guest may not
 * send, a payload of the wrong size for its type). */
ssize_t agent_frame_parse(const uint8_t *buf, size_t len, struct agent_frame *f);

struct agent_hello {
	uint32_t version;
	uint32_t features;		/* PROTO_FEAT_* */
	char kernel[65];		/* printable ASCII, may be empty */
	/* Guest CLOCK_MONOTONIC ns at guest-init's start and at sending
	 * the HELLO; 0 when the guest did not say (PROTO_A_CLOCK). */
	uint64_t guest_start_ns, guest_sent_ns;
};

struct agent_result {
	int err;			/* 0 or a positive errno (bounded) */
	uint32_t pid;
	char msg[256];			/* printable, may be empty */
};

struct agent_exit {
	uint32_t code;			/* 0..255, docker-style */
	uint32_t signal;		/* 0 or 1..64 */
	uint32_t wstatus;
};

struct agent_stats {
	uint64_t uptime_ms;
	uint64_t mem_total, mem_free, mem_available;	/* bytes */
	uint32_t load[3];		/* load * 65536 */
	uint32_t nprocs;
	/* From guests that send the full payload (has_cpu). */
	bool has_cpu;
	uint64_t cpu_busy_ns, cpu_total_ns;	/* all CPUs */
	uint64_t blk_read, blk_write;	/* bytes */
	uint32_t ncpus;
	uint32_t user_procs;		/* processes but kernel threads and PID 1 */
};

/* One guest process (TOP). */
struct agent_ps {
	uint32_t pid, ppid, uid;
	char state;			/* a letter, '?' when not one */
	uint64_t cpu_ms, rss;		/* rss in bytes */
	char cmd[PROTO_MAX_PROC_CMD + 1];	/* printable, may be empty */
};

/* Decoders for frames agent_frame_parse accepted; each returns 0 or
 * -EBADMSG. Strings are copied bounded, non-printable bytes become '?'. */
int agent_decode_hello(const struct agent_frame *f, struct agent_hello *out);
int agent_decode_result(const struct agent_frame *f, struct agent_result *out);
int agent_decode_exit(const struct agent_frame *f, struct agent_exit *out);
int agent_decode_stats(const struct agent_frame *f, struct agent_stats *out);
/* TOP: *out (malloc'ed, n entries, may be NULL when n is 0); trunc when
 * the guest had more than fit. -EBADMSG on any malformed attribute. */
int agent_decode_top(const struct agent_frame *f, struct agent_ps **out, size_t *n, bool *trunc);
int agent_decode_credit(const struct agent_frame *f, uint32_t *chan, uint32_t *bytes);
/* LOG text, sanitized, NUL-terminated, truncated to cap-1. */
void agent_decode_log(const struct agent_frame *f, char *out, size_t cap);

/* What to run (START / EXEC). */
struct agent_proc_spec {
	char *const *argv;		/* NULL-terminated, at least one */
	char *const *env;		/* NULL-terminated "K=V", may be NULL */
	const char *cwd;		/* absolute, NULL for "/" */
	const char *root;		/* PROTO_A_ROOT: a pod container's root in the guest, or NULL */
	uint32_t uid, gid;
	const uint32_t *groups;
	size_t ngroups;
	bool tty;			/* pty: all output on stdout */
	bool stdin_open;		/* else stdin is /dev/null */
	uint16_t rows, cols;		/* initial window (tty), 0 to leave */
};

struct agent_addr {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;			/* ignored for gateways */
};

/* A filesystem guest-init mounts before the main process (PROTO_A_MOUNT). */
struct agent_mount {
	int kind;			/* enum proto_mount_kind */
	bool readonly;
	const char *src;		/* tag, "tag/name", disk serial or tmpfs options */
	const char *target;		/* absolute path in the container */
};

/* VM-wide settings (CONFIG). Vectors are NULL-terminated or NULL. */
struct agent_config {
	const char *hostname;
	const char *ifname;		/* NULL: eth0 */
	const struct agent_addr *addrs;
	size_t naddrs;
	const struct agent_addr *gateway;	/* NULL: no default route */
	uint32_t mtu;			/* 0: leave */
	/* The interface's MAC, set before link up: a VM template's clone
	 * (docs/vm.md, Templates) wakes up with the template's. */
	bool has_mac;
	uint8_t mac[6];
	char *const *dns;
	char *const *search;
	char *const *hosts;		/* "ADDR NAME [ALIAS...]" */
	const struct agent_mount *mounts;
	size_t nmounts;			/* at most PROTO_MAX_MOUNTS */
};

/* Append one frame. -EMSGSIZE when the payload exceeds PROTO_MAX_PAYLOAD. */
int agent_encode_frame(struct buf *out, uint16_t type, uint16_t flags, uint32_t stream,
		       uint32_t ref, const void *payload, size_t len);
/* type is PROTO_T_START or PROTO_T_EXEC. -E2BIG when it does not fit in a
 * frame, -EINVAL for an empty argv or strings with newlines where they
 * would end up in a config file. */
int agent_encode_proc(struct buf *out, uint16_t type, uint32_t stream, uint32_t ref,
		      const struct agent_proc_spec *s);
int agent_encode_config(struct buf *out, uint32_t ref, const struct agent_config *c);
void agent_encode_hello(struct buf *out);

/* ---- session ---- */

struct agent;

struct agent_ops {
	/* The guest said hello (its first frame). */
	void (*ready)(struct agent *a, const struct agent_hello *h, void *ud);
	/* Reply to agent_config/agent_start/agent_exec (stream 0 for config). */
	void (*result)(struct agent *a, uint32_t stream, const struct agent_result *r, void *ud);
	/* Output of a process: chan PROTO_CHAN_STDOUT/STDERR; eof with len 0
	 * ends the channel. With auto credit (the default) the bytes are
	 * re-granted when this returns; else call agent_credit(). */
	void (*output)(struct agent *a, uint32_t stream, int chan, const uint8_t *data,
		       size_t len, bool eof, void *ud);
	void (*exit)(struct agent *a, uint32_t stream, const struct agent_exit *e, void *ud);
	/* More stdin credit arrived for stream. */
	void (*stdin_ready)(struct agent *a, uint32_t stream, void *ud);
	void (*stats)(struct agent *a, const struct agent_stats *st, void *ud);
	/* Answer to agent_request_top (ps valid during the call). */
	void (*top)(struct agent *a, const struct agent_ps *ps, size_t n, bool trunc, void *ud);
	void (*log)(struct agent *a, const char *line, void *ud);
	/* The session ended: err = 0 when the guest closed the channel, else
	 * -errno (-EPROTO for a protocol violation, msg says which). No more
	 * callbacks follow; agent_free() is still the caller's to call. */
	void (*closed)(struct agent *a, int err, const char *msg, void *ud);
};

/* Start a session on fd (taken over; closed by agent_free). Sends the
 * host HELLO and starts reading. */
int agent_new(struct agent **out, struct loop *l, int fd, const struct agent_ops *ops, void *ud);
/* Safe inside any callback: stops I/O, the memory goes when the last
 * in-flight op completed. */
void agent_free(struct agent *a);
bool agent_is_open(const struct agent *a);
void agent_set_auto_credit(struct agent *a, bool on);

/* Requests. agent_start/agent_exec pick the stream id (returned in
 * *stream) and answer through ops->result. */
int agent_config(struct agent *a, const struct agent_config *c);
int agent_start(struct agent *a, const struct agent_proc_spec *s, uint32_t *stream);
int agent_exec(struct agent *a, const struct agent_proc_spec *s, uint32_t *stream);
int agent_request_stats(struct agent *a);
int agent_request_top(struct agent *a);
/* Ask guest-init to end every process and power off (syncing its
 * disks): for a guest whose main process never started. */
int agent_shutdown(struct agent *a);

/* Stdin: queues at most the credit the guest granted; returns the bytes
 * taken (0 when out of credit: wait for ops->stdin_ready) or -errno. */
ssize_t agent_stdin(struct agent *a, uint32_t stream, const void *data, size_t len);
int agent_stdin_eof(struct agent *a, uint32_t stream);
int agent_signal(struct agent *a, uint32_t stream, int signo);
int agent_resize(struct agent *a, uint32_t stream, uint16_t rows, uint16_t cols);
/* Grant bytes more output on chan (manual credit mode). */
int agent_credit(struct agent *a, uint32_t stream, int chan, uint32_t bytes);

#endif
