/* libFuzzer target: the host's decoder of guest frames. Every input is a
 * byte stream as a hostile guest could send it; frames are split, checked
 * and handed to the decoder for their type. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(const struct agent_frame *f)
{
	struct agent_hello h;
	struct agent_result r;
	struct agent_exit e;
	struct agent_stats st;
	uint32_t chan, bytes;
	char line[512];

	switch (f->h.type) {
	case PROTO_T_HELLO:
		if (agent_decode_hello(f, &h) == 0 && strlen(h.kernel) >= sizeof(h.kernel))
			__builtin_trap();
		break;
	case PROTO_T_RESULT:
		if (agent_decode_result(f, &r) == 0 && (r.err < 0 || r.err >= 4096))
			__builtin_trap();
		break;
	case PROTO_T_EXIT:
		if (agent_decode_exit(f, &e) == 0 && (e.code > 255 || e.signal > 64))
			__builtin_trap();
		break;
	case PROTO_T_STATS:
		if (agent_decode_stats(f, &st) == 0 && st.has_cpu && st.cpu_busy_ns > st.cpu_total_ns)
			__builtin_trap();
		break;
	case PROTO_T_TOP: {
		struct agent_ps *ps;
		size_t n;
		bool trunc;
		if (agent_decode_top(f, &ps, &n, &trunc) == 0) {
			for (size_t i = 0; i < n; i++)
				if (strlen(ps[i].cmd) > PROTO_MAX_PROC_CMD)
					__builtin_trap();
			free(ps);
		}
		break;
	}
	case PROTO_T_CREDIT:
		if (agent_decode_credit(f, &chan, &bytes) == 0 && chan > PROTO_CHAN_STDERR)
			__builtin_trap();
		break;
	case PROTO_T_LOG:
		agent_decode_log(f, line, sizeof(line));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_frame f;
	size_t off = 0;
	ssize_t n;

	while ((n = agent_frame_parse(data + off, size - off, &f)) > 0) {
		if ((size_t)n > size - off || f.h.len > PROTO_MAX_PAYLOAD)
			__builtin_trap();
		fuzz_one(&f);
		off += (size_t)n;
	}
	return 0;
}
