/* One response header line from the registry (or whatever a redirect
 * leads to): the status line of each response, and the few headers the
 * client acts on. Every byte is the server's: lengths are explicit, no
 * line is assumed to be terminated or to hold a colon. */
#include "registry-internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "str.h"
#include "util.h"

static void set_str(char **dst, const char *v, size_t n)
{
	free(*dst);
	*dst = xstrndup(v, n);
}

/* Content-Length: digits only, no sign, no overflow; anything else is
 * "unknown" (-1), never a number curl did not also see. */
static int64_t parse_length(const char *v, size_t n)
{
	int64_t x = 0;
	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || x > (INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

void reg_header_parse(struct reg_call *call, const char *data, size_t n)
{
	size_t len = n;
	while (len && (data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 100): forget the last. */
		const char *sp = memchr(data, ' ', len);
		long st = 0;
		for (const char *p = sp ? sp + 1 : data + len; p < data + len && *p >= '0' && *p <= '9' && st < 1000; p++)
			st = st * 10 + (*p - '0');
		call->status = st < 1000 ? st : 0;
		free(call->location);
		free(call->www_auth);
		free(call->content_type_got);
		free(call->docker_digest);
		free(call->retry_after);
		call->location = call->www_auth = call->content_type_got = call->docker_digest = call->retry_after = NULL;
		call->content_length = -1;
		buf_reset(&call->body);
		return;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return;
	size_t kn = (size_t)(colon - data);
	const char *v = colon + 1, *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vn = (size_t)(end - v);
	static const struct { const char *name; size_t off; } hdrs[] = {
		{ "location", offsetof(struct reg_call, location) },
		{ "www-authenticate", offsetof(struct reg_call, www_auth) },
		{ "content-type", offsetof(struct reg_call, content_type_got) },
		{ "docker-content-digest", offsetof(struct reg_call, docker_digest) },
		{ "retry-after", offsetof(struct reg_call, retry_after) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(hdrs); i++)
		if (strlen(hdrs[i].name) == kn && strncasecmp(data, hdrs[i].name, kn) == 0)
			set_str((char **)((char *)call + hdrs[i].off), v, vn);
	if (kn == 14 && strncasecmp(data, "content-length", kn) == 0)
		call->content_length = parse_length(v, vn);
}
