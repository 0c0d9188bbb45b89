/* Small helpers every file uses: allocation (abort on OOM), cleanup
 * attributes for ownership, and a few macros. */
#ifndef UCRT_UTIL_H
#define UCRT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* One OOM policy for the whole tree: allocation failure aborts, so callers
 * never check for NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
void strv_free(char **v);
static inline void strv_freep(char ***v) { strv_free(*v); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_ _cleanup_(strv_freep)

/* Hand ownership on: the variable forgets what it held. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

/* Write all of buf / read exactly; retry on EINTR and short counts.
 * Blocking: for use off the reactor (CLI setup, guest helpers, tests). */
int write_all(int fd, const void *buf, size_t len);
ssize_t read_full(int fd, void *buf, size_t len);
/* Read a whole (small) file; returns -errno. *out is NUL-terminated. */
int read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len);
/* Atomically replace dirfd/path with data: temp file, fsync, rename,
 * fsync of the directory. */
int write_file_atomic_at(int dirfd, const char *path, const void *data,
			 size_t len, unsigned mode);
/* The same without the fsyncs: readers see the old or the new file, never
 * a part, but a host crash may lose the change. For files that do not
 * outlive the process that writes them anyway (a --rm container's). */
int write_file_replace_at(int dirfd, const char *path, const void *data,
			  size_t len, unsigned mode);
/* write_file_atomic_at when durable, else write_file_replace_at. */
int write_file_at(int dirfd, const char *path, const void *data, size_t len, unsigned mode, bool durable);
/* An ordinary user's runtime files: $XDG_RUNTIME_DIR/ucrt (made 0700 for
 * them by the login manager), else /tmp/ucrt-<uid>, which another user
 * could have made first: check it is theirs alone before use. Malloc'ed. */
char *user_runtime_dir(void);
/* mkdir -p relative to dirfd. */
int mkdir_p_at(int dirfd, const char *path, unsigned mode);

#endif
