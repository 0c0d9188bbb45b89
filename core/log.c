/* Levelled logging to stderr. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum log_level level = LOG_WARN;
static const char *const names[] = { "error", "warn", "info", "debug", "trace" };

void log_set_level(enum log_level l) { level = l; }
enum log_level log_get_level(void) { return level; }

int log_parse_level(const char *s)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return LOG_WARN;
	return -EINVAL;
}

void log_init_from_env(void)
{
	const char *s = getenv("UCRT_LOG");
	if (!s || !*s)
		return;
	int l = log_parse_level(s);
	if (l < 0)
		fprintf(stderr, "ucrt: ignoring UCRT_LOG=%s (want error|warn|info|debug|trace)\n", s);
	else
		level = (enum log_level)l;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	if (l > level)
		return;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so lines from concurrent processes don't interleave. */
	fprintf(stderr, "ucrt %s: %s\n", names[l], line);
}
