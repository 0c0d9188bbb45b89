/* The reporter of a consistency check (`ucrt system check`): each
 * problem a checker finds goes to one callback, with what it concerns and
 * whether repair fixed it, and is counted. Checkers of several modules
 * share one report, so the caller gets their totals in one place. */
#ifndef UCRT_CHECK_H
#define UCRT_CHECK_H

#include <stdarg.h>
#include <stdbool.h>

/* Called per problem: what it concerns ("blob sha256:...", "container
 * <short id>"), the problem, and whether repair fixed it. */
typedef void (*check_fn)(void *arg, const char *what, const char *problem, bool repaired);

struct check_report {
	check_fn fn;			/* NULL: count only */
	void *arg;
	unsigned problems, repaired;	/* found so far, and of those repaired */
};

/* Count a problem and hand it to r->fn; the message is cut at 511 bytes. */
void check_problem(struct check_report *r, const char *what, bool repaired, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void check_vproblem(struct check_report *r, const char *what, bool repaired, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#endif
