/* Platforms and the image config (the JSON the manifest's config
 * descriptor points to): what the VM's init needs to start the process. */
#include "oci.h"

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"

#define OCI_CONFIG_TOKENS 400000

void oci_platform_free(struct oci_platform *p)
{
	free(p->os);
	free(p->arch);
	free(p->variant);
	memset(p, 0, sizeof(*p));
}

char *oci_platform_string(const struct oci_platform *p)
{
	return xasprintf("%s/%s%s%s", p->os ? p->os : "?", p->arch ? p->arch : "?", p->variant ? "/" : "",
			 p->variant ? p->variant : "");
}

/* Kernel/GNU machine names to GOARCH names used by images. */
static void arch_normalise(const char *in, char **arch, char **variant)
{
	static const struct { const char *from, *arch, *variant; } map[] = {
		{ "x86_64", "amd64", NULL }, { "x86-64", "amd64", NULL }, { "aarch64", "arm64", NULL },
		{ "armv7l", "arm", "v7" }, { "armhf", "arm", "v7" }, { "armv6l", "arm", "v6" },
		{ "armel", "arm", "v6" }, { "i386", "386", NULL }, { "i686", "386", NULL },
		{ "ppc64el", "ppc64le", NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(in, map[i].from) == 0) {
			*arch = xstrdup(map[i].arch);
			if (map[i].variant && !*variant)
				*variant = xstrdup(map[i].variant);
			return;
		}
	*arch = xstrdup(in);
}

int oci_platform_parse(const char *s, struct oci_platform *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_strv_ char **parts = str_split(s, '/');
	size_t n = strv_len(parts);
	if (n < 2 || n > 3)
		return err_set(err, EINVAL, "invalid platform '%s' (want os/arch[/variant], e.g. linux/arm64)", s);
	for (size_t i = 0; i < n; i++) {
		if (!*parts[i] || strlen(parts[i]) > 32)
			return err_set(err, EINVAL, "invalid platform '%s': empty or overlong field", s);
		for (char *c = parts[i]; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
				return err_set(err, EINVAL, "invalid platform '%s': use lower-case os/arch names", s);
	}
	out->os = xstrdup(parts[0]);
	if (n == 3)
		out->variant = xstrdup(parts[2]);
	arch_normalise(parts[1], &out->arch, &out->variant);
	return 0;
}

void oci_platform_host(struct oci_platform *out)
{
	struct utsname u;
	memset(out, 0, sizeof(*out));
	out->os = xstrdup("linux");
	if (uname(&u) < 0)
		strcpy(u.machine, "x86_64");
	arch_normalise(u.machine, &out->arch, &out->variant);
}

void oci_config_free(struct oci_image_config *c)
{
	free(c->os);
	free(c->arch);
	free(c->variant);
	free(c->created);
	free(c->user);
	free(c->working_dir);
	free(c->stop_signal);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->env);
	strv_free(c->exposed_ports);
	strv_free(c->volumes);
	strv_free(c->labels);
	strv_free(c->diff_ids);
	strv_free(c->healthcheck.test);
	memset(c, 0, sizeof(*c));
}

/* The string value of key, or NULL (json_str checks the type). */
static char *opt_str(const struct json_doc *d, int obj, const char *key)
{
	return json_str(d, json_get(d, obj, key));
}

/* Keys of an object ({"80/tcp": {}}), or "k=v" pairs of a string map. */
static int obj_to_strv(const struct json_doc *d, int tok, bool with_values, char ***out)
{
	*out = NULL;
	if (tok < 0 || json_type(d, tok) == JSON_PRIMITIVE)
		return 0;	/* absent or null */
	if (json_type(d, tok) != JSON_OBJECT)
		return -EINVAL;
	for (int k = json_obj_first(d, tok); k >= 0; k = json_obj_next(d, k)) {
		_cleanup_free_ char *key = json_str(d, k);
		if (!key)
			return -EINVAL;
		if (!with_values) {
			strv_push(out, key);
			continue;
		}
		_cleanup_free_ char *val = json_str(d, k + 1);
		if (!val)
			return -EINVAL;
		_cleanup_free_ char *kv = xasprintf("%s=%s", key, val);
		strv_push(out, kv);
	}
	return 0;
}

/* Healthcheck: {"Test": [...], "Interval": ns, "Timeout": ns,
 * "StartPeriod": ns, "Retries": n}; absent or null leaves it unset. */
static int config_health(const struct json_doc *d, int tok, struct oci_healthcheck *h)
{
	const char *keys[] = { "Interval", "Timeout", "StartPeriod", "Retries" };
	int64_t *vals[] = { &h->interval_ns, &h->timeout_ns, &h->start_period_ns, &h->retries };

	if (tok < 0 || json_type(d, tok) == JSON_PRIMITIVE)
		return 0;
	if (json_type(d, tok) != JSON_OBJECT || json_strv(d, json_get(d, tok, "Test"), &h->test) < 0)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		int t = json_get(d, tok, keys[i]);
		if (t < 0 || (json_type(d, t) == JSON_PRIMITIVE && d->src[d->toks[t].start] == 'n'))
			continue;	/* absent or null */
		if (json_int(d, t, vals[i]) < 0 || *vals[i] < 0)
			return -EINVAL;
	}
	return 0;
}

