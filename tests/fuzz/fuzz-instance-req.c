/* libFuzzer target: the request lines a `run --parallel` reads from its
 * socket (instance-ctl.c). Whatever parses has its op and numbers in
 * range and formats back to the same line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container/container-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_ireq rq, back;
	char line[CTR_IREQ_MAX + 1];

	if (ctr_ireq_parse((const char *)data, size, &rq) < 0)
		return 0;
	if (rq.op == CTR_IREQ_STOP ? rq.arg > 3600 : rq.arg < 1 || rq.arg > 64)
		abort();
	int n = ctr_ireq_format(&rq, line, sizeof(line));
	if (n <= 0 || line[n - 1] != '\n' || ctr_ireq_parse(line, (size_t)n - 1, &back) < 0 ||
	    memcmp(&rq, &back, sizeof(rq)) != 0)
		abort();
	return 0;
}
