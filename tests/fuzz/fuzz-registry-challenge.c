/* WWW-Authenticate challenge parser. */
#include <stdint.h>
#include <string.h>

#include "registry/registry.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct reg_challenge c;
	if (reg_challenge_parse(s, &c) == 0)
		reg_challenge_free(&c);
	free(s);
	return 0;
}