static int config_fill(const struct json_doc *d, struct oci_image_config *c, struct err *err)
{
	c->os = opt_str(d, 0, "os");
	c->arch = opt_str(d, 0, "architecture");
	c->variant = opt_str(d, 0, "variant");
	c->created = opt_str(d, 0, "created");
	int cfg = json_get(d, 0, "config");
	if (cfg >= 0 && json_type(d, cfg) == JSON_OBJECT) {
		c->user = opt_str(d, cfg, "User");
		c->working_dir = opt_str(d, cfg, "WorkingDir");
		c->stop_signal = opt_str(d, cfg, "StopSignal");
		if (json_strv(d, json_get(d, cfg, "Entrypoint"), &c->entrypoint) < 0 ||
		    json_strv(d, json_get(d, cfg, "Cmd"), &c->cmd) < 0 ||
		    json_strv(d, json_get(d, cfg, "Env"), &c->env) < 0)
			return err_set(err, EINVAL, "image config: Entrypoint, Cmd and Env must be string arrays");
		if (obj_to_strv(d, json_get(d, cfg, "ExposedPorts"), false, &c->exposed_ports) < 0 ||
		    obj_to_strv(d, json_get(d, cfg, "Volumes"), false, &c->volumes) < 0 ||
		    obj_to_strv(d, json_get(d, cfg, "Labels"), true, &c->labels) < 0)
			return err_set(err, EINVAL, "image config: malformed ExposedPorts, Volumes or Labels");
		if (config_health(d, json_get(d, cfg, "Healthcheck"), &c->healthcheck) < 0)
			return err_set(err, EINVAL, "image config: malformed Healthcheck");
	}
	int rootfs = json_get(d, 0, "rootfs");
	if (json_strv(d, json_get(d, rootfs, "diff_ids"), &c->diff_ids) < 0)
		return err_set(err, EINVAL, "image config: rootfs.diff_ids must be a string array");
	c->ndiff_ids = strv_len(c->diff_ids);
	for (size_t i = 0; i < c->ndiff_ids; i++)
		if (!oci_digest_valid(c->diff_ids[i]))
			return err_set(err, EINVAL, "image config: diff_id %zu is not a sha256 digest", i);
	return 0;
}

int oci_config_parse(const char *data, size_t len, struct oci_image_config *out, struct err *err)
{
	struct json_doc d;
	memset(out, 0, sizeof(*out));
	if (len > OCI_MAX_CONFIG)
		return err_set(err, E2BIG, "image config is %zu bytes, more than %u", len, OCI_MAX_CONFIG);
	int r = json_parse(&d, data, len, OCI_CONFIG_TOKENS);
	if (r < 0)
		return err_set(err, r, "image config is not valid JSON");
	if (json_type(&d, 0) != JSON_OBJECT)
		r = err_set(err, EINVAL, "image config is not a JSON object");
	else
		r = config_fill(&d, out, err);
	json_free(&d);
	if (r < 0)
		oci_config_free(out);
	return r;
}
