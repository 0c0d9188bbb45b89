/* A registry request with everything around the bare transfer: the host's
 * scheme (HTTPS, or plain HTTP on loopback / --tls-verify=false), the
 * Authorization header and the 401 challenge dance, retries with backoff on
 * connection errors, 5xx and 429 (honouring Retry-After). */
#include "registry-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

#include "err.h"
#include "fiber.h"
#include "json.h"
#include "log.h"
#include "str.h"
#include "util.h"

/* CA bundle = system store + the cert dir's *.crt (curl takes one CA
 * source; a blob keeps the system roots). Small local files read once per
 * host before any transfer: a deliberate short blocking read. */
static void host_load_certs(struct reg_client *c, struct reg_host *h)
{
	_cleanup_free_ char *d1 = xasprintf("/etc/containers/certs.d/%s", h->domain);
	_cleanup_free_ char *d2 = xasprintf("/etc/docker/certs.d/%s", h->domain);
	const char *dirs[] = { c->o.cert_dir, d1, d2 };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (!dirs[i])
			continue;
		_cleanup_close_ int dfd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		DIR *d = fdopendir(dup(dfd));
		if (!d)
			continue;
		struct buf b = BUF_INIT;
		char *sys = NULL;
		size_t sl;
		if (read_file_at(AT_FDCWD, "/etc/ssl/certs/ca-certificates.crt", 16u << 20, &sys, &sl) == 0)
			buf_append(&b, sys, sl);
		free(sys);
		bool any = false;
		struct dirent *de;
		while ((de = readdir(d))) {
			char *data = NULL;
			size_t len;
			if (str_endswith(de->d_name, ".crt") &&
			    read_file_at(dfd, de->d_name, 1u << 20, &data, &len) == 0) {
				buf_putc(&b, '\n');
				buf_append(&b, data, len);
				any = true;
			} else if (str_endswith(de->d_name, ".cert")) {
				free(h->client_cert);
				h->client_cert = xasprintf("%s/%s", dirs[i], de->d_name);
			} else if (str_endswith(de->d_name, ".key")) {
				free(h->client_key);
				h->client_key = xasprintf("%s/%s", dirs[i], de->d_name);
			}
			free(data);
		}
		closedir(d);
		if (any) {
			h->ca_len = b.len;
			h->ca_blob = buf_steal(&b);
		}
		buf_free(&b);
		return;
	}
}

struct reg_host *reg_host_get(struct reg_client *c, const char *domain)
{
	for (struct reg_host *h = c->hosts; h; h = h->next)
		if (strcmp(h->domain, domain) == 0)
			return h;
	struct reg_host *h = xcalloc(1, sizeof(*h));
	h->domain = xstrdup(domain);
	h->scheme = xstrdup("https");
	host_load_certs(c, h);
	h->next = c->hosts;
	c->hosts = h;
	return h;
}

