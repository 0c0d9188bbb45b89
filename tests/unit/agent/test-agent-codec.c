/* The host codec: encode/decode round trips, and rejection of malformed or
 * out-of-place guest frames. */
#include <errno.h>
#include <sys/socket.h>

#include "tests/lib/tap.h"
#include "agent/agent.h"
#include "buf.h"
#include "util.h"

static uint8_t t_frame[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD + 16];

/* Build a raw frame as a guest would. */
static size_t t_raw(uint16_t type, uint16_t flags, uint32_t stream, uint32_t ref, const void *p, uint32_t len)
{
	struct proto_hdr h = { len, type, flags, stream, ref };

	proto_hdr_put(t_frame, &h);
	if (len && p)
		memcpy(t_frame + PROTO_HDR_SIZE, p, len);
	return PROTO_HDR_SIZE + len;
}

static void t_header_checks(void)
{
	struct agent_frame f;
	uint8_t e[PROTO_EXIT_SIZE] = { 42 };
	size_t n;

	n = t_raw(PROTO_T_EXIT, 0, 3, 0, e, sizeof(e));
	t_is(agent_frame_parse(t_frame, n, &f), (ssize_t)n, "exit frame parses");
	t_is(agent_frame_parse(t_frame, n - 1, &f), 0, "incomplete frame: need more");
	t_is(agent_frame_parse(t_frame, 7, &f), 0, "incomplete header: need more");
	n = t_raw(PROTO_T_STDOUT, 0, 1, 0, NULL, PROTO_MAX_PAYLOAD + 1);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "oversized length rejected from the header alone");
	t_raw(99, 0, 1, 0, NULL, 0);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "unknown type rejected");
	t_raw(0, 0, 1, 0, NULL, 0);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "type 0 rejected");
	t_raw(PROTO_T_START, 0, 1, 1, NULL, 0);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "host-only type from the guest rejected");
	t_raw(PROTO_T_STDOUT, 0x8000, 1, 0, NULL, 0);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "unknown flag rejected");
	t_raw(PROTO_T_EXIT, PROTO_F_EOF, 1, 0, e, sizeof(e));
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE + sizeof(e), &f), -EBADMSG, "EOF flag only on data frames");
	t_raw(PROTO_T_STDOUT, 0, 0, 0, NULL, 0);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "data on stream 0 rejected");
	t_raw(PROTO_T_STDOUT, 0, PROTO_MAX_STREAM + 1, 0, NULL, 0);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "stream id out of range rejected");
	t_raw(PROTO_T_EXIT, 0, 1, 0, e, 8);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE + 8, &f), -EBADMSG, "short fixed payload rejected");
	t_raw(PROTO_T_RESULT, 0, 1, 0, NULL, 0);
	t_is(agent_frame_parse(t_frame, PROTO_HDR_SIZE, &f), -EBADMSG, "result without request id rejected");
}

