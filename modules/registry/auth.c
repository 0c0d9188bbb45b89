/* Registry authentication: WWW-Authenticate challenges, bearer tokens
 * (anonymous or with credentials, cached per repository and actions until
 * they expire), Basic auth, and the docker config.json credential file. */
#include "registry-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "json.h"
#include "log.h"
#include "str.h"
#include "util.h"

#define REG_TOKEN_MARGIN_NS (10ull * 1000000000ull)

void reg_challenge_free(struct reg_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	free(ch->error);
	memset(ch, 0, sizeof(*ch));
}

/* key=value or key="quoted \"value\"" pairs after the scheme. */
int reg_challenge_parse(const char *hdr, struct reg_challenge *out)
{
	memset(out, 0, sizeof(*out));
	const char *p = hdr;
	while (*p == ' ')
		p++;
	size_t sn = strcspn(p, " ");
	if (sn == 0 || sn >= sizeof(out->scheme))
		return -EINVAL;
	memcpy(out->scheme, p, sn);
	p += sn;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t kn = strcspn(p, "= ,");
		if (p[kn] != '=' || kn == 0 || kn > 32) {
			reg_challenge_free(out);
			return -EINVAL;
		}
		char key[33];
		memcpy(key, p, kn);
		key[kn] = 0;
		p += kn + 1;
		struct buf v = BUF_INIT;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				buf_putc(&v, *p);
			}
			if (*p != '"') {
				buf_free(&v);
				reg_challenge_free(out);
				return -EINVAL;
			}
			p++;
		} else {
			size_t n = strcspn(p, ", ");
			buf_append(&v, p, n);
			p += n;
		}
		char **slot = strcasecmp(key, "realm") == 0     ? &out->realm
			      : strcasecmp(key, "service") == 0 ? &out->service
			      : strcasecmp(key, "scope") == 0   ? &out->scope
			      : strcasecmp(key, "error") == 0   ? &out->error
								: NULL;
		if (slot) {
			free(*slot);
			*slot = buf_steal(&v);
		}
		buf_free(&v);
	}
	return 0;
}

void reg_tokens_free(struct reg_token *t)
{
	while (t) {
		struct reg_token *n = t->next;
		free(t->key);
		free(t->header);
		free(t);
		t = n;
	}
}

static char *token_key(const struct reg_host *h, const struct reg_call *call)
{
	return xasprintf("%s|%s|%s", h->domain, call->repo ? call->repo : "", call->actions ? call->actions : "");
}

int reg_auth_header(struct reg_client *c, struct reg_host *h, const struct reg_call *call, char **hdr)
{
	*hdr = NULL;
	_cleanup_free_ char *key = token_key(h, call);
	uint64_t now = loop_now_ns();
	for (struct reg_token *t = c->tokens; t; t = t->next)
		if (strcmp(t->key, key) == 0 && t->expires_ns > now) {
			*hdr = xstrdup(t->header);
			return 0;
		}
	if (h->basic)
		*hdr = xstrdup(h->basic);
	return 0;
}

static char *b64_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* "Basic <base64(user:pass)>" for the host's credentials. */
static char *basic_header(const struct reg_host *h)
{
	_cleanup_free_ char *up = xasprintf("%s:%s", h->user, h->pass);
	_cleanup_free_ char *b = b64_encode(up);
	return xasprintf("Basic %s", b);
}

static char *b64_decode(const char *s, size_t n)
{
	if (n % 4 || n > (1u << 16))
		return NULL;
	unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int m = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (m < 0) {
		free(out);
		return NULL;
	}
	while (n && s[n - 1] == '=') {	/* DecodeBlock counts the padding */
		n--;
		m--;
	}
	out[m] = 0;
	return (char *)out;
}

static void url_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-_.~:/", ch))
			buf_putc(b, (char)ch);
		else
			buf_printf(b, "%%%02X", ch);
	}
}

/* scheme and host of url as curl sees them (the host of an IPv6 address
 * in brackets, so both sides compare alike). */
static int url_scheme_host(const char *url, char **scheme, char **host)
{
	CURLU *u = curl_url();
	char *sc = NULL, *ho = NULL;
	int r = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
			curl_url_get(u, CURLUPART_SCHEME, &sc, 0) == CURLUE_OK &&
			curl_url_get(u, CURLUPART_HOST, &ho, 0) == CURLUE_OK
		? 0
		: -EINVAL;
	if (r == 0) {
		*scheme = xstrdup(sc);
		*host = xstrdup(ho);
	}
	curl_free(sc);
	curl_free(ho);
	curl_url_cleanup(u);
	return r;
}

