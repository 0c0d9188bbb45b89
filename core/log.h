/* Levelled logging to stderr. Level from --log-level or UCRT_LOG. */
#ifndef UCRT_LOG_H
#define UCRT_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

void log_set_level(enum log_level l);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug", "trace"; returns -EINVAL otherwise. */
int log_parse_level(const char *s);
/* Reads UCRT_LOG when set. */
void log_init_from_env(void);
void log_msg(enum log_level l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_enabled(l) ((l) <= log_get_level())
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_trace(...) do { if (log_enabled(LOG_TRACE)) log_msg(LOG_TRACE, __VA_ARGS__); } while (0)

#endif
