/* Minimal TAP producer for unit tests (one test program per feature, run by
 * prove). Exit status: 0 when all passed, 1 on failure; t_skip_all exits 0
 * with a "1..0 # SKIP" plan. */
#ifndef UCRT_TAP_H
#define UCRT_TAP_H

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_n, t_failed;

/* As ucrt's main does: code under test writes to pipes and sockets whose
 * reader may be gone (a credential helper, a test server, a guest that
 * exited) and expects EPIPE, not a signal. A test killed by SIGPIPE on a
 * loaded host was a test artefact, never the product's behaviour. */
__attribute__((constructor)) static void t_ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

static inline void t_plan(int n) { printf("1..%d\n", n); fflush(stdout); }

static inline __attribute__((format(printf, 2, 3))) int t_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", cond ? "" : "not ", ++t_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		t_failed++;
	return cond;
}

#define t_is(got, want, name) do { \
	long long _g = (long long)(got), _w = (long long)(want); \
	if (!t_ok(_g == _w, "%s", name)) \
		printf("#   got %lld, want %lld (%s:%d)\n", _g, _w, __FILE__, __LINE__); \
} while (0)

#define t_streq(got, want, name) do { \
	const char *_g = (got), *_w = (want); \
	if (!t_ok(_g && _w && strcmp(_g, _w) == 0, "%s", name)) \
		printf("#   got \"%s\", want \"%s\" (%s:%d)\n", _g ? _g : "(null)", _w ? _w : "(null)", __FILE__, __LINE__); \
} while (0)

static inline __attribute__((format(printf, 1, 2))) void t_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline __attribute__((noreturn)) void t_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

/* Open fds of this process (for "no fd leaked" checks at exit). */
static inline int t_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* Call at the end of main when no plan was given up front. */
static inline int t_done(void)
{
	printf("1..%d\n", t_n);
	return t_failed ? 1 : 0;
}

#endif