bool reg_url_on_host(const struct reg_host *h, const char *url)
{
	_cleanup_free_ char *us = NULL, *uh = NULL, *ds = NULL, *dh = NULL;
	_cleanup_free_ char *reg = xasprintf("https://%s/", oci_domain_endpoint(h->domain));
	return url_scheme_host(url, &us, &uh) == 0 && url_scheme_host(reg, &ds, &dh) == 0 && strcasecmp(uh, dh) == 0;
}

/* The realm comes from the registry's 401: a registry (or whoever answers
 * in its name on plain HTTP) can point it anywhere. Credentials go to it
 * only encrypted, or to the registry's own host when we already talk plain
 * HTTP to that host (loopback, or --tls-verify=false): then the token
 * request exposes nothing the registry requests do not. NULL when they
 * may go, else why not. */
static const char *realm_refuses_creds(const struct reg_client *c, const struct reg_host *h, const char *realm)
{
	_cleanup_free_ char *rs = NULL, *rh = NULL;
	if (url_scheme_host(realm, &rs, &rh) < 0)
		return "it is not a valid URL";
	if (strcasecmp(rs, "https") == 0)
		return NULL;
	if (!reg_url_on_host(h, realm))
		return "it is on another host than the registry, over plain HTTP";
	if (c->o.tls_verify && !oci_domain_is_loopback(h->domain))
		return "it is plain HTTP";
	return NULL;
}

static int token_fetch(struct reg_client *c, struct reg_host *h, const struct reg_challenge *ch, const char *scope,
		       char **token, int64_t *expires_in, struct err *err)
{
	struct buf u = BUF_INIT;
	buf_puts(&u, ch->realm);
	char sep = strchr(ch->realm, '?') ? '&' : '?';
	if (ch->service) {
		buf_printf(&u, "%cservice=", sep);
		url_escape(&u, ch->service);
		sep = '&';
	}
	if (scope) {
		buf_printf(&u, "%cscope=", sep);
		url_escape(&u, scope);
	}
	struct reg_call tc = { .method = "GET", .url = buf_steal(&u), .body_max = 1u << 20 };
	_cleanup_free_ char *basic = NULL;
	if (h->user && h->pass) {
		const char *why = realm_refuses_creds(c, h, ch->realm);
		if (why) {
			log_debug("registry: not sending the credentials for %s to the token server %s (%s): "
				  "asking for an anonymous token",
				  h->domain, ch->realm, why);
			free(h->creds_withheld);
			h->creds_withheld = xasprintf("%s (%s)", ch->realm, why);
		} else {
			basic = basic_header(h);
		}
	}
	int r = reg_http_perform(c, h, &tc, basic);
	char desc[512];
	if (r >= 0 && tc.too_big)
		r = err_set(err, E2BIG, "token server %s: response larger than %zu bytes", ch->realm, reg_body_max(&tc));
	else if (r >= 0 && tc.cc != CURLE_OK)
		r = err_set(err, EIO, "token server %s: %s", ch->realm, tc.errbuf[0] ? tc.errbuf : curl_easy_strerror(tc.cc));
	else if (r >= 0 && tc.status != 200) {
		reg_describe_status(&tc, desc, sizeof(desc));
		r = err_set(err, EACCES, "token server %s refused %s%s: %s", ch->realm, basic ? "the credentials for " : "anonymous access to ",
			    scope ? scope : h->domain, desc);
	}
	struct json_doc d;
	if (r >= 0 && json_parse(&d, tc.body.data, tc.body.len, 1024) == 0) {
		int t = json_get(&d, 0, "token");
		if (t < 0)
			t = json_get(&d, 0, "access_token");
		*token = json_str(&d, t);
		if (json_int(&d, json_get(&d, 0, "expires_in"), expires_in) < 0 || *expires_in < 1)
			*expires_in = 60;
		json_free(&d);
	}
	if (r >= 0 && !*token)
		r = err_set(err, EPROTO, "token server %s sent no token", ch->realm);
	reg_call_reset(&tc);
	return r;
}

