/* The retry policy (modules/registry/retry.c) and the response header
 * parser (header.c), without a network: backoff doubles per try, stays
 * within [d/2, d] whatever the random pick, and is capped; Retry-After in
 * seconds or as an HTTP date, capped, garbage refused; which statuses are
 * worth another try; header lines, hostile ones included. */
#include "tests/lib/tap.h"

#include "registry/registry-internal.h"
#include "util.h"

static void hdr(struct reg_call *c, const char *line)
{
	reg_header_parse(c, line, strlen(line));
}

int main(void)
{
	/* backoff */
	t_is(reg_backoff_ms(200, 1, 0), 100, "try 1, lowest pick: half of 200 ms");
	t_is(reg_backoff_ms(200, 1, 100), 200, "try 1, highest pick: 200 ms");
	t_is(reg_backoff_ms(200, 1, 101), 100, "the pick wraps within [d/2, d]");
	t_is(reg_backoff_ms(200, 2, 0), 200, "try 2: from 200 ms");
	t_is(reg_backoff_ms(200, 3, 400), 800, "try 3: up to 800 ms");
	t_is(reg_backoff_ms(0, 1, 0), REG_RETRY_BASE_MS / 2, "base 0 means the default");
	t_ok(reg_backoff_ms(200, 40, 0xffffffffu) <= REG_BACKOFF_MAX_MS, "capped at %u ms", REG_BACKOFF_MAX_MS);
	t_ok(reg_backoff_ms(200, 4000000000u, 7) >= REG_BACKOFF_MAX_MS / 2, "a huge try count does not overflow");
	int spread = 0;
	for (uint32_t r = 0; r < 1000; r++) {
		uint64_t d = reg_backoff_ms(400, 2, r * 2654435761u);
		spread |= d < 600 ? 1 : 2;
		if (d < 400 || d > 800)
			spread = 99;
	}
	t_is(spread, 3, "jitter spreads over [d/2, d] and never leaves it");

	/* Retry-After */
	uint64_t ms = 1;
	t_ok(reg_retry_after_ms("2", 0, &ms) == 0 && ms == 2000, "delta-seconds");
	t_ok(reg_retry_after_ms(" 0", 0, &ms) == 0 && ms == 0, "zero, leading blank");
	t_ok(reg_retry_after_ms("99999999999", 0, &ms) == 0 && ms == REG_RETRY_AFTER_MAX_S * 1000, "capped");
	time_t now = 784111777;	/* Sun, 06 Nov 1994 08:49:37 GMT */
	t_ok(reg_retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT", now, &ms) == 0 && ms == 3000, "HTTP date 3 s ahead");
	t_ok(reg_retry_after_ms("Sunday, 06-Nov-94 08:49:40 GMT", now, &ms) == 0 && ms == 3000, "obsolete RFC 850 date");
	t_ok(reg_retry_after_ms("Sun, 06 Nov 1994 08:40:00 GMT", now, &ms) == 0 && ms == 0, "a date in the past: now");
	t_ok(reg_retry_after_ms("soon", now, &ms) < 0, "garbage refused");
	t_ok(reg_retry_after_ms("-5", now, &ms) < 0, "negative refused");
	t_ok(reg_retry_after_ms(NULL, now, &ms) < 0, "absent");

	/* statuses */
	t_ok(reg_retryable_status(503) && reg_retryable_status(500) && reg_retryable_status(429) &&
	     reg_retryable_status(408), "500, 503, 429, 408 are retried");
	t_ok(!reg_retryable_status(501) && !reg_retryable_status(404) && !reg_retryable_status(401) &&
	     !reg_retryable_status(200), "501, 404, 401, 200 are not");

	/* headers */
	struct reg_call c = { 0 };
	hdr(&c, "HTTP/1.1 307 Temporary Redirect\r\n");
	t_is(c.status, 307, "status line");
	hdr(&c, "Location:  http://x/y \r\n");
	t_streq(c.location, "http://x/y", "Location, blanks trimmed");
	hdr(&c, "content-length: 1234\r\n");
	t_is(c.content_length, 1234, "Content-Length, any case");
	hdr(&c, "HTTP/2 200\r\n");
	t_ok(c.status == 200 && !c.location && c.content_length == -1, "a new response forgets the last one's headers");
	hdr(&c, "Content-Length: -5\r\n");
	t_is(c.content_length, -1, "negative length: unknown");
	hdr(&c, "Content-Length: 99999999999999999999999\r\n");
	t_is(c.content_length, -1, "overflowing length: unknown");
	hdr(&c, "Content-Length: 12abc\r\n");
	t_is(c.content_length, -1, "trailing junk: unknown");
	hdr(&c, "Retry-After: 3\r\n");
	t_streq(c.retry_after, "3", "Retry-After kept");
	hdr(&c, "WWW-Authenticate: Bearer realm=\"r\"\r\n");
	t_streq(c.www_auth, "Bearer realm=\"r\"", "WWW-Authenticate kept");
	hdr(&c, "no colon here\r\n");
	hdr(&c, ":\r\n");
	hdr(&c, "\r\n");
	hdr(&c, "HTTP/1.1 99999999999999999999 x\r\n");
	t_is(c.status, 0, "absurd status: 0");
	reg_header_parse(&c, "Docker-Content-Digest: sha256:ab", 29);
	t_streq(c.docker_digest, "sha256", "only len bytes are read");
	reg_call_reset(&c);
	return t_done();
}
