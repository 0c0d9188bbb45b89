/* The registry's response header parser (curl's header callback), fed
 * one line per newline-separated chunk as curl would. */
#include <stdint.h>
#include <string.h>

#include "registry/registry-internal.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_call c = { 0 };
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		/* a private copy: the parser must not read past len */
		char *line = xmalloc(n ? n : 1);
		memcpy(line, p, n);
		reg_header_parse(&c, line, n);
		free(line);
		p += n;
	}
	uint64_t ms;
	reg_retry_after_ms(c.retry_after, 0, &ms);
	reg_call_reset(&c);
	return 0;
}
