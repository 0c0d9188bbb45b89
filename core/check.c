/* The reporter of a consistency check; see check.h. */
#include "check.h"

#include <stdio.h>

void check_vproblem(struct check_report *r, const char *what, bool repaired, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	r->problems++;
	if (repaired)
		r->repaired++;
	if (r->fn)
		r->fn(r->arg, what, msg, repaired);
}

void check_problem(struct check_report *r, const char *what, bool repaired, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	check_vproblem(r, what, repaired, fmt, ap);
	va_end(ap);
}
