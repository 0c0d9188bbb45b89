/* libFuzzer target: guest-init's kernel command line parser (ucrt.*
 * parameters). The command line comes from the host, but PID 1 must not
 * overflow a field whatever it holds: every field stays NUL-terminated
 * inside its buffer, and unknown words change nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest-init/cmdline.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct gi_cmdline c;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	gi_cmdline_parse(&c, s);
	if (strnlen(c.root, sizeof(c.root)) == sizeof(c.root) ||
	    strnlen(c.fstype, sizeof(c.fstype)) == sizeof(c.fstype) ||
	    strnlen(c.rootflags, sizeof(c.rootflags)) == sizeof(c.rootflags))
		__builtin_trap();
	if (!strstr(s, "ucrt.") && (strcmp(c.root, "/dev/vda") != 0 || strcmp(c.fstype, "ext4") != 0 || c.ro ||
				    c.overlay || c.debug || c.vsock_port))
		__builtin_trap();
	free(s);
	return 0;
}
