/* A hostile guest-init, for tests only: compiled in when UCRT_HOSTILE is
 * defined (`make hostile-init` -> build/ucrt-init-hostile; the shipped
 * build/ucrt-init never has it). When the main process's environment has
 * UCRT_HOSTILE=MODE[@INDEX],... and MODE applies to this instance
 * (@INDEX matching UCRT_TASK_INDEX of a --parallel run, or no @INDEX),
 * guest-init acknowledges the start like a good guest and then breaks the
 * protocol in that one way; otherwise it behaves. Modes:
 *   bad-type     a frame of type 999
 *   oversized    a header announcing 2 GiB of payload
 *   truncated    a header announcing 1000 bytes, 10 of them, then power off
 *   wrong-stream output for a stream the host never started
 *   short-exit   an EXIT frame 2 bytes long (a lie about its length)
 *   bad-exit     an EXIT with code 4242 and signal 999 (lies about the status)
 *   unasked      a RESULT for a request nobody made
 *   flood        64 KiB STDOUT frames without waiting for credit, 1 GiB
 * tests/integration/run-hostile.sh drives them. */
#ifdef UCRT_HOSTILE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "serve.h"

static const char *env_get(char **envp, const char *key)
{
	size_t kl = strlen(key);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, key, kl) == 0 && (*e)[kl] == '=')
			return *e + kl + 1;
	return NULL;
}

/* The mode for this instance, copied into out; false when none. */
static bool pick_mode(char **envp, char *out, size_t cap)
{
	const char *modes = env_get(envp, "UCRT_HOSTILE"), *idx = env_get(envp, "UCRT_TASK_INDEX");
	if (!modes)
		return false;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", modes);
	for (char *save = NULL, *m = strtok_r(buf, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		char *at = strchr(m, '@');
		if (at) {
			*at++ = 0;
			if (strcmp(at, idx ? idx : "0") != 0)
				continue;
		}
		snprintf(out, cap, "%s", m);
		return true;
	}
	return false;
}

static void raw_write(struct gi_srv *s, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t n = write(s->fd, b, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (n <= 0)
			return;	/* the host closed the channel: it noticed */
		b += n;
		len -= (size_t)n;
	}
}

/* Send what the server queued (the start's RESULT) before our bytes. */
static void flush_queued(struct gi_srv *s)
{
	raw_write(s, s->obuf + s->ooff, s->olen - s->ooff);
	s->ooff = s->olen = 0;
}

static void frame(struct gi_srv *s, uint32_t len, uint16_t type, uint32_t stream, uint32_t ref, const void *p,
		  size_t plen)
{
	uint8_t hdr[PROTO_HDR_SIZE];
	struct proto_hdr h = { .len = len, .type = type, .stream = stream, .ref = ref };
	proto_hdr_put(hdr, &h);
	raw_write(s, hdr, sizeof(hdr));
	if (plen)
		raw_write(s, p, plen);
}

bool gi_hostile_start(struct gi_srv *s, const struct proto_hdr *h, const uint8_t *pl)
{
	struct gi_spec sp;
	char msg[128], mode[32];
	if (gi_spec_parse(&sp, pl, h->len, msg, sizeof(msg)) < 0)
		return false;
	bool hostile = pick_mode(sp.envp, mode, sizeof(mode));
	gi_spec_free(&sp);
	if (!hostile)
		return false;
	gi_log("hostile mode %s", mode);
	gi_send_result(s, h->ref, h->stream, 0, NULL, 4242);
	flush_queued(s);
	static uint8_t junk[PROTO_MAX_PAYLOAD];
	memset(junk, 'H', sizeof(junk));
	uint32_t id = h->stream;
	if (strcmp(mode, "bad-type") == 0) {
		frame(s, 4, 999, id, 0, junk, 4);
	} else if (strcmp(mode, "oversized") == 0) {
		frame(s, 0x80000000u, PROTO_T_STDOUT, id, 0, junk, 64);
	} else if (strcmp(mode, "truncated") == 0) {
		frame(s, 1000, PROTO_T_STDOUT, id, 0, junk, 10);
		sync();
		reboot(RB_AUTOBOOT);
	} else if (strcmp(mode, "wrong-stream") == 0) {
		frame(s, 5, PROTO_T_STDOUT, id + 4242, 0, "hello", 5);
	} else if (strcmp(mode, "short-exit") == 0) {
		frame(s, 2, PROTO_T_EXIT, id, 0, junk, 2);
	} else if (strcmp(mode, "bad-exit") == 0) {
		uint8_t e[PROTO_EXIT_SIZE];
		proto_put32(e, 4242);
		proto_put32(e + 4, 999);
		proto_put32(e + 8, 0);
		frame(s, sizeof(e), PROTO_T_EXIT, id, 0, e, sizeof(e));
	} else if (strcmp(mode, "unasked") == 0) {
		frame(s, 0, PROTO_T_RESULT, id, 99999, NULL, 0);
	} else if (strcmp(mode, "flood") == 0) {
		for (unsigned i = 0; i < (1u << 30) / sizeof(junk); i++)
			frame(s, sizeof(junk), PROTO_T_STDOUT, id, 0, junk, sizeof(junk));
	}
	/* Then nothing: the host has to end this VM itself. */
	for (;;)
		pause();
}
#endif
