/* Growable byte buffer. Always NUL-terminated past len for convenience. */
#ifndef UCRT_BUF_H
#define UCRT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Drop n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Give the storage away (NUL-terminated, never NULL); b becomes empty. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
static inline void buf_freep(struct buf *b) { buf_free(b); }
#define _cleanup_buf_ __attribute__((cleanup(buf_freep)))

#endif