int reg_auth_challenge(struct reg_client *c, struct reg_host *h, const struct reg_call *call, struct err *err)
{
	struct reg_challenge ch;
	if (reg_challenge_parse(call->www_auth, &ch) < 0)
		return err_set(err, EPROTO, "%s: malformed WWW-Authenticate header", h->domain);
	int r = 0;
	if (strcasecmp(ch.scheme, "Basic") == 0) {
		if (!h->user || !h->pass) {
			r = err_set(err, EACCES, "%s requires authentication: no credentials (use 'ucrt login %s')",
				    h->domain, h->domain);
		} else {
			free(h->basic);
			h->basic = basic_header(h);
		}
	} else if (strcasecmp(ch.scheme, "Bearer") == 0 && ch.realm) {
		_cleanup_free_ char *own = call->repo ? xasprintf("repository:%s:%s", call->repo, call->actions) : NULL;
		char *token = NULL;
		int64_t exp = 60;
		r = token_fetch(c, h, &ch, ch.scope ? ch.scope : own, &token, &exp, err);
		if (r >= 0) {
			struct reg_token *t = xcalloc(1, sizeof(*t));
			t->key = token_key(h, call);
			t->header = xasprintf("Bearer %s", token);
			uint64_t life = (uint64_t)exp * 1000000000ull;
			t->expires_ns = loop_now_ns() + (life > 2 * REG_TOKEN_MARGIN_NS ? life - REG_TOKEN_MARGIN_NS : life / 2);
			t->next = c->tokens;
			c->tokens = t;
			free(token);
		}
	} else {
		r = err_set(err, ENOTSUP, "%s: unsupported authentication scheme '%s'", h->domain, ch.scheme);
	}
	reg_challenge_free(&ch);
	return r;
}

/* ---- the credential file ---------------------------------------------- */

char *reg_auth_file_default(void)
{
	const char *f = getenv("REGISTRY_AUTH_FILE");
	if (f && *f)
		return xstrdup(f);
	const char *home = getenv("HOME");
	return xasprintf("%s/.docker/config.json", home && *home ? home : "/root");
}

/* Keys a domain's entry may be stored under. */
static bool auth_key_matches(const char *key, const char *domain)
{
	if (strcmp(key, domain) == 0)
		return true;
	const char *k = key;
	if (str_startswith(k, "https://"))
		k += 8;
	else if (str_startswith(k, "http://"))
		k += 7;
	size_t n = strcspn(k, "/");
	if (strlen(domain) == n && strncmp(k, domain, n) == 0)
		return true;
	return strcmp(domain, "docker.io") == 0 && (n == 15 && strncmp(k, "index.docker.io", n) == 0);
}

int reg_auth_lookup(const char *file, const char *domain, char **user, char **pass)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (read_file_at(AT_FDCWD, file, 1u << 20, &data, &len) < 0)
		return -ENOENT;
	struct json_doc d;
	if (json_parse(&d, data, len, 1 << 16) < 0)
		return -EINVAL;
	int r = -ENOENT;
	/* credHelpers[registry], else credsStore: docker asks the helper */
	_cleanup_free_ char *helper = NULL;
	int ch = json_get(&d, 0, "credHelpers");
	for (int k = json_obj_first(&d, ch); k >= 0 && !helper; k = json_obj_next(&d, k)) {
		_cleanup_free_ char *key = json_str(&d, k);
		if (key && auth_key_matches(key, domain))
			helper = json_str(&d, k + 1);
	}
	if (!helper)
		helper = json_str(&d, json_get(&d, 0, "credsStore"));
	if (helper && *helper) {
		struct err e = { 0 };
		/* Docker Hub's entry is the v1 index URL */
		const char *server = strcmp(domain, "docker.io") == 0 ? "https://index.docker.io/v1/" : domain;
		if (reg_cred_helper_get(helper, server, user, pass, &e) == 0) {
			log_debug("registry: credentials for %s from docker-credential-%s", domain, helper);
			json_free(&d);
			return 0;
		}
		/* "no credentials for this registry" is the common answer */
		if (e.code == ENOENT)
			log_info("registry: %s", err_msg(&e));
		else
			log_warn("registry: %s", err_msg(&e));
	}
	int auths = json_get(&d, 0, "auths");
	for (int k = json_obj_first(&d, auths); k >= 0 && r < 0; k = json_obj_next(&d, k)) {
		_cleanup_free_ char *key = json_str(&d, k);
		if (!key || !auth_key_matches(key, domain))
			continue;
		_cleanup_free_ char *a = json_str(&d, json_get(&d, k + 1, "auth"));
		_cleanup_free_ char *up = a ? b64_decode(a, strlen(a)) : NULL;
		char *colon = up ? strchr(up, ':') : NULL;
		if (!colon)
			continue;
		*user = xstrndup(up, (size_t)(colon - up));
		*pass = xstrdup(colon + 1);
		r = 0;
	}
	json_free(&d);
	return r;
}