static void t_decoders(void)
{
	struct agent_frame f;
	struct agent_result r;
	struct agent_exit x;
	uint8_t p[256];
	size_t off = 0, n;
	uint32_t chan, bytes;
	char line[16];

	proto_tlv_put32(p, sizeof(p), &off, PROTO_A_ERRNO, ENOENT);
	proto_tlv_putstr(p, sizeof(p), &off, PROTO_A_MSG, "no\x1b[31m such");
	proto_tlv_put32(p, sizeof(p), &off, PROTO_A_PID, 1234);
	proto_tlv_put(p, sizeof(p), &off, 999, "x", 1);	/* unknown: skipped */
	n = t_raw(PROTO_T_RESULT, 0, 5, 9, p, (uint32_t)off);
	t_ok(agent_frame_parse(t_frame, n, &f) > 0 && agent_decode_result(&f, &r) == 0, "result decodes");
	t_ok(r.err == ENOENT && r.pid == 1234, "result fields");
	t_streq(r.msg, "no?[31m such", "control bytes in strings are neutralised");

	n = t_raw(PROTO_T_RESULT, 0, 5, 9, p, (uint32_t)off - 3);
	agent_frame_parse(t_frame, n, &f);
	t_is(agent_decode_result(&f, &r), -EBADMSG, "truncated TLV rejected");
	off = 0;
	proto_tlv_put(p, sizeof(p), &off, PROTO_A_ERRNO, "\1\0", 2);
	n = t_raw(PROTO_T_RESULT, 0, 5, 9, p, (uint32_t)off);
	agent_frame_parse(t_frame, n, &f);
	t_is(agent_decode_result(&f, &r), -EBADMSG, "integer attribute of the wrong size rejected");
	off = 0;
	proto_tlv_put32(p, sizeof(p), &off, PROTO_A_ERRNO, 100000);
	n = t_raw(PROTO_T_RESULT, 0, 5, 9, p, (uint32_t)off);
	agent_frame_parse(t_frame, n, &f);
	t_is(agent_decode_result(&f, &r), -EBADMSG, "absurd errno rejected");

	proto_put32(p, 300);
	proto_put32(p + 4, 0);
	proto_put32(p + 8, 0);
	n = t_raw(PROTO_T_EXIT, 0, 5, 0, p, PROTO_EXIT_SIZE);
	agent_frame_parse(t_frame, n, &f);
	t_is(agent_decode_exit(&f, &x), -EBADMSG, "exit code above 255 rejected");
	proto_put32(p, 137);
	proto_put32(p + 4, 9);
	agent_frame_parse(t_frame, t_raw(PROTO_T_EXIT, 0, 5, 0, p, PROTO_EXIT_SIZE), &f);
	t_ok(agent_decode_exit(&f, &x) == 0 && x.code == 137 && x.signal == 9, "exit decodes");

	proto_put32(p, PROTO_CHAN_STDIN);
	proto_put32(p + 4, PROTO_MAX_CREDIT + 1);
	agent_frame_parse(t_frame, t_raw(PROTO_T_CREDIT, 0, 5, 0, p, 8), &f);
	t_is(agent_decode_credit(&f, &chan, &bytes), -EBADMSG, "credit above the maximum rejected");
	proto_put32(p, 7);
	proto_put32(p + 4, 1);
	agent_frame_parse(t_frame, t_raw(PROTO_T_CREDIT, 0, 5, 0, p, 8), &f);
	t_is(agent_decode_credit(&f, &chan, &bytes), -EBADMSG, "credit on an unknown channel rejected");

	agent_frame_parse(t_frame, t_raw(PROTO_T_LOG, 0, 0, 0, "a very long log line\n", 21), &f);
	agent_decode_log(&f, line, sizeof(line));
	t_streq(line, "a very long log", "log text bounded");

	proto_put32(p, 0xdeadbeef);
	agent_frame_parse(t_frame, t_raw(PROTO_T_HELLO, 0, 0, 0, p, PROTO_HELLO_FIXED), &f);
	struct agent_hello h;
	t_is(agent_decode_hello(&f, &h), -EBADMSG, "hello with a bad magic rejected");

	uint8_t clk[16];
	proto_put32(p, PROTO_MAGIC);
	proto_put32(p + 4, PROTO_VERSION);
	proto_put32(p + 8, 0);
	proto_put64(clk, 5);
	proto_put64(clk + 8, 9);
	off = PROTO_HELLO_FIXED;
	proto_tlv_put(p, sizeof(p), &off, PROTO_A_CLOCK, clk, sizeof(clk));
	agent_frame_parse(t_frame, t_raw(PROTO_T_HELLO, 0, 0, 0, p, (uint32_t)off), &f);
	t_ok(agent_decode_hello(&f, &h) == 0 && h.guest_start_ns == 5 && h.guest_sent_ns == 9,
	     "hello's guest clock decodes");
	off = PROTO_HELLO_FIXED;
	proto_tlv_put(p, sizeof(p), &off, PROTO_A_CLOCK, clk, 8);
	agent_frame_parse(t_frame, t_raw(PROTO_T_HELLO, 0, 0, 0, p, (uint32_t)off), &f);
	t_is(agent_decode_hello(&f, &h), -EBADMSG, "hello's guest clock of the wrong size rejected");
}

