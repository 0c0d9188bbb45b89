/* The report the checkers' unit tests hand to store_check, ctr_check and
 * net_check: each problem printed as a TAP comment, the counts at zero
 * for each check (the checkers add to a report, the CLI's spans all
 * three). Include after tap.h. */
#ifndef UCRT_TEST_CHECK_REPORT_H
#define UCRT_TEST_CHECK_REPORT_H

#include "check.h"

static struct check_report t_rep;

static void t_rep_diag(void *arg, const char *what, const char *problem, bool repaired)
{
	t_diag("%s %s: %s", repaired ? "repaired" : "problem", what, problem);
}

/* t_rep, emptied, for one check. */
static inline struct check_report *t_report(void)
{
	t_rep = (struct check_report){ .fn = t_rep_diag };
	return &t_rep;
}

#endif
