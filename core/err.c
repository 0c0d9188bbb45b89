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

/* Store s in e->msg. A message too long for it loses its middle, not its
 * end: context comes first and the reason last ("layer x: entry <4 KiB
 * path>: name too long"), and the reason is what a user needs. */
static void put(struct err *e, const char *s)
{
	size_t n = strlen(s), cap = sizeof(e->msg) - 1;
	if (n <= cap) {
		memcpy(e->msg, s, n + 1);
		return;
	}
	static const char gap[] = " [...] ";
	size_t head = cap / 4, tail = cap - head - (sizeof(gap) - 1);
	memcpy(e->msg, s, head);
	memcpy(e->msg + head, gap, sizeof(gap) - 1);
	memcpy(e->msg + head + sizeof(gap) - 1, s + n - tail, tail + 1);
}

static void vput(struct err *e, const char *prefix, const char *fmt, va_list ap, const char *suffix)
	__attribute__((format(printf, 3, 0)));

static void vput(struct err *e, const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0) {
		snprintf(e->msg, sizeof(e->msg), "%s", fmt);	/* out of memory: the bare format */
		return;
	}
	char *all = NULL;
	if (asprintf(&all, "%s%s%s", prefix, m, suffix) < 0)
		put(e, m);
	else
		put(e, all);
	free(all);
	free(m);
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	code = norm(code);
	if (e) {
		va_list ap;
		e->code = code;
		va_start(ap, fmt);
		vput(e, "", fmt, ap, "");
		va_end(ap);
	}
	return -code;
}

int err_setx(struct err *e, int code, const char *fmt, ...)
{
	code = norm(code);
	if (e) {
		va_list ap;
		char why[128];
		e->code = code;
		snprintf(why, sizeof(why), ": %s", strerror(code));
		va_start(ap, fmt);
		vput(e, "", fmt, ap, why);
		va_end(ap);
	}
	return -code;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
	if (!e)
		return -EIO;
	if (!e->code)
		e->code = EIO;
	char old[sizeof(e->msg) + 2];
	snprintf(old, sizeof(old), ": %s", e->msg[0] ? e->msg : strerror(e->code));
	va_list ap;
	va_start(ap, fmt);
	vput(e, "", fmt, ap, old);
	va_end(ap);
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
