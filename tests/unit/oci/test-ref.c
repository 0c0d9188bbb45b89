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
	t_ok(oci_domain_is_loopback("localhost:5000") && oci_domain_is_loopback("[::1]:5000"),
	     "localhost and [::1] are loopback");
	t_ok(!oci_domain_is_loopback("127.0.0.1.example.com") && !oci_domain_is_loopback("localhost.example"),
	     "names that only start like loopback are not");
	t_streq(oci_domain_endpoint("docker.io"), "registry-1.docker.io", "docker.io endpoint");
	t_streq(oci_domain_endpoint("quay.io"), "quay.io", "other registries are their own endpoint");
	{
		struct oci_ref r;
		struct err e = { 0 };
		if (oci_ref_parse("busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &r,
				  &e) == 0) {
			char *n = oci_ref_name(&r);
			t_streq(n, "docker.io/library/busybox", "ref name is domain/path without tag or digest");
			t_ok(r.tag == NULL, "digest-only reference has no tag");
			free(n);
			oci_ref_free(&r);
		} else {
			t_ok(0, "parse digest reference: %s", e.msg);
		}
	}
	t_ok(oci_tag_valid("v1.2_rc-3") && oci_tag_valid("_x"), "valid tags");
	t_ok(!oci_tag_valid("") && !oci_tag_valid(".x") && !oci_tag_valid("a/b") && !oci_tag_valid("a:b"),
	     "invalid tags");
	{
		char t[130];
		memset(t, 'a', 129);
		t[129] = 0;
		t_ok(!oci_tag_valid(t), "tag over 128 characters is invalid");
		t[128] = 0;
		t_ok(oci_tag_valid(t), "tag of 128 characters is valid");
	}
	t_ok(oci_digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	     "valid digest");
	t_ok(!oci_digest_valid("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
	     "upper-case hex is not a digest (it would be a second file name)");
	t_ok(!oci_digest_valid("sha512:0123") && !oci_digest_valid(NULL) &&
	     !oci_digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde/"),
	     "other algorithms, NULL, and slashes are not digests");
	t_ok(!oci_digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde") &&
	     !oci_digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0") &&
	     !oci_digest_valid("sha256:"),
	     "63 or 65 hex digits, or none, are not digests");
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
	{
		struct oci_platform h;
		oci_platform_host(&h);
		char *hs = oci_platform_string(&h);
		t_ok(strcmp(h.os, "linux") == 0 && h.arch && strcmp(h.arch, "x86_64") != 0 && strcmp(h.arch, "aarch64") != 0,
		     "host platform uses image arch names: %s", hs);
		free(hs);
		oci_platform_free(&h);
		t_is(oci_platform_parse("linux/armhf", &h, &e), 0, "armhf parses");
		hs = oci_platform_string(&h);
		t_streq(hs, "linux/arm/v7", "armhf is linux/arm/v7");
		free(hs);
		oci_platform_free(&h);
		t_ok(oci_platform_parse("linux", &h, &e) < 0 && strstr(e.msg, "os/arch"), "os alone is refused");
		t_ok(oci_platform_parse("Linux/AMD64", &h, &e) < 0 && strstr(e.msg, "lower-case"), "upper case is refused");
		t_ok(oci_platform_parse("linux//v7", &h, &e) < 0, "empty arch is refused");
	}
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