/* STATS with the CPU/disk fields, and TOP's process list. */
static void t_stats_top(void)
{
	uint8_t p[512] = { 0 }, ent[PROTO_PROC_FIXED + 8];
	struct agent_frame f;
	struct agent_stats st;
	struct agent_ps *ps;
	size_t n, off = 0;
	bool trunc;

	proto_put64(p + PROTO_STATS_MEM_TOTAL, 1000);
	agent_frame_parse(t_frame, t_raw(PROTO_T_STATS, 0, 0, 3, p, PROTO_STATS_SIZE), &f);
	t_ok(agent_decode_stats(&f, &st) == 0 && st.mem_total == 1000 && !st.has_cpu, "short stats: no CPU fields");
	proto_put64(p + PROTO_STATS_CPU_BUSY_NS, 5);
	proto_put64(p + PROTO_STATS_CPU_TOTAL_NS, 20);
	proto_put64(p + PROTO_STATS_BLK_WRITE, 4096);
	proto_put32(p + PROTO_STATS_NCPUS, 2);
	proto_put32(p + PROTO_STATS_USER_PROCS, 3);
	agent_frame_parse(t_frame, t_raw(PROTO_T_STATS, 0, 0, 3, p, PROTO_STATS_SIZE_FULL), &f);
	t_ok(agent_decode_stats(&f, &st) == 0 && st.has_cpu && st.cpu_busy_ns == 5 && st.cpu_total_ns == 20 &&
	     st.blk_write == 4096 && st.ncpus == 2 && st.user_procs == 3, "full stats decode");
	proto_put64(p + PROTO_STATS_CPU_BUSY_NS, 50);
	agent_frame_parse(t_frame, t_raw(PROTO_T_STATS, 0, 0, 3, p, PROTO_STATS_SIZE_FULL), &f);
	t_ok(agent_decode_stats(&f, &st) == 0 && !st.has_cpu, "busy beyond total: CPU not believed");

	memset(ent, 0, sizeof(ent));
	proto_put32(ent, 42);
	proto_put32(ent + 4, 1);
	proto_put32(ent + 12, 'S');
	proto_put64(ent + 24, 8192);
	memcpy(ent + PROTO_PROC_FIXED, "sh	-cx", 7);
	proto_tlv_put(p, sizeof(p), &off, PROTO_A_PROC, ent, PROTO_PROC_FIXED + 7);
	proto_tlv_put32(p, sizeof(p), &off, PROTO_A_TRUNC, 1);
	t_is(agent_frame_parse(t_frame, t_raw(PROTO_T_TOP, 0, 0, 4, p, (uint32_t)off), &f) > 0, 1, "top frame accepted");
	t_is(agent_decode_top(&f, &ps, &n, &trunc), 0, "top decodes");
	t_ok(n == 1 && ps[0].pid == 42 && ps[0].ppid == 1 && ps[0].state == 'S' && ps[0].rss == 8192 && trunc,
	     "... its fields and the truncation mark");
	t_streq(n ? ps[0].cmd : "", "sh	-c?x", "... the command line, control bytes made '?'");
	free(ps);
	off = 0;
	proto_tlv_put(p, sizeof(p), &off, PROTO_A_PROC, ent, PROTO_PROC_FIXED - 1);
	agent_frame_parse(t_frame, t_raw(PROTO_T_TOP, 0, 0, 4, p, (uint32_t)off), &f);
	t_is(agent_decode_top(&f, &ps, &n, &trunc), -EBADMSG, "a short process entry rejected");
	t_is(agent_frame_parse(t_frame, t_raw(PROTO_T_TOP, 0, 0, 0, p, (uint32_t)off), &f), -EBADMSG,
	     "top without a request id rejected");
}

