/* JSON reader on jsmn and a small writer.
 *
 * Reader: json_parse tokenises a buffer the caller keeps alive; tokens are
 * addressed by index, 0 is the root. Lookups return -1 when absent or of the
 * wrong type, so chains like json_get(d, json_get(d, 0, "config"), "Env")
 * stay safe. */
#ifndef UCRT_JSON_H
#define UCRT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

enum json_type { JSON_UNDEF, JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_PRIMITIVE };

struct json_tok {
	enum json_type type;
	int start, end, size;
	int next;	/* index just past this token's subtree */
	int parent;	/* enclosing token (for a value: its key), -1 at the root */
};

struct json_doc {
	const char *src;
	size_t len;
	struct json_tok *toks;
	int ntoks;
};

/* Returns 0 or -EINVAL (malformed) / -E2BIG (more than max_tokens). */
int json_parse(struct json_doc *d, const char *src, size_t len, int max_tokens);
void json_free(struct json_doc *d);

enum json_type json_type(const struct json_doc *d, int tok);
/* Value token of key in object tok, or -1. */
int json_get(const struct json_doc *d, int tok, const char *key);
int json_array_len(const struct json_doc *d, int tok);
/* idx-th element of array tok, or -1. */
int json_array_at(const struct json_doc *d, int tok, int idx);
/* Iterate an object: for (k = json_obj_first(d,t); k >= 0; k = json_obj_next(d,k)) key is k, value k+1 */
int json_obj_first(const struct json_doc *d, int tok);
int json_obj_next(const struct json_doc *d, int key_tok);
/* Unescaped copy of a string token (malloc'ed), or NULL if not a string or
 * the escapes are invalid. \u0000 is rejected. */
char *json_str(const struct json_doc *d, int tok);
bool json_str_eq(const struct json_doc *d, int tok, const char *s);
int json_int(const struct json_doc *d, int tok, int64_t *out);
int json_bool(const struct json_doc *d, int tok, bool *out);
/* Array of strings -> NULL-terminated vector, or NULL on type error.
 * A null/absent token yields an empty vector via *out = NULL, return 0. */
int json_strv(const struct json_doc *d, int tok, char ***out);

/* Writer: builds into a struct buf, inserting commas itself. */
struct json_writer {
	struct buf *b;
	int depth;
	uint8_t need_comma[64];	/* per depth: 0 first, 1 after a value, 2 after a key */
	bool pretty;
};

void jw_init(struct json_writer *w, struct buf *b, bool pretty);
void jw_obj_begin(struct json_writer *w);
void jw_obj_end(struct json_writer *w);
void jw_arr_begin(struct json_writer *w);
void jw_arr_end(struct json_writer *w);
void jw_key(struct json_writer *w, const char *k);
void jw_str(struct json_writer *w, const char *s);
void jw_strn(struct json_writer *w, const char *s, size_t n);
void jw_int(struct json_writer *w, int64_t v);
void jw_uint(struct json_writer *w, uint64_t v);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* Insert already-serialised JSON as a value. */
void jw_raw(struct json_writer *w, const char *json, size_t n);
/* Escape s as a JSON string literal (with quotes) into b. */
void json_escape(struct buf *b, const char *s, size_t n);

#endif