void reg_host_load_creds(struct reg_client *c, struct reg_host *h)
{
	if (h->creds_loaded)
		return;
	h->creds_loaded = true;
	if (c->o.creds) {
		const char *colon = strchr(c->o.creds, ':');
		h->user = colon ? xstrndup(c->o.creds, (size_t)(colon - c->o.creds)) : xstrdup(c->o.creds);
		h->pass = xstrdup(colon ? colon + 1 : "");
		return;
	}
	_cleanup_free_ char *f = c->o.auth_file ? xstrdup(c->o.auth_file) : reg_auth_file_default();
	if (reg_auth_lookup(f, h->domain, &h->user, &h->pass) == 0)
		log_debug("registry: using credentials for %s from %s", h->domain, f);
}

/* Rewrite file keeping every key but auths[domain]; add it back when
 * user is given. */
static int auth_rewrite(const char *file, const char *domain, const char *user, const char *pass, struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	struct json_doc d = { 0 };
	bool have = read_file_at(AT_FDCWD, file, 1u << 20, &data, &len) == 0 && len > 0;
	if (have && (json_parse(&d, data, len, 1 << 16) < 0 || json_type(&d, 0) != JSON_OBJECT)) {
		if (d.toks)
			json_free(&d);
		return err_set(err, EINVAL, "%s is not a JSON object; not touching it", file);
	}
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	int auths = have ? json_get(&d, 0, "auths") : -1;
	bool found = false;
	for (int k = have ? json_obj_first(&d, 0) : -1; k >= 0; k = json_obj_next(&d, k)) {
		if (k == auths - 1)
			continue;
		_cleanup_free_ char *key = json_str(&d, k);
		jw_key(&w, key ? key : "");
		jw_raw(&w, d.src + d.toks[k + 1].start - (d.toks[k + 1].type == JSON_STRING),
		       (size_t)(d.toks[k + 1].end - d.toks[k + 1].start + 2 * (d.toks[k + 1].type == JSON_STRING)));
	}
	jw_key(&w, "auths");
	jw_obj_begin(&w);
	for (int k = json_obj_first(&d, auths); k >= 0; k = json_obj_next(&d, k)) {
		_cleanup_free_ char *key = json_str(&d, k);
		if (!key || auth_key_matches(key, domain)) {
			found = true;
			continue;
		}
		jw_key(&w, key);
		jw_raw(&w, d.src + d.toks[k + 1].start, (size_t)(d.toks[k + 1].end - d.toks[k + 1].start));
	}
	if (user) {
		_cleanup_free_ char *up = xasprintf("%s:%s", user, pass);
		_cleanup_free_ char *b64 = b64_encode(up);
		jw_key(&w, domain);
		jw_obj_begin(&w);
		jw_key(&w, "auth");
		jw_str(&w, b64);
		jw_obj_end(&w);
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	if (have)
		json_free(&d);
	if (!user && !found)
		return err_set(err, ENOENT, "not logged in to %s", domain);
	_cleanup_free_ char *dir = xstrdup(file);
	int r = mkdir_p_at(AT_FDCWD, dirname(dir), 0700);
	if (r >= 0)
		r = write_file_atomic_at(AT_FDCWD, file, b.data, b.len, 0600);
	if (r < 0)
		return err_setx(err, r, "writing %s", file);
	return 0;
}

int reg_auth_store(const char *file, const char *domain, const char *user, const char *pass, struct err *err)
{
	return auth_rewrite(file, domain, user, pass, err);
}

int reg_auth_remove(const char *file, const char *domain, struct err *err)
{
	return auth_rewrite(file, domain, NULL, NULL, err);
}

int reg_login_check(struct reg_client *c, const char *domain, const char *user, const char *pass, struct err *err)
{
	struct reg_host *h = reg_host_get(c, domain);
	h->creds_loaded = true;
	free(h->user);
	free(h->pass);
	h->user = xstrdup(user);
	h->pass = xstrdup(pass);
	struct reg_call call = { .method = "GET", .url = reg_url(h, "%s", "") };
	int r = reg_call(c, h, &call, err);
	if (r >= 0 && call.status != 200) {
		char desc[512];
		reg_describe_status(&call, desc, sizeof(desc));
		r = err_set(err, EACCES, "login to %s failed: %s", domain, desc);
	} else if (r >= 0 && h->creds_withheld) {
		/* An anonymous token got through: that checked nothing. */
		r = err_set(err, EACCES,
			    "login to %s: credentials not checked: not sent to the token server %s; "
			    "credentials go only over HTTPS or to the registry's own host",
			    domain, h->creds_withheld);
	}
	reg_call_reset(&call);
	return r;
}
