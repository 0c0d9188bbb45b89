/* QMP lines from QEMU (which runs guest-facing device code: not trusted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vm/vm-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = xstrndup((const char *)data, size);
	struct vm_qmp_msg m;

	if (vm_qmp_parse(line, strlen(line), &m) == 0 && m.val) {
		/* val must lie inside the line */
		if (m.val < line || m.val + m.vlen > line + strlen(line))
			abort();
	}
	free(line);
	return 0;
}
