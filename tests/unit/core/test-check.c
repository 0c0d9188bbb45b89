/* check_problem and check_vproblem: each problem reaches the callback
 * with what, the formatted message and repaired; the counts add up across
 * calls (several checkers share one report); a report without a callback
 * only counts; a long message is cut, not overrun. */
#include "tests/lib/tap.h"

#include <string.h>

#include "check.h"

static int calls;
static char last_what[64], last_msg[1024];
static bool last_repaired;
static void *last_arg;

static void seen(void *arg, const char *what, const char *problem, bool repaired)
{
	calls++;
	last_arg = arg;
	snprintf(last_what, sizeof(last_what), "%s", what);
	snprintf(last_msg, sizeof(last_msg), "%s", problem);
	last_repaired = repaired;
}

/* As a checker with its own wrapper passes its arguments on. */
static void wrapped(struct check_report *r, bool repaired, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void wrapped(struct check_report *r, bool repaired, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	check_vproblem(r, "container 0123456789ab", repaired, fmt, ap);
	va_end(ap);
}

int main(void)
{
	int tag;
	struct check_report r = { .fn = seen, .arg = &tag };
	check_problem(&r, "blob sha256:ab", false, "content hashes to %s%s", "sha256:cd", "");
	t_is(calls, 1, "the callback ran");
	t_ok(last_arg == &tag, "with the report's arg");
	t_streq(last_what, "blob sha256:ab", "what");
	t_streq(last_msg, "content hashes to sha256:cd", "the formatted message");
	t_ok(!last_repaired && r.problems == 1 && r.repaired == 0, "a problem, not repaired");

	check_problem(&r, "ingest/x", true, "partial download of %d bytes: removed", 3);
	t_ok(last_repaired && r.problems == 2 && r.repaired == 1, "a repaired one adds to both counts");

	wrapped(&r, true, "temp file %s: removed", "state.json.tmp.1");
	t_streq(last_what, "container 0123456789ab", "check_vproblem: what");
	t_streq(last_msg, "temp file state.json.tmp.1: removed", "check_vproblem: the message");
	t_ok(r.problems == 3 && r.repaired == 2 && calls == 3, "and the counts");

	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	check_problem(&r, "w", false, "%s", big);
	t_is(strlen(last_msg), 511, "a long message is cut at 511 bytes");

	struct check_report quiet = { 0 };
	check_problem(&quiet, "w", true, "no callback");
	check_problem(&quiet, "w", false, "no callback");
	t_ok(quiet.problems == 2 && quiet.repaired == 1 && calls == 4, "without a callback: counted only");
	return t_done();
}
