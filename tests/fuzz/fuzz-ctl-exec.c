/* libFuzzer target: the exec and attach requests a supervisor (or an
 * OCI runtime's per-container process) reads from ctl.sock. Whatever
 * parses as an exec has a non-empty argv. */
#include <stdint.h>
#include <stdlib.h>

#include "container/container-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_spec s;
	uint16_t rows = 0, cols = 0;
	bool in, rel;

	if (ctr_ctl_parse_exec((const char *)data, size, &s, &rows, &cols) == 0) {
		if (!s.argv || !s.argv[0])
			abort();
		ctr_spec_free(&s);
	}
	ctr_ctl_parse_attach((const char *)data, size, &in, &rel, &rows, &cols);
	return 0;
}
