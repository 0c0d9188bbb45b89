/* String helpers. */
#ifndef UCRT_STR_H
#define UCRT_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);
/* Position of s in names[0..n), or -1: for "auto|kvm|tcg"-style options
 * whose names are indexed by their enum values. */
int str_index(const char *s, const char *const *names, size_t n);
/* Split s on sep into a NULL-terminated vector (free with strv_free). Empty
 * fields are kept. */
char **str_split(const char *s, char sep);
size_t strv_len(char *const *v);
char **strv_dup(char *const *v);
/* Append a copy of s; *v may be NULL. */
void strv_push(char ***v, const char *s);
/* Parse an unsigned decimal that must fill the whole string. */
int str_to_u64(const char *s, uint64_t *out);
/* Parse a size like 512, 64k, 100M, 2G (binary units). */
int str_to_size(const char *s, uint64_t *out);
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);
bool str_is_hex(const char *s, size_t len);

#endif