char *reg_url(struct reg_host *h, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s://%s/v2/", h->scheme, oci_domain_endpoint(h->domain));
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

char *reg_resolve_location(struct reg_host *h, const char *loc)
{
	if (str_startswith(loc, "http://") || str_startswith(loc, "https://"))
		return xstrdup(loc);
	if (loc[0] == '/')
		return xasprintf("%s://%s%s", h->scheme, oci_domain_endpoint(h->domain), loc);
	return xasprintf("%s://%s/%s", h->scheme, oci_domain_endpoint(h->domain), loc);
}

void reg_call_reset(struct reg_call *call)
{
	free(call->url);
	buf_free(&call->body);
	free(call->content_type_got);
	free(call->location);
	free(call->www_auth);
	free(call->docker_digest);
	free(call->retry_after);
	memset(call, 0, sizeof(*call));
}

void reg_describe_status(const struct reg_call *call, char *out, size_t n)
{
	struct json_doc d;
	int len = snprintf(out, n, "HTTP %ld", call->status);
	if (call->body.len && json_parse(&d, call->body.data, call->body.len, 4096) == 0) {
		int e = json_array_at(&d, json_get(&d, 0, "errors"), 0);
		_cleanup_free_ char *code = json_str(&d, json_get(&d, e, "code"));
		_cleanup_free_ char *msg = json_str(&d, json_get(&d, e, "message"));
		if (code && len >= 0 && (size_t)len < n)
			snprintf(out + len, n - (size_t)len, " %s%s%s", code, msg ? ": " : "", msg ? msg : "");
		json_free(&d);
	}
}

static bool status_2xx(long s)
{
	return s >= 200 && s < 300;
}

static bool cc_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* https -> http for hosts where plain HTTP is allowed and TLS failed. */
static bool try_plain_http(struct reg_client *c, struct reg_host *h, struct reg_call *call)
{
	if (!str_startswith(call->url, "https://"))
		return false;
	/* Another request of this host already switched: follow it. */
	if (strcmp(h->scheme, "http") != 0) {
		if (h->scheme_fixed || (c->o.tls_verify && !oci_domain_is_loopback(h->domain)))
			return false;
		log_debug("registry: %s does not speak TLS, using plain HTTP", h->domain);
		free(h->scheme);
		h->scheme = xstrdup("http");
	}
	char *u = xasprintf("http://%s", call->url + strlen("https://"));
	free(call->url);
	call->url = u;
	return true;
}

int reg_call(struct reg_client *c, struct reg_host *h, struct reg_call *call, struct err *err)
{
	unsigned tries = call->no_retry ? 1 : c->o.retries;
	bool challenged = false;
	reg_host_load_creds(c, h);
	for (unsigned attempt = 1;; attempt++) {
		if (call->prepare)
			call->prepare(call);
		_cleanup_free_ char *auth = NULL;
		bool own = reg_url_on_host(h, call->url);
		if (own)
			reg_auth_header(c, h, call, &auth);
		else
			log_debug("registry: %s is not on %s: no credentials or token sent", call->url, h->domain);
		call->tries = attempt;
		int r = reg_http_perform(c, h, call, auth);
		if (r < 0)
			return r;	/* the sink failed; it set its own error */
		if ((call->cc == CURLE_SSL_CONNECT_ERROR || call->cc == CURLE_RECV_ERROR) && try_plain_http(c, h, call)) {
			attempt--;
			continue;
		}
		const char *why = NULL;
		char desc[512];
		if (call->too_big)
			return err_set(err, E2BIG, "%s %s: response larger than %zu bytes", call->method, call->url,
				       reg_body_max(call));
		/* The connection broke after every byte we wanted had come (a
		 * Content-Length larger than the blob): the digest decides. */
		if (call->cc != CURLE_OK && call->missing && status_2xx(call->status) && call->missing(call) == 0) {
			log_debug("registry: %s %s: %s after the whole body; kept", call->method, call->url,
				  call->errbuf[0] ? call->errbuf : curl_easy_strerror(call->cc));
			call->cc = CURLE_OK;
		}
		/* A final answer whose error body broke off (docker-registry's 416
		 * announces more than it sends): the status is what counts. */
		if (call->cc != CURLE_OK && call->status >= 400 && !reg_retryable_status(call->status)) {
			log_debug("registry: %s %s: HTTP %ld, then %s", call->method, call->url, call->status,
				  call->errbuf[0] ? call->errbuf : curl_easy_strerror(call->cc));
			call->cc = CURLE_OK;
		}
		if (call->cc != CURLE_OK) {
			why = call->errbuf[0] ? call->errbuf : curl_easy_strerror(call->cc);
			/* curl's "Operation too slow. Less than 1 bytes/sec..."
			 * does not name the knob. */
			if (call->cc == CURLE_OPERATION_TIMEDOUT) {
				snprintf(desc, sizeof(desc), "no data for %u s (stall timeout)", c->o.stall_timeout_s);
				why = desc;
			}
			if (!cc_retryable(call->cc) || attempt >= tries) {
				if (attempt == 1)
					return err_set(err, EIO, "%s %s: %s", call->method, call->url, why);
				return err_set(err, EIO, "%s %s: %s (gave up after %u tries)", call->method, call->url,
					       why, attempt);
			}
		} else {
			h->scheme_fixed = true;
			if (call->status == 401 && !challenged && call->www_auth && own) {
				challenged = true;
				r = reg_auth_challenge(c, h, call, err);
				if (r < 0)
					return r;
				attempt--;
				continue;
			}
			uint64_t missing = call->missing && status_2xx(call->status) ? call->missing(call) : 0;
			if (missing) {
				snprintf(desc, sizeof(desc), "HTTP %ld: body ended %llu bytes short", call->status,
					 (unsigned long long)missing);
				why = desc;
				if (attempt >= tries)
					return err_set(err, EUCLEAN, "%s %s: %s (gave up after %u tries)", call->method,
						       call->url, why, attempt);
			} else if (!(reg_retryable_status(call->status) && attempt < tries)) {
				return 0;
			} else {
				reg_describe_status(call, desc, sizeof(desc));
				why = desc;
			}
		}
		uint64_t ns = reg_retry_delay_ns(c, call, attempt);
		log_info("%s %s: %s; retrying in %llu ms (try %u of %u)", call->method, call->url, why,
			 (unsigned long long)(ns / 1000000), attempt + 1, tries);
		fiber_sleep(c->loop, ns);
	}
}
