/* --restart policies and health-check durations: whatever parses must
 * format back and parse again to the same thing; durations stay in
 * range. The first byte picks the parser. */
#include "container/container.h"
#include "log.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_restart r, q;
	uint64_t ms;
	char buf[32], *s;

	if (size < 1)
		return 0;
	log_set_level(LOG_ERROR);
	s = xstrndup((const char *)data + 1, size - 1);
	if (data[0] & 1) {
		if (ctr_restart_parse(s, &r, NULL) == 0) {
			ctr_restart_format(&r, buf, sizeof(buf));
			if (ctr_restart_parse(buf, &q, NULL) < 0 || q.mode != r.mode || q.max != r.max)
				abort();
		}
	} else if (ctr_duration_parse(s, &ms) == 0 && (ms == 0 || ms > 86400000)) {
		abort();
	}
	free(s);
	return 0;
}
