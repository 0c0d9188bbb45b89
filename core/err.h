/* Error convention (see docs/errors.md).
 *
 * Low-level and reactor code returns 0/positive on success and -errno on
 * failure. Orchestration code (pull, build, launch) returns the same and also
 * fills a struct err with a message that names what failed and why; callers
 * add context with err_wrap() on the way up, so the CLI prints
 * "pulling sha256:ab12: digest mismatch". The message lives inside the
 * struct: nothing to release on any path. */
#ifndef UCRT_ERR_H
#define UCRT_ERR_H

#include <stdarg.h>

struct err {
	int code;	/* positive errno value, 0 when no error */
	char msg[2048];	/* longer messages lose their middle, see err.c */
};

/* Record an error; returns -abs(code) so "return err_set(...)" works.
 * code may be given as errno or -errno. err may be NULL. */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As err_set, appending ": strerror(code)". */
int err_setx(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix context to the existing message: "ctx: old". Returns -code. */
int err_wrap(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);
/* Message for printing; falls back to strerror when none was set. */
const char *err_msg(const struct err *e);

#endif
