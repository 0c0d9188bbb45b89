/* libFuzzer target: guest-init's parser of the template RESUME payload
 * (guest-init/resume.c). Whatever the bytes, the seed length stays in its
 * buffer and the command line NUL-terminated inside its own; an accepted
 * seed is 32..512 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest-init/resume.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gi_resume r;

	if (gi_resume_parse(data, size, &r) < 0)
		return 0;
	if (r.seed_len > sizeof(r.seed) || (r.seed_len && r.seed_len < 32))
		__builtin_trap();
	if (strnlen(r.cmdline, sizeof(r.cmdline)) == sizeof(r.cmdline))
		__builtin_trap();
	return 0;
}
