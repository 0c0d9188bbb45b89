/* Reference and platform parsers on arbitrary strings; whatever parses
 * must print back to a string that parses to the same reference (the same
 * platform, by oci_platform_match). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "oci/oci.h"
#include "util.h"

static void roundtrip(const struct oci_ref *r)
{
	_cleanup_free_ char *s = oci_ref_string(r);
	struct oci_ref q;
	struct err e = { 0 };

	if (oci_ref_parse(s, &q, &e) < 0)
		abort();
	_cleanup_free_ char *t = oci_ref_string(&q);
	if (strcmp(s, t) != 0)
		abort();
	oci_ref_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct oci_ref r;
	struct err e = { 0 };
	if (oci_ref_parse(s, &r, &e) == 0) {
		roundtrip(&r);
		free(oci_ref_name(&r));
		oci_domain_is_loopback(r.domain);
		oci_domain_endpoint(r.domain);
		if (r.tag && !oci_tag_valid(r.tag))
			abort();
		if (r.digest && !oci_digest_valid(r.digest))
			abort();
		oci_ref_free(&r);
	}
	oci_tag_valid(s);
	oci_digest_valid(s);
	struct oci_platform p;
	if (oci_platform_parse(s, &p, &e) == 0) {
		/* What the store writes back must select the same platform. */
		_cleanup_free_ char *ps = oci_platform_string(&p);
		struct oci_platform q;
		if (oci_platform_parse(ps, &q, &e) < 0 || !oci_platform_match(&p, &q) || !oci_platform_match(&q, &p))
			abort();
		oci_platform_free(&q);
		oci_platform_free(&p);
	}
	free(s);
	return 0;
}
