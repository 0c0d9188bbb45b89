/* Manifest, index and image config parsers on arbitrary bytes, with each
 * Content-Type hint a registry could send (the hint decides between the
 * parsers when the document has no mediaType), and the error messages
 * formatted (they quote parts of the input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "oci/oci.h"

static const char *const hints[] = { NULL, OCI_MT_MANIFEST, DOCKER_MT_LIST, "text/plain" };

static void one(const char *s, size_t size, const char *hint)
{
	struct oci_manifest m;
	struct oci_index ix;
	struct err e = { 0 };

	oci_doc_kind(s, size, hint);
	if (oci_manifest_parse(s, size, hint, &m, &e) == 0) {
		for (size_t i = 0; i < m.nlayers; i++)
			oci_layer_compression(m.layers[i].media_type);
		oci_media_kind(m.media_type);
		oci_manifest_free(&m);
	}
	if (oci_index_parse(s, size, hint, &ix, &e) == 0) {
		struct oci_platform p = { "linux", "arm64", NULL };
		oci_index_select(&ix, &p, &e);
		for (size_t i = 0; i < ix.n; i++)
			if (ix.manifests[i].platform.os)
				free(oci_platform_string(&ix.manifests[i].platform));
		oci_index_free(&ix);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct oci_image_config c;
	struct err e = { 0 };

	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		one(s, size, hints[i]);
	if (oci_config_parse(s, size, &c, &e) == 0) {
		char chain[OCI_DIGEST_LEN + 1];
		oci_chain_id(c.diff_ids, c.ndiff_ids, chain);
		oci_config_free(&c);
	}
	return 0;
}
