/* When to try a registry request again, and how long to wait first.
 *
 * Exponential backoff with jitter: try n waits a random time between half
 * and all of base x 2^(n-1) (capped), so that many clients failing at once
 * (a registry restart, a rate limit) do not come back in lockstep, and no
 * wait is shorter than half the nominal one. A server's Retry-After
 * (delta-seconds or an HTTP date) replaces the computed wait, within a cap:
 * a registry asking for an hour is not obeyed literally. */
#include "registry-internal.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "str.h"
#include "util.h"

uint64_t reg_backoff_ms(unsigned base_ms, unsigned attempt, uint32_t rnd)
{
	uint64_t ms = base_ms ? base_ms : REG_RETRY_BASE_MS;
	for (unsigned i = 1; i < attempt && ms < REG_BACKOFF_MAX_MS; i++)
		ms *= 2;
	ms = MIN(ms, (uint64_t)REG_BACKOFF_MAX_MS);
	uint64_t half = ms / 2;
	return half + (half ? rnd % (ms - half + 1) : 0);
}

int reg_retry_after_ms(const char *v, time_t now, uint64_t *ms)
{
	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	uint64_t s;
	if (str_to_u64(v, &s) == 0) {
		*ms = MIN(s, (uint64_t)REG_RETRY_AFTER_MAX_S) * 1000;
		return 0;
	}
	/* HTTP-date; curl_getdate also takes the obsolete formats RFC 9110
	 * says a recipient must accept. */
	time_t at = curl_getdate(v, NULL);
	if (at == (time_t)-1)
		return -1;
	*ms = at <= now ? 0 : MIN((uint64_t)(at - now), (uint64_t)REG_RETRY_AFTER_MAX_S) * 1000;
	return 0;
}

bool reg_retryable_status(long status)
{
	/* 501 Not Implemented and 505 will not change on a retry. */
	return status == 429 || status == 408 || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

uint64_t reg_retry_delay_ns(const struct reg_client *c, const struct reg_call *call, unsigned attempt)
{
	uint64_t ms;
	if (call->cc == CURLE_OK && reg_retry_after_ms(call->retry_after, time(NULL), &ms) == 0)
		return ms * 1000000ull;
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)loop_now_ns();
	return reg_backoff_ms(c->o.retry_delay_ms, attempt, rnd) * 1000000ull;
}
