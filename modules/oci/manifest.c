/* Manifests and indexes (Docker schema 2 and OCI), media types, chain ids.
 * Inputs come from registries and tarballs: every field is checked for
 * type and range before it is used, and digests must be valid before they
 * can ever become file names in the store. */
#include "oci.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "sha256.h"
#include "str.h"
#include "util.h"

#define OCI_MAX_TOKENS 200000

enum oci_kind oci_media_kind(const char *mt)
{
	if (!mt)
		return OCI_KIND_UNKNOWN;
	if (strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0)
		return OCI_KIND_MANIFEST;
	if (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0)
		return OCI_KIND_INDEX;
	return OCI_KIND_UNKNOWN;
}

enum oci_compression oci_layer_compression(const char *mt)
{
	if (!mt)
		return OCI_COMP_UNKNOWN;
	if (strcmp(mt, DOCKER_MT_LAYER_GZIP) == 0 || strcmp(mt, DOCKER_MT_LAYER_FOREIGN) == 0)
		return OCI_COMP_GZIP;
	/* OCI layer types, also the "nondistributable" variants. */
	const char *p = NULL;
	if (str_startswith(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar"))
		p = mt + strlen("application/vnd.oci.image.layer.nondistributable.v1.tar");
	else if (str_startswith(mt, OCI_MT_LAYER))
		p = mt + strlen(OCI_MT_LAYER);
	if (!p)
		return OCI_COMP_UNKNOWN;
	if (!*p)
		return OCI_COMP_NONE;
	if (strcmp(p, "+gzip") == 0)
		return OCI_COMP_GZIP;
	if (strcmp(p, "+zstd") == 0)
		return OCI_COMP_ZSTD;
	return OCI_COMP_UNKNOWN;
}

void oci_descriptor_free(struct oci_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->ref_name);
	oci_platform_free(&d->platform);
	memset(d, 0, sizeof(*d));
}

static int parse_doc(struct json_doc *d, const char *data, size_t len, const char *what, struct err *err)
{
	if (len > OCI_MAX_MANIFEST)
		return err_set(err, E2BIG, "%s is %zu bytes, more than the %u we accept", what, len, OCI_MAX_MANIFEST);
	int r = json_parse(d, data, len, OCI_MAX_TOKENS);
	if (r < 0)
		return err_set(err, r, "%s is not valid JSON", what);
	if (json_type(d, 0) != JSON_OBJECT) {
		json_free(d);
		return err_set(err, EINVAL, "%s is not a JSON object", what);
	}
	return 0;
}

/* The string value of key, or NULL (json_str checks the type). */
static char *opt_str(const struct json_doc *d, int obj, const char *key)
{
	return json_str(d, json_get(d, obj, key));
}

static int parse_platform(const struct json_doc *d, int tok, struct oci_platform *p)
{
	if (tok < 0)
		return 0;
	if (json_type(d, tok) != JSON_OBJECT)
		return -EINVAL;
	p->os = opt_str(d, tok, "os");
	p->arch = opt_str(d, tok, "architecture");
	p->variant = opt_str(d, tok, "variant");
	return 0;
}

static int parse_descriptor(const struct json_doc *d, int tok, struct oci_descriptor *out,
			    const char *what, struct err *err)
{
	memset(out, 0, sizeof(*out));
	if (json_type(d, tok) != JSON_OBJECT)
		return err_set(err, EINVAL, "%s is not an object", what);
	out->media_type = opt_str(d, tok, "mediaType");
	out->digest = opt_str(d, tok, "digest");
	if (!oci_digest_valid(out->digest)) {
		oci_descriptor_free(out);
		return err_set(err, EINVAL, "%s has no valid sha256 digest", what);
	}
	if (json_int(d, json_get(d, tok, "size"), &out->size) < 0 || out->size < 0) {
		/* Message first: the free clears out->digest. */
		err_set(err, EINVAL, "%s (%s) has no valid size", what, out->digest);
		oci_descriptor_free(out);
		return -EINVAL;
	}
	if (parse_platform(d, json_get(d, tok, "platform"), &out->platform) < 0) {
		oci_descriptor_free(out);
		return err_set(err, EINVAL, "%s has a malformed platform", what);
	}
	int ann = json_get(d, tok, "annotations");
	if (json_type(d, ann) == JSON_OBJECT)
		out->ref_name = opt_str(d, ann, "org.opencontainers.image.ref.name");
	return 0;
}

enum oci_kind oci_doc_kind(const char *data, size_t len, const char *content_type)
{
	struct json_doc d;
	if (len > OCI_MAX_MANIFEST || json_parse(&d, data, len, OCI_MAX_TOKENS) < 0)
		return OCI_KIND_UNKNOWN;
	enum oci_kind k = OCI_KIND_UNKNOWN;
	_cleanup_free_ char *mt = opt_str(&d, 0, "mediaType");
	if (mt)
		k = oci_media_kind(mt);
	if (k == OCI_KIND_UNKNOWN && content_type)
		k = oci_media_kind(content_type);
	if (k == OCI_KIND_UNKNOWN) {
		if (json_type(&d, json_get(&d, 0, "manifests")) == JSON_ARRAY)
			k = OCI_KIND_INDEX;
		else if (json_type(&d, json_get(&d, 0, "layers")) == JSON_ARRAY)
			k = OCI_KIND_MANIFEST;
	}
	json_free(&d);
	return k;
}

static int check_schema(const struct json_doc *d, const char *what, struct err *err)
{
	int64_t v;
	if (json_int(d, json_get(d, 0, "schemaVersion"), &v) < 0 || v != 2)
		return err_set(err, EINVAL, "%s: unsupported schemaVersion (want 2)", what);
	return 0;
}

void oci_manifest_free(struct oci_manifest *m)
{
	free(m->media_type);
	oci_descriptor_free(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		oci_descriptor_free(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

static int manifest_fill(const struct json_doc *d, const char *content_type, struct oci_manifest *m,
			 struct err *err)
{
	int r = check_schema(d, "manifest", err);
	if (r < 0)
		return r;
	m->media_type = opt_str(d, 0, "mediaType");
	if (!m->media_type && content_type)
		m->media_type = xstrdup(content_type);
	if (m->media_type && oci_media_kind(m->media_type) != OCI_KIND_MANIFEST)
		return err_set(err, EINVAL, "manifest has media type %s, not an image manifest", m->media_type);
	r = parse_descriptor(d, json_get(d, 0, "config"), &m->config, "manifest config", err);
	if (r < 0)
		return r;
	int layers = json_get(d, 0, "layers");
	int n = json_array_len(d, layers);
	if (n < 0)
		return err_set(err, EINVAL, "manifest has no layers array");
	if (n > OCI_MAX_LAYERS)
		return err_set(err, E2BIG, "manifest has %d layers, more than %d", n, OCI_MAX_LAYERS);
	m->layers = xcalloc((size_t)n + 1, sizeof(*m->layers));
	for (int i = 0; i < n; i++) {
		char what[32];
		snprintf(what, sizeof(what), "layer %d", i);
		r = parse_descriptor(d, json_array_at(d, layers, i), &m->layers[i], what, err);
		if (r < 0)
			return r;
		m->nlayers++;
		if (oci_layer_compression(m->layers[i].media_type) == OCI_COMP_UNKNOWN)
			return err_set(err, ENOTSUP, "layer %s has unsupported media type %s", m->layers[i].digest,
				       m->layers[i].media_type ? m->layers[i].media_type : "(none)");
	}
	return 0;
}

int oci_manifest_parse(const char *data, size_t len, const char *content_type, struct oci_manifest *out,
		       struct err *err)
{
	struct json_doc d;
	memset(out, 0, sizeof(*out));
	int r = parse_doc(&d, data, len, "manifest", err);
	if (r < 0)
		return r;
	r = manifest_fill(&d, content_type, out, err);
	json_free(&d);
	if (r < 0)
		oci_manifest_free(out);
	return r;
}

void oci_index_free(struct oci_index *ix)
{
	free(ix->media_type);
	for (size_t i = 0; i < ix->n; i++)
		oci_descriptor_free(&ix->manifests[i]);
	free(ix->manifests);
	memset(ix, 0, sizeof(*ix));
}

static int index_fill(const struct json_doc *d, const char *content_type, struct oci_index *ix, struct err *err)
{
	int r = check_schema(d, "index", err);
	if (r < 0)
		return r;
	ix->media_type = opt_str(d, 0, "mediaType");
	if (!ix->media_type && content_type)
		ix->media_type = xstrdup(content_type);
	if (ix->media_type && oci_media_kind(ix->media_type) != OCI_KIND_INDEX)
		return err_set(err, EINVAL, "index has media type %s, not an index", ix->media_type);
	int arr = json_get(d, 0, "manifests");
	int n = json_array_len(d, arr);
	if (n < 0)
		return err_set(err, EINVAL, "index has no manifests array");
	if (n > OCI_MAX_LAYERS)
		return err_set(err, E2BIG, "index has %d entries, more than %d", n, OCI_MAX_LAYERS);
	ix->manifests = xcalloc((size_t)n + 1, sizeof(*ix->manifests));
	for (int i = 0; i < n; i++) {
		char what[32];
		snprintf(what, sizeof(what), "index entry %d", i);
		r = parse_descriptor(d, json_array_at(d, arr, i), &ix->manifests[i], what, err);
		if (r < 0)
			return r;
		ix->n++;
	}
	return 0;
}

int oci_index_parse(const char *data, size_t len, const char *content_type, struct oci_index *out,
		    struct err *err)
{
	struct json_doc d;
	memset(out, 0, sizeof(*out));
	int r = parse_doc(&d, data, len, "index", err);
	if (r < 0)
		return r;
	r = index_fill(&d, content_type, out, err);
	json_free(&d);
	if (r < 0)
		oci_index_free(out);
	return r;
}

static bool variant_matches(const struct oci_platform *want, const struct oci_platform *have)
{
	const char *w = want->variant, *h = have->variant;
	/* arm64 images rarely say "v8": an absent variant means v8 there. */
	if (want->arch && strcmp(want->arch, "arm64") == 0) {
		if (w && strcmp(w, "v8") == 0)
			w = NULL;
		if (h && strcmp(h, "v8") == 0)
			h = NULL;
	}
	if (!w)
		return true;
	return h && strcmp(w, h) == 0;
}

bool oci_platform_match(const struct oci_platform *want, const struct oci_platform *have)
{
	return want->os && want->arch && have->os && have->arch && strcmp(want->os, have->os) == 0 &&
	       strcmp(want->arch, have->arch) == 0 && variant_matches(want, have);
}

int oci_index_select(const struct oci_index *ix, const struct oci_platform *want, struct err *err)
{
	int fallback = -1;
	for (size_t i = 0; i < ix->n; i++) {
		const struct oci_descriptor *m = &ix->manifests[i];
		if (!m->platform.os || !m->platform.arch || oci_media_kind(m->media_type) == OCI_KIND_INDEX)
			continue;
		if (strcmp(m->platform.os, want->os) != 0 || strcmp(m->platform.arch, want->arch) != 0)
			continue;
		if (variant_matches(want, &m->platform)) {
			/* Exact variant beats "no variant requested, any will do". */
			if (!want->variant || (m->platform.variant && strcmp(m->platform.variant, want->variant) == 0))
				return (int)i;
			if (fallback < 0)
				fallback = (int)i;
		}
	}
	if (fallback >= 0)
		return fallback;
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < ix->n; i++) {
		_cleanup_free_ char *p = oci_platform_string(&ix->manifests[i].platform);
		buf_printf(&b, "%s%s", i ? ", " : "", p);
	}
	_cleanup_free_ char *want_s = oci_platform_string(want);
	err_set(err, ENOENT, "no image for platform %s in the index (it has: %s)", want_s, b.len ? b.data : "none");
	buf_free(&b);
	return -ENOENT;
}

int oci_chain_id(char *const *diff_ids, size_t n, char out[OCI_DIGEST_LEN + 1])
{
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!oci_digest_valid(diff_ids[i]))
			return -EINVAL;
	memcpy(out, diff_ids[0], OCI_DIGEST_LEN + 1);
	for (size_t i = 1; i < n; i++) {
		char line[2 * OCI_DIGEST_LEN + 2];
		snprintf(line, sizeof(line), "%s %s", out, diff_ids[i]);
		memcpy(out, "sha256:", 7);
		sha256_hex(line, strlen(line), out + 7);
	}
	return 0;
}
