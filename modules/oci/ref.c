/* Image references with docker's normalisation rules (the grammar of
 * distribution/reference, written out by hand so every rejection can say
 * which part was wrong). */
#include "oci.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "err.h"
#include "str.h"
#include "util.h"

#define OCI_NAME_MAX 255
#define OCI_TAG_MAX 128

bool oci_digest_valid(const char *d)
{
	/* str_is_hex: lower-case only, and the string must end there. */
	return d && strncmp(d, "sha256:", 7) == 0 && str_is_hex(d + 7, OCI_DIGEST_LEN - 7);
}

bool oci_tag_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > OCI_TAG_MAX)
		return false;
	if (!(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ joined by ".", "_", "__" or "-"+. */
static bool component_valid(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (is_lower_alnum(s[i]))
			continue;
		size_t j = i;
		while (j < n && !is_lower_alnum(s[j]))
			j++;
		size_t run = j - i;
		bool ok = (run == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) ||
			  (run == 2 && s[i] == '_' && s[i + 1] == '_');
		if (!ok) {
			ok = true;
			for (size_t k = i; k < j; k++)
				ok = ok && s[k] == '-';
		}
		if (!ok)
			return false;
		i = j - 1;
	}
	return true;
}

/* host[:port] where host is a DNS name or an [IPv6] literal. */
static bool domain_valid(const char *d)
{
	const char *p = d, *port = NULL;
	if (*p == '[') {
		const char *e = strchr(p, ']');
		if (!e || e == p + 1)
			return false;
		for (const char *q = p + 1; q < e; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return false;
		p = e + 1;
		if (*p == ':')
			port = p + 1;
		else if (*p)
			return false;
	} else {
		const char *c = strchr(p, ':');
		size_t hn = c ? (size_t)(c - p) : strlen(p);
		if (hn == 0 || p[0] == '-' || p[0] == '.' || p[hn - 1] == '-' || p[hn - 1] == '.')
			return false;
		for (size_t i = 0; i < hn; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '.')
				return false;
		if (c)
			port = c + 1;
	}
	if (port) {
		uint64_t v;
		if (str_to_u64(port, &v) < 0 || v == 0 || v > 65535)
			return false;
	}
	return true;
}

void oci_ref_free(struct oci_ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

static int ref_fail(struct oci_ref *r, struct err *err, const char *s, const char *why)
{
	oci_ref_free(r);
	return err_set(err, EINVAL, "invalid image reference '%s': %s", s, why);
}

/* Does the first path component name a registry host? */
static bool looks_like_domain(const char *c, size_t n)
{
	if (n == 9 && memcmp(c, "localhost", 9) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (c[i] == '.' || c[i] == ':' || (c[i] >= 'A' && c[i] <= 'Z'))
			return true;
	return false;
}

static int ref_split_name(struct oci_ref *r, const char *s, char *name, struct err *err)
{
	char *slash = strchr(name, '/');
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		r->domain = xstrndup(name, (size_t)(slash - name));
		r->path = xstrdup(slash + 1);
	} else {
		r->domain = xstrdup("docker.io");
		r->path = slash ? xstrdup(name) : xasprintf("library/%s", name);
	}
	if (strcmp(r->domain, "index.docker.io") == 0) {
		free(r->domain);
		r->domain = xstrdup("docker.io");
	}
	if (strcmp(r->domain, "docker.io") == 0 && !strchr(r->path, '/')) {
		char *p = xasprintf("library/%s", r->path);
		free(r->path);
		r->path = p;
	}
	if (!domain_valid(r->domain))
		return ref_fail(r, err, s, "bad registry host");
	_cleanup_strv_ char **comps = str_split(r->path, '/');
	for (char **c = comps; *c; c++) {
		for (char *q = *c; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				return ref_fail(r, err, s, "repository name must be lowercase");
		if (!component_valid(*c, strlen(*c)))
			return ref_fail(r, err, s, "bad repository name component");
	}
	if (strlen(r->domain) + 1 + strlen(r->path) > OCI_NAME_MAX)
		return ref_fail(r, err, s, "name longer than 255 characters");
	return 0;
}

int oci_ref_parse(const char *s, struct oci_ref *out, struct err *err)
{
	struct oci_ref r = { 0 };
	if (!s || !*s)
		return err_set(err, EINVAL, "invalid image reference '': empty");
	if (strlen(s) > 1024)
		return err_set(err, EINVAL, "invalid image reference: longer than 1024 characters");
	_cleanup_free_ char *name = xstrdup(s);
	char *at = strchr(name, '@');
	if (at) {
		*at = 0;
		if (!oci_digest_valid(at + 1))
			return ref_fail(&r, err, s, "digest must be sha256: followed by 64 lower-case hex digits");
		r.digest = xstrdup(at + 1);
	}
	char *slash = strrchr(name, '/');
	char *colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = 0;
		if (!oci_tag_valid(colon + 1))
			return ref_fail(&r, err, s, "bad tag (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
		r.tag = xstrdup(colon + 1);
	}
	if (!*name)
		return ref_fail(&r, err, s, "missing repository name");
	if (name[strlen(name) - 1] == '/' || strstr(name, "//"))
		return ref_fail(&r, err, s, "empty path component");
	int ret = ref_split_name(&r, s, name, err);
	if (ret < 0)
		return ret;
	if (!r.tag && !r.digest)
		r.tag = xstrdup("latest");
	*out = r;
	return 0;
}

char *oci_ref_name(const struct oci_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *oci_ref_string(const struct oci_ref *r)
{
	return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
			 r->digest ? "@" : "", r->digest ? r->digest : "");
}

bool oci_domain_is_loopback(const char *domain)
{
	char host[256];
	const char *h = domain;
	size_t n;
	if (*h == '[') {
		const char *e = strchr(h, ']');
		if (!e)
			return false;
		h++;
		n = (size_t)(e - h);
	} else {
		const char *c = strchr(h, ':');
		n = c ? (size_t)(c - h) : strlen(h);
	}
	if (n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = 0;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return true;
	/* 127.0.0.0/8: four dotted decimals, the first 127. */
	unsigned a, b, c, d;
	char tail;
	return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
	       c < 256 && d < 256;
}

const char *oci_domain_endpoint(const char *domain)
{
	if (strcmp(domain, "docker.io") == 0)
		return "registry-1.docker.io";
	return domain;
}
