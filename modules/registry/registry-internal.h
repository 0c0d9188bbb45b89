/* Private to modules/registry. */
#ifndef UCRT_REGISTRY_INTERNAL_H
#define UCRT_REGISTRY_INTERNAL_H

#include <curl/curl.h>
#include <time.h>

#include "buf.h"
#include "loop.h"
#include "registry.h"

struct fiber;

/* What we know about one registry host. */
struct reg_host {
	struct reg_host *next;
	char *domain;
	char *scheme;		/* "https" or "http" once decided */
	bool scheme_fixed;	/* a request got through: stop probing */
	char *user, *pass;	/* credentials, NULL for anonymous */
	bool creds_loaded;
	char *basic;		/* "Basic <b64>" after a Basic challenge */
	char *creds_withheld;	/* "realm (why)": a token server the credentials were kept from */
	char *ca_blob;		/* system CAs + cert dir CAs, NULL for the default */
	size_t ca_len;
	char *client_cert, *client_key;
};

/* A bearer token for (domain, repo, actions). */
struct reg_token {
	struct reg_token *next;
	char *key;
	char *header;		/* "Bearer ..." */
	uint64_t expires_ns;
};

struct reg_client {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer timer;
	struct reg_opts o;
	struct reg_host *hosts;
	struct reg_token *tokens;
	int running;
	/* Counted only at debug level (for the per-pull/push summary). */
	struct reg_stats {
		unsigned long xfers;	/* transfers performed */
		unsigned long conns;	/* new connections they opened */
		unsigned long h2;	/* transfers over HTTP/2 */
	} stats;
};

/* One HTTP request, performed by reg_call() from a fiber. */
struct reg_call {
	/* in */
	const char *method;	/* GET, HEAD, PUT, POST, PATCH */
	char *url;		/* absolute; owned */
	const char *accept;
	const char *content_type;
	const char *content_range;
	const void *req_body;	/* request body (PUT/POST/PATCH) */
	size_t req_len;
	uint64_t range_from;	/* Range: bytes=N- when > 0 */
	const char *repo, *actions;	/* auth scope; NULL for none */
	bool no_retry;		/* not idempotent: one try only */
	/* called before every try (e.g. to move range_from past what a
	 * failed try already delivered) */
	void (*prepare)(struct reg_call *call);
	/* stream mode: after a 2xx whose transfer curl saw complete: how many
	 * bytes are still missing (0: none). A body shorter than promised (a
	 * lying Content-Length, a proxy cutting it) is then retried like a
	 * broken connection, from where it stopped when prepare() moves the
	 * range. NULL: no such check. */
	uint64_t (*missing)(struct reg_call *call);
	/* stream mode: 2xx bodies go to sink (in the fiber), in order */
	int (*sink)(struct reg_call *call, const char *data, size_t len);
	void *sink_arg;
	size_t body_max;	/* cap of the collected body (default 4 MiB) */
	/* out */
	long status;
	struct buf body;	/* non-stream body, or the error body */
	char *content_type_got, *location, *www_auth, *docker_digest, *retry_after;
	int64_t content_length;
	bool too_big;		/* the body passed body_max: the transfer was cut */
	unsigned tries;		/* transfers made (auth round trips not counted) */
	CURLcode cc;
	char errbuf[CURL_ERROR_SIZE];
};

static inline size_t reg_body_max(const struct reg_call *call)
{
	return call->body_max ? call->body_max : 4u << 20;
}

/* Perform call with auth, retries and backoff. 0 when an HTTP response
 * arrived (any status; check call->status), or -errno with err set when
 * the transfer failed after all tries (-E2BIG when the body passed
 * reg_body_max()). */
int reg_call(struct reg_client *c, struct reg_host *h, struct reg_call *call, struct err *err);
void reg_call_reset(struct reg_call *call);
/* "https://domain/v2/<path>" on the host's scheme (malloc'ed). */
char *reg_url(struct reg_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Resolve a Location header against the host. */
char *reg_resolve_location(struct reg_host *h, const char *loc);
struct reg_host *reg_host_get(struct reg_client *c, const char *domain);
/* A short "HTTP 404 MANIFEST_UNKNOWN: ..." from a registry error body. */
void reg_describe_status(const struct reg_call *call, char *out, size_t n);

/* header.c: one response header line (curl's header callback). */
void reg_header_parse(struct reg_call *call, const char *line, size_t len);

/* retry.c: the retry policy. */
#define REG_RETRY_BASE_MS 200
#define REG_BACKOFF_MAX_MS 30000
#define REG_RETRY_AFTER_MAX_S 60
/* The wait before try attempt+1: base x 2^(attempt-1), capped at
 * REG_BACKOFF_MAX_MS, then a uniform pick (rnd) in [half of it, all of it]. */
uint64_t reg_backoff_ms(unsigned base_ms, unsigned attempt, uint32_t rnd);
/* A Retry-After value (delta-seconds or HTTP-date, relative to now) in ms,
 * capped at REG_RETRY_AFTER_MAX_S; -1 if it is neither. */
int reg_retry_after_ms(const char *v, time_t now, uint64_t *ms);
/* 5xx (but 501, 505), 429 and 408: worth another try. */
bool reg_retryable_status(long status);
/* The wait before the next try of call: its Retry-After, else the backoff. */
uint64_t reg_retry_delay_ns(const struct reg_client *c, const struct reg_call *call, unsigned attempt);

/* auth.c */
/* Is url on the registry's own host (any port)? Only there do its
 * Authorization headers go: an upload Location may name any host. */
bool reg_url_on_host(const struct reg_host *h, const char *url);
int reg_auth_header(struct reg_client *c, struct reg_host *h, const struct reg_call *call, char **hdr);
/* After a 401: get a token (or basic) for the challenge. 0 to retry. */
int reg_auth_challenge(struct reg_client *c, struct reg_host *h, const struct reg_call *call, struct err *err);
void reg_host_load_creds(struct reg_client *c, struct reg_host *h);
void reg_tokens_free(struct reg_token *t);

/* http.c: the low-level perform without auth or retries. */
int reg_http_perform(struct reg_client *c, struct reg_host *h, struct reg_call *call, const char *auth);
/* Debug log: what a pull or push cost since *start (a copy of c->stats). */
void reg_stats_log(const struct reg_client *c, const struct reg_stats *start, const char *what, const char *ref);

#endif
