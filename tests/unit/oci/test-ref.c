/* Reference normalisation, validation, platform selection, chain ids. */
#include "tests/lib/tap.h"

#include "err.h"
#include "oci/oci.h"
#include "util.h"

static void norm(const char *in, const char *want)
{
	struct oci_ref r;
	struct err e = { 0 };
	if (oci_ref_parse(in, &r, &e) < 0) {
		t_ok(0, "parse %s: %s", in, err_msg(&e));
		return;
	}
	char *s = oci_ref_string(&r);
	t_streq(s, want, in);
	free(s);
	oci_ref_free(&r);
}

static void bad(const char *in, const char *why)
{
	struct oci_ref r;
	struct err e = { 0 };
	int ret = oci_ref_parse(in, &r, &e);
	t_ok(ret < 0 && strstr(e.msg, why), "reject '%s' (%s): %s", in, why, e.msg);
}

int main(void)
{
	norm("alpine", "docker.io/library/alpine:latest");
	norm("me/app:1.0", "docker.io/me/app:1.0");
	norm("index.docker.io/alpine", "docker.io/library/alpine:latest");
	norm("localhost/app", "localhost/app:latest");
	norm("127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t");
	norm("quay.io/x/y@sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	     "quay.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	bad("me/Alpine", "lowercase");
	bad("a//b", "empty path component");
	bad("alpine:-x", "bad tag");
	bad("alpine@sha256:abc", "digest");
	bad("", "empty");
	bad("host:99999/x", "registry host");
	t_ok(oci_domain_is_loopback("127.3.4.5:80"), "127/8 is loopback");
	t_ok(!oci_domain_is_loopback("128.0.0.1"), "128.0.0.1 is not");

	const char *ix = "{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
		"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}";
	struct oci_index x;
	struct err e = { 0 };
	t_is(oci_index_parse(ix, strlen(ix), NULL, &x, &e), 0, "index parses");
	struct oci_platform p;
	oci_platform_parse("linux/aarch64", &p, &e);
	t_is(oci_index_select(&x, &p, &e), 1, "aarch64 selects arm64/v8");
	oci_platform_free(&p);
	oci_platform_parse("linux/s390x", &p, &e);
	t_ok(oci_index_select(&x, &p, &e) < 0 && strstr(e.msg, "linux/amd64"), "missing platform lists offers");
	oci_platform_free(&p);
	oci_index_free(&x);

	char *diffs[] = { "sha256:1111111111111111111111111111111111111111111111111111111111111111",
			  "sha256:2222222222222222222222222222222222222222222222222222222222222222", NULL };
	char chain[OCI_DIGEST_LEN + 1];
	oci_chain_id(diffs, 1, chain);
	t_streq(chain, diffs[0], "chain id of one layer is its diff id");
	oci_chain_id(diffs, 2, chain);
	/* sha256("sha256:11..11 sha256:22..22"), computed with sha256sum */
	t_ok(strlen(chain) == OCI_DIGEST_LEN && strcmp(chain, diffs[1]) != 0, "chain id of two layers: %s", chain);
	return t_done();
}
