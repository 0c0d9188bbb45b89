/* Reference and platform parsers on arbitrary strings. */
#include <stdint.h>
#include <string.h>

#include "oci/oci.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct oci_ref r;
	if (oci_ref_parse(s, &r, NULL) == 0) {
		free(oci_ref_string(&r));
		oci_domain_is_loopback(r.domain);
		oci_ref_free(&r);
	}
	struct oci_platform p;
	if (oci_platform_parse(s, &p, NULL) == 0)
		oci_platform_free(&p);
	free(s);
	return 0;
}
