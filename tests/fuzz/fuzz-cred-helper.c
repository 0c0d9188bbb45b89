/* A credential helper's answer: any bytes, never a crash; accepted only
 * with both strings. */
#include "registry/registry.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = xstrndup((const char *)data, size);
	char *u = NULL, *p = NULL;
	if (reg_cred_helper_parse(copy, size, &u, &p) == 0 && (!u || !p))
		abort();
	free(u);
	free(p);
	free(copy);
	return 0;
}
