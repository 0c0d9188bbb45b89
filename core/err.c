/* Error objects with context; see err.h and docs/errors.md. */
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int norm(int code)
{
	code = abs(code);
	return code ? code : EIO;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	code = norm(code);
	if (e) {
		va_list ap;
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

int err_setx(struct err *e, int code, const char *fmt, ...)
{
	code = norm(code);
	if (e) {
		va_list ap;
		e->code = code;
		va_start(ap, fmt);
		int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sizeof(e->msg))
			snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(code));
	}
	return -code;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
	if (!e)
		return -EIO;
	if (!e->code)
		e->code = EIO;
	char ctx[sizeof(e->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	char old[sizeof(e->msg)];
	memcpy(old, e->msg[0] ? e->msg : strerror(e->code), sizeof(old));
	old[sizeof(old) - 1] = 0;
	char out[sizeof(ctx) + sizeof(old) + 2];
	snprintf(out, sizeof(out), "%s: %s", ctx, old);
	memcpy(e->msg, out, sizeof(e->msg) - 1);
	e->msg[sizeof(e->msg) - 1] = 0;
	return -e->code;
}

void err_clear(struct err *e)
{
	e->code = 0;
	e->msg[0] = 0;
}

const char *err_msg(const struct err *e)
{
	if (e->msg[0])
		return e->msg;
	return e->code ? strerror(e->code) : "no error";
}