/* Encoders against the TLV reader the guest uses. */
static void t_encoders(void)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	char *argv[] = { "sh", "-c", "echo hi", NULL }, *env[] = { "A=1", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env, .cwd = "/w", .uid = 7, .gid = 8, .tty = true,
				     .rows = 24, .cols = 80, .groups = (uint32_t[]){ 9 }, .ngroups = 1 };
	struct proto_tlv_iter it;
	struct proto_hdr h;
	const uint8_t *v;
	uint16_t tag, l;
	int nargs = 0, ok = 1;

	t_is(agent_encode_proc(&b, PROTO_T_START, 1, 2, &s), 0, "start encodes");
	t_ok(proto_hdr_get((uint8_t *)b.data, &h) == 0 && h.type == PROTO_T_START && h.stream == 1 && h.ref == 2 &&
	     h.len + PROTO_HDR_SIZE == b.len, "start header");
	proto_tlv_init(&it, (uint8_t *)b.data + PROTO_HDR_SIZE, h.len);
	while (proto_tlv_next(&it, &tag, &v, &l) > 0) {
		if (tag == PROTO_A_ARG)
			ok &= l == strlen(argv[nargs]) && memcmp(v, argv[nargs], l) == 0, nargs++;
		if (tag == PROTO_A_UID)
			ok &= proto_get32(v) == 7;
		if (tag == PROTO_A_WINSIZE)
			ok &= proto_get16(v) == 24 && proto_get16(v + 2) == 80;
	}
	t_ok(ok && nargs == 3, "argv, uid and window size round-trip");

	char *none[] = { NULL };
	s.argv = none;
	t_is(agent_encode_proc(&b, PROTO_T_START, 1, 2, &s), -EINVAL, "empty argv refused");
	s.argv = argv;
	s.cwd = "relative";
	t_is(agent_encode_proc(&b, PROTO_T_START, 1, 2, &s), -EINVAL, "relative cwd refused");
	s.cwd = NULL;
	s.root = "run/x";
	t_is(agent_encode_proc(&b, PROTO_T_START, 1, 2, &s), -EINVAL, "relative root refused");
	s.root = "/run/ucrt-pod/c1/rootfs";
	buf_reset(&b);
	t_is(agent_encode_proc(&b, PROTO_T_EXEC, 1, 2, &s), 0, "a pod container's root encodes");
	proto_hdr_get((uint8_t *)b.data, &h);
	proto_tlv_init(&it, (uint8_t *)b.data + PROTO_HDR_SIZE, h.len);
	ok = 0;
	while (proto_tlv_next(&it, &tag, &v, &l) > 0)
		ok |= tag == PROTO_A_ROOT && l == strlen(s.root) && memcmp(v, s.root, l) == 0;
	t_ok(ok, "PROTO_A_ROOT carries it");
	s.root = NULL;

	static char big[70000];
	memset(big, 'x', sizeof(big) - 1);
	char *bigv[] = { big, NULL };
	s.cwd = NULL;
	s.argv = bigv;
	buf_reset(&b);
	t_is(agent_encode_proc(&b, PROTO_T_START, 1, 2, &s), -E2BIG, "oversized spec refused");
	t_is(b.len, 0, "nothing queued for a refused spec");

	char *evil[] = { "1.1.1.1\nnameserver 6.6.6.6", NULL };
	struct agent_config c = { .dns = evil };
	t_is(agent_encode_config(&b, 1, &c), -EINVAL, "newline in a resolv.conf entry refused");
}

int main(void)
{
	t_stats_top();
	t_header_checks();
	t_decoders();
	t_encoders();
	return t_done();
}
