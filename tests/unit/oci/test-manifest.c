/* Manifests, indexes and image configs: both media type families, the
 * Content-Type hint, document kind detection, layer compressions, and the
 * rejections (with what they say) of malformed documents. */
#include "tests/lib/tap.h"

#include <errno.h>

#include "err.h"
#include "oci/oci.h"
#include "str.h"
#include "util.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char oci_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
	"\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
	"\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_ZSTD "\",\"digest\":\"" D2 "\",\"size\":32},"
	"{\"mediaType\":\"" OCI_MT_LAYER "\",\"digest\":\"" D3 "\",\"size\":0}]}";

/* Docker schema 2 without a mediaType field: only the hint says what it is. */
static const char docker_manifest_bare[] =
	"{\"schemaVersion\":2,"
	"\"config\":{\"mediaType\":\"" DOCKER_MT_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
	"\"layers\":[{\"mediaType\":\"" DOCKER_MT_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":32}]}";

static const char docker_list[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MT_LIST "\",\"manifests\":["
	"{\"mediaType\":\"" DOCKER_MT_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":10,"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
	"{\"mediaType\":\"" DOCKER_MT_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":11,"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"},"
	"\"annotations\":{\"org.opencontainers.image.ref.name\":\"v7\"}}]}";

static const char config[] =
	"{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\",\"created\":\"2024-01-01T00:00:00Z\","
	"\"config\":{\"User\":\"1000:100\",\"WorkingDir\":\"/srv\",\"StopSignal\":\"SIGINT\","
	"\"Entrypoint\":[\"/bin/busybox\"],\"Cmd\":[\"httpd\",\"-f\"],\"Env\":[\"PATH=/bin\",\"A=b=c\"],"
	"\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},\"Volumes\":{\"/data\":{}},\"Labels\":{\"k\":\"v\"}},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";

static void media_types(void)
{
	t_is(oci_media_kind(OCI_MT_MANIFEST), OCI_KIND_MANIFEST, "OCI manifest media type");
	t_is(oci_media_kind(DOCKER_MT_MANIFEST), OCI_KIND_MANIFEST, "Docker manifest media type");
	t_is(oci_media_kind(OCI_MT_INDEX), OCI_KIND_INDEX, "OCI index media type");
	t_is(oci_media_kind(DOCKER_MT_LIST), OCI_KIND_INDEX, "Docker list media type");
	t_is(oci_media_kind(OCI_MT_CONFIG), OCI_KIND_UNKNOWN, "a config is neither");
	t_is(oci_media_kind(NULL), OCI_KIND_UNKNOWN, "NULL media type");
	t_is(oci_layer_compression(OCI_MT_LAYER), OCI_COMP_NONE, "OCI tar layer: uncompressed");
	t_is(oci_layer_compression(OCI_MT_LAYER_GZIP), OCI_COMP_GZIP, "OCI tar+gzip");
	t_is(oci_layer_compression(OCI_MT_LAYER_ZSTD), OCI_COMP_ZSTD, "OCI tar+zstd");
	t_is(oci_layer_compression(DOCKER_MT_LAYER_GZIP), OCI_COMP_GZIP, "Docker layer: gzip");
	t_is(oci_layer_compression(DOCKER_MT_LAYER_FOREIGN), OCI_COMP_GZIP, "Docker foreign layer: gzip");
	t_is(oci_layer_compression("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"), OCI_COMP_ZSTD,
	     "OCI nondistributable tar+zstd");
	t_is(oci_layer_compression(OCI_MT_LAYER "+bzip2"), OCI_COMP_UNKNOWN, "tar+bzip2 is not supported");
	t_is(oci_layer_compression(OCI_MT_CONFIG), OCI_COMP_UNKNOWN, "a config is no layer");
}

static void doc_kinds(void)
{
	const char bare_ix[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	t_is(oci_doc_kind(oci_manifest, strlen(oci_manifest), NULL), OCI_KIND_MANIFEST, "kind from mediaType");
	t_is(oci_doc_kind(docker_list, strlen(docker_list), OCI_MT_MANIFEST), OCI_KIND_INDEX,
	     "the document's mediaType beats the hint");
	t_is(oci_doc_kind(docker_manifest_bare, strlen(docker_manifest_bare), DOCKER_MT_MANIFEST), OCI_KIND_MANIFEST,
	     "kind from the Content-Type hint");
	t_is(oci_doc_kind(bare_ix, strlen(bare_ix), "text/plain"), OCI_KIND_INDEX, "kind by shape: manifests array");
	t_is(oci_doc_kind(docker_manifest_bare, strlen(docker_manifest_bare), NULL), OCI_KIND_MANIFEST,
	     "kind by shape: layers array");
	t_is(oci_doc_kind("[1,2]", 5, NULL), OCI_KIND_UNKNOWN, "a JSON array is nothing");
	t_is(oci_doc_kind("{", 1, OCI_MT_INDEX), OCI_KIND_UNKNOWN, "broken JSON is nothing, whatever the hint");
}

static void manifests(void)
{
	struct oci_manifest m;
	struct err e = { 0 };

	t_is(oci_manifest_parse(oci_manifest, strlen(oci_manifest), NULL, &m, &e), 0, "OCI manifest parses");
	t_streq(m.media_type, OCI_MT_MANIFEST, "media type");
	t_streq(m.config.digest, D1, "config digest");
	t_is(m.config.size, 7, "config size");
	t_is(m.nlayers, 2, "two layers");
	t_streq(m.layers[0].digest, D2, "layer 0 digest");
	t_is(m.layers[1].size, 0, "an empty layer has size 0");
	oci_manifest_free(&m);
	t_ok(m.layers == NULL && m.nlayers == 0, "free clears the structure");

	t_is(oci_manifest_parse(docker_manifest_bare, strlen(docker_manifest_bare), DOCKER_MT_MANIFEST, &m, &e), 0,
	     "Docker manifest without mediaType parses");
	t_streq(m.media_type, DOCKER_MT_MANIFEST, "media type taken from the hint");
	t_is(oci_layer_compression(m.layers[0].media_type), OCI_COMP_GZIP, "its layer is gzip");
	oci_manifest_free(&m);

	t_ok(oci_manifest_parse(docker_list, strlen(docker_list), NULL, &m, &e) < 0 && strstr(e.msg, "not an image manifest"),
	     "an index is no manifest: %s", e.msg);
	t_ok(oci_manifest_parse(docker_manifest_bare, strlen(docker_manifest_bare), OCI_MT_INDEX, &m, &e) < 0,
	     "a hint saying index is refused for a manifest");

	static const struct { const char *doc, *why; } bad[] = {
		{ "{\"schemaVersion\":1,\"layers\":[]}", "schemaVersion" },
		{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}", "valid sha256 digest" },
		{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}", D1 },
		{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1}}", "no layers array" },
		{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":\"x/y\","
		  "\"digest\":\"" D2 "\",\"size\":1}]}", "unsupported media type x/y" },
		{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1,\"platform\":3},\"layers\":[]}", "platform" },
		{ "[]", "not a JSON object" },
		{ "{\"schemaVersion\":2,", "not valid JSON" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = oci_manifest_parse(bad[i].doc, strlen(bad[i].doc), NULL, &m, &e);
		t_ok(r < 0 && strstr(e.msg, bad[i].why), "reject manifest %zu (%s): %s", i, bad[i].why, e.msg);
		t_ok(m.layers == NULL && m.media_type == NULL, "nothing left allocated after rejection %zu", i);
	}
	char *huge = xmalloc(OCI_MAX_MANIFEST + 2);
	memset(huge, ' ', OCI_MAX_MANIFEST + 1);
	t_is(oci_manifest_parse(huge, OCI_MAX_MANIFEST + 1, NULL, &m, &e), -E2BIG, "oversized manifest: E2BIG");
	free(huge);
}

static void indexes(void)
{
	struct oci_index ix;
	struct oci_platform p;
	struct err e = { 0 };

	t_is(oci_index_parse(docker_list, strlen(docker_list), NULL, &ix, &e), 0, "Docker list parses");
	t_is(ix.n, 2, "two entries");
	t_streq(ix.manifests[1].ref_name, "v7", "ref.name annotation kept");
	t_ok(ix.manifests[0].ref_name == NULL, "absent annotation is NULL");
	oci_platform_parse("linux/armv7l", &p, &e);
	t_is(oci_index_select(&ix, &p, &e), 1, "armv7l selects arm/v7");
	oci_platform_free(&p);
	oci_platform_parse("linux/arm", &p, &e);
	t_is(oci_index_select(&ix, &p, &e), 0, "arm without variant takes the first arm entry");
	oci_platform_free(&p);
	oci_platform_parse("linux/arm/v5", &p, &e);
	t_ok(oci_index_select(&ix, &p, &e) == -ENOENT && strstr(e.msg, "linux/arm/v6, linux/arm/v7"),
	     "missing variant lists what there is: %s", e.msg);
	oci_platform_free(&p);
	struct oci_descriptor d = ix.manifests[0];
	ix.manifests[0] = (struct oci_descriptor){ 0 };
	oci_descriptor_free(&d);
	t_ok(d.digest == NULL && d.platform.os == NULL, "descriptor free clears it");
	oci_index_free(&ix);
	t_ok(ix.manifests == NULL && ix.n == 0, "index free clears it");
	t_ok(oci_index_parse(oci_manifest, strlen(oci_manifest), NULL, &ix, &e) < 0 && strstr(e.msg, "not an index"),
	     "a manifest is no index: %s", e.msg);
}

/* What the store uses to tell one name's platforms apart. */
static void platform_match(void)
{
	static const struct { const char *want, *have; bool match; } cases[] = {
		{ "linux/arm64", "linux/arm64/v8", true },
		{ "linux/arm64/v8", "linux/arm64", true },
		{ "linux/aarch64", "linux/arm64", true },
		{ "linux/amd64", "linux/arm64", false },
		{ "linux/arm", "linux/arm/v6", true },
		{ "linux/arm/v7", "linux/arm/v6", false },
		{ "linux/arm/v7", "linux/arm", false },
		{ "windows/amd64", "linux/amd64", false },
	};
	struct err e = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_platform w, h;
		oci_platform_parse(cases[i].want, &w, &e);
		oci_platform_parse(cases[i].have, &h, &e);
		t_ok(oci_platform_match(&w, &h) == cases[i].match, "%s %s %s", cases[i].want,
		     cases[i].match ? "matches" : "does not match", cases[i].have);
		oci_platform_free(&w);
		oci_platform_free(&h);
	}
	struct oci_platform empty = { 0 }, amd = { "linux", "amd64", NULL };
	t_is(oci_platform_match(&empty, &amd), false, "an empty platform matches nothing");
}

static void configs(void)
{
	struct oci_image_config c;
	struct err e = { 0 };

	t_is(oci_config_parse(config, strlen(config), &c, &e), 0, "image config parses");
	t_streq(c.arch, "arm64", "architecture");
	t_streq(c.variant, "v8", "variant");
	t_streq(c.user, "1000:100", "user");
	t_streq(c.working_dir, "/srv", "working dir");
	t_streq(c.stop_signal, "SIGINT", "stop signal");
	t_streq(c.entrypoint[0], "/bin/busybox", "entrypoint");
	t_ok(c.cmd && c.cmd[1] && strcmp(c.cmd[1], "-f") == 0 && !c.cmd[2], "cmd vector");
	t_streq(c.env[1], "A=b=c", "env keeps '=' in values");
	t_ok(c.exposed_ports && strv_len(c.exposed_ports) == 2, "two exposed ports");
	t_ok(c.volumes && strv_len(c.volumes) == 1 && strcmp(c.volumes[0], "/data") == 0, "volumes");
	t_streq(c.labels[0], "k=v", "labels as k=v");
	t_is(c.ndiff_ids, 2, "two diff ids");
	oci_config_free(&c);
	t_ok(c.env == NULL && c.ndiff_ids == 0, "config free clears it");

	const char minimal[] = "{\"rootfs\":{\"diff_ids\":[]}}";
	t_is(oci_config_parse(minimal, strlen(minimal), &c, &e), 0, "minimal config parses");
	t_ok(!c.entrypoint && !c.cmd && !c.user && c.ndiff_ids == 0, "absent fields are NULL");
	oci_config_free(&c);

	static const struct { const char *doc, *why; } bad[] = {
		{ "{\"config\":{\"Cmd\":\"sh\"}}", "string arrays" },
		{ "{\"config\":{\"Labels\":{\"a\":1}}}", "Labels" },
		{ "{\"config\":{\"ExposedPorts\":[\"80/tcp\"]}}", "ExposedPorts" },
		{ "{\"config\":{\"Volumes\":[\"/data\"]}}", "Volumes" },
		{ "{\"rootfs\":{\"diff_ids\":[\"md5:00\"]}}", "diff_id 0" },
		{ "\"str\"", "not a JSON object" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		t_ok(oci_config_parse(bad[i].doc, strlen(bad[i].doc), &c, &e) < 0 && strstr(e.msg, bad[i].why),
		     "reject config %zu (%s): %s", i, bad[i].why, e.msg);
}

int main(void)
{
	media_types();
	doc_kinds();
	manifests();
	indexes();
	platform_match();
	configs();
	return t_done();
}
