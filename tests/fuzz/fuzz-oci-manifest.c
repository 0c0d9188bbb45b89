/* Manifest, index and image config parsers on arbitrary bytes. */
#include <stdint.h>
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct oci_manifest m;
	struct oci_index ix;
	struct oci_image_config c;
	oci_doc_kind(s, size, NULL);
	if (oci_manifest_parse(s, size, NULL, &m, NULL) == 0)
		oci_manifest_free(&m);
	if (oci_index_parse(s, size, NULL, &ix, NULL) == 0) {
		struct oci_platform p = { "linux", "arm64", NULL };
		oci_index_select(&ix, &p, NULL);
		oci_index_free(&ix);
	}
	if (oci_config_parse(s, size, &c, NULL) == 0) {
		char chain[OCI_DIGEST_LEN + 1];
		oci_chain_id(c.diff_ids, c.ndiff_ids, chain);
		oci_config_free(&c);
	}
	return 0;
}
