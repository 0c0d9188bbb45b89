/* The RESUME frame's payload (PROTO_T_TEMPLATE_RESUME): what a template's
 * clone gets from the host before anything else (unclone.c). Pure, and
 * fuzzed by tests/fuzz/fuzz-guest-resume.c: the bytes come from the host,
 * but PID 1 never overflows a field whatever they hold. */
#include <errno.h>
#include <string.h>

#include "gi.h"

int gi_resume_parse(const uint8_t *p, size_t plen, struct gi_resume *r)
{
	struct proto_tlv_iter it;
	const uint8_t *v;
	uint16_t tag, len;
	int k;

	memset(r, 0, sizeof(*r));
	proto_tlv_init(&it, p, plen);
	while ((k = proto_tlv_next(&it, &tag, &v, &len)) > 0) {
		switch (tag) {
		case PROTO_A_SEED:
			if (len < 32 || len > sizeof(r->seed))
				return -EINVAL;
			memcpy(r->seed, v, len);
			r->seed_len = len;
			break;
		case PROTO_A_TIME:
			if (len != 8)
				return -EINVAL;
			r->time_ns = proto_get64(v);
			break;
		case PROTO_A_CMDLINE:
			if (len >= sizeof(r->cmdline) || !proto_str_ok(v, len))
				return -EINVAL;
			memcpy(r->cmdline, v, len);
			r->cmdline[len] = 0;
			break;
		default:
			break;	/* newer host */
		}
	}
	return k < 0 ? -EBADMSG : 0;
}
