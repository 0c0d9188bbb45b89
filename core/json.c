/* JSON reader on jsmn (strict mode plus our own checks jsmn skips) and a
 * small writer. */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "json.h"
#include "util.h"

#include <errno.h>
#include <string.h>

static bool valid_primitive(const char *s, int n)
{
	if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
	    (n == 4 && !memcmp(s, "null", 4)))
		return true;
	/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	int i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return false;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		int d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		int d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

/* Raw extent of a token in the source (strings include their quotes). */
static int raw_start(const jsmntok_t *t) { return t->start - (t->type == JSMN_STRING); }
static int raw_end(const jsmntok_t *t) { return t->end + (t->type == JSMN_STRING); }

/* jsmn tolerates "[1,]" and friends: require exactly the separator sep
 * (or none when sep is 0) between two raw offsets, white space aside. */
static bool only_sep(const char *s, int from, int to, char sep)
{
	bool seen = sep == 0;
	for (int i = from; i < to; i++) {
		if (strchr(" \t\r\n", s[i]) && s[i])
			continue;
		if (!seen && s[i] == sep) {
			seen = true;
			continue;
		}
		return false;
	}
	return seen;
}

/* Fill next-sibling links and validate structure; returns index after the
 * subtree of tok, or -1 when invalid. */
static int link_tok(struct json_doc *d, const jsmntok_t *jt, int tok, int depth)
{
	if (tok >= d->ntoks || depth > 512)
		return -1;
	const jsmntok_t *t = &jt[tok];
	int i = tok + 1;
	if (t->type == JSMN_PRIMITIVE && !valid_primitive(d->src + t->start, t->end - t->start))
		return -1;
	if (t->type == JSMN_OBJECT || t->type == JSMN_ARRAY) {
		int pos = t->start + 1;	/* just past the opening bracket */
		for (int c = 0; c < t->size; c++) {
			if (i >= d->ntoks)
				return -1;
			if (!only_sep(d->src, pos, raw_start(&jt[i]), c ? ',' : 0))
				return -1;
			if (t->type == JSMN_OBJECT) {
				/* a key: must be a string with exactly one value */
				if (jt[i].type != JSMN_STRING || jt[i].size != 1 || i + 1 >= d->ntoks)
					return -1;
				if (!only_sep(d->src, raw_end(&jt[i]), raw_start(&jt[i + 1]), ':'))
					return -1;
				d->toks[i].next = i + 1;
				i++;
			}
			pos = raw_end(&jt[i]);
			i = link_tok(d, jt, i, depth + 1);
			if (i < 0)
				return -1;
		}
		if (!only_sep(d->src, pos, t->end - 1, 0))
			return -1;
	}
	if (t->type == JSMN_STRING && t->size > 0 && (tok == 0 || jt[t->parent].type != JSMN_OBJECT))
		return -1;
	d->toks[tok].next = i;
	return i;
}

int json_parse(struct json_doc *d, const char *src, size_t len, int max_tokens)
{
	memset(d, 0, sizeof(*d));
	jsmn_parser p;
	jsmn_init(&p);
	int n = jsmn_parse(&p, src, len, NULL, 0);
	if (n == JSMN_ERROR_NOMEM || n > max_tokens)
		return -E2BIG;
	if (n <= 0)
		return -EINVAL;
	jsmntok_t *jt = xcalloc((size_t)n, sizeof(*jt));
	jsmn_init(&p);
	if (jsmn_parse(&p, src, len, jt, (unsigned)n) != n) {
		free(jt);
		return -EINVAL;
	}
	d->src = src;
	d->len = len;
	d->ntoks = n;
	d->toks = xcalloc((size_t)n, sizeof(*d->toks));
	for (int i = 0; i < n; i++) {
		d->toks[i].type = (enum json_type)jt[i].type;
		d->toks[i].start = jt[i].start;
		d->toks[i].end = jt[i].end;
		d->toks[i].size = jt[i].size;
		d->toks[i].parent = jt[i].parent;
	}
	/* Exactly one top-level value, nothing but white space after it. */
	int end = link_tok(d, jt, 0, 0);
	int last = jt[0].end + (jt[0].type == JSMN_STRING);
	free(jt);
	if (end != n)
		goto bad;
	for (size_t i = (size_t)last; i < len; i++)
		if (!src[i] || !strchr(" \t\r\n", src[i]))
			goto bad;
	return 0;
bad:
	json_free(d);
	return -EINVAL;
}

void json_free(struct json_doc *d)
{
	free(d->toks);
	d->toks = NULL;
	d->ntoks = 0;
}

enum json_type json_type(const struct json_doc *d, int tok)
{
	if (tok < 0 || tok >= d->ntoks)
		return JSON_UNDEF;
	return d->toks[tok].type;
}

bool json_str_eq(const struct json_doc *d, int tok, const char *s)
{
	if (json_type(d, tok) != JSON_STRING)
		return false;
	size_t n = (size_t)(d->toks[tok].end - d->toks[tok].start);
	/* Compare raw bytes: keys we look up never need escapes. */
	return strlen(s) == n && memcmp(d->src + d->toks[tok].start, s, n) == 0;
}

int json_obj_first(const struct json_doc *d, int tok)
{
	if (json_type(d, tok) != JSON_OBJECT || d->toks[tok].size == 0)
		return -1;
	return tok + 1;
}

int json_obj_next(const struct json_doc *d, int key_tok)
{
	if (key_tok < 0 || key_tok + 1 >= d->ntoks)
		return -1;
	int n = d->toks[key_tok + 1].next;
	if (n >= d->ntoks || d->toks[n].parent != d->toks[key_tok].parent)
		return -1;
	return n;
}

int json_get(const struct json_doc *d, int tok, const char *key)
{
	if (json_type(d, tok) != JSON_OBJECT)
		return -1;
	int k = tok + 1;
	for (int c = 0; c < d->toks[tok].size; c++) {
		if (json_str_eq(d, k, key))
			return k + 1;
		k = d->toks[k + 1].next;
	}
	return -1;
}

int json_array_len(const struct json_doc *d, int tok)
{
	return json_type(d, tok) == JSON_ARRAY ? d->toks[tok].size : -1;
}

int json_array_at(const struct json_doc *d, int tok, int idx)
{
	if (json_type(d, tok) != JSON_ARRAY || idx < 0 || idx >= d->toks[tok].size)
		return -1;
	int i = tok + 1;
	while (idx--)
		i = d->toks[i].next;
	return i;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int hex4(const char *s, const char *e, unsigned *out)
{
	if (e - s < 4)
		return -1;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

static void put_utf8(struct buf *b, unsigned cp)
{
	char o[4];
	int n;
	if (cp < 0x80) { o[0] = (char)cp; n = 1; }
	else if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
	else if (cp < 0x10000) { o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f)); n = 3; }
	else { o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); n = 4; }
	buf_append(b, o, (size_t)n);
}

char *json_str(const struct json_doc *d, int tok)
{
	if (json_type(d, tok) != JSON_STRING)
		return NULL;
	const char *s = d->src + d->toks[tok].start, *e = d->src + d->toks[tok].end;
	struct buf b = BUF_INIT;
	buf_reserve(&b, (size_t)(e - s));
	while (s < e) {
		if (*s != '\\') {
			if ((unsigned char)*s < 0x20 || *s == 0)
				goto bad;
			buf_putc(&b, *s++);
			continue;
		}
		if (++s >= e)
			goto bad;
		char c = *s++;
		switch (c) {
		case '"': case '\\': case '/': buf_putc(&b, c); break;
		case 'b': buf_putc(&b, '\b'); break;
		case 'f': buf_putc(&b, '\f'); break;
		case 'n': buf_putc(&b, '\n'); break;
		case 'r': buf_putc(&b, '\r'); break;
		case 't': buf_putc(&b, '\t'); break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(s, e, &cp) < 0)
				goto bad;
			s += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, e, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				goto bad;
			}
			if (cp == 0)
				goto bad;
			put_utf8(&b, cp);
			break;
		}
		default:
			goto bad;
		}
	}
	return buf_steal(&b);
bad:
	buf_free(&b);
	return NULL;
}

int json_int(const struct json_doc *d, int tok, int64_t *out)
{
	if (json_type(d, tok) != JSON_PRIMITIVE)
		return -EINVAL;
	const char *s = d->src + d->toks[tok].start;
	int n = d->toks[tok].end - d->toks[tok].start;
	bool neg = n > 0 && s[0] == '-';
	int i = neg;
	if (i >= n)
		return -EINVAL;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return -ERANGE;
		v = v * 10 + dgt;
	}
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int json_bool(const struct json_doc *d, int tok, bool *out)
{
	if (json_type(d, tok) != JSON_PRIMITIVE)
		return -EINVAL;
	const char *s = d->src + d->toks[tok].start;
	int n = d->toks[tok].end - d->toks[tok].start;
	if (n == 4 && !memcmp(s, "true", 4))
		*out = true;
	else if (n == 5 && !memcmp(s, "false", 5))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int json_strv(const struct json_doc *d, int tok, char ***out)
{
	*out = NULL;
	if (tok < 0 || (json_type(d, tok) == JSON_PRIMITIVE && d->src[d->toks[tok].start] == 'n'))
		return 0;
	int n = json_array_len(d, tok);
	if (n < 0)
		return -EINVAL;
	char **v = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0, t = tok + 1; i < n; i++, t = d->toks[t].next) {
		v[i] = json_str(d, t);
		if (!v[i]) {
			strv_free(v);
			return -EINVAL;
		}
	}
	*out = v;
	return 0;
}

/* Writer */

void jw_init(struct json_writer *w, struct buf *b, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
	w->pretty = pretty;
}

static void indent(struct json_writer *w)
{
	if (!w->pretty)
		return;
	buf_putc(w->b, '\n');
	for (int i = 0; i < w->depth; i++)
		buf_puts(w->b, "  ");
}

/* Before a value: a comma if a sibling came before, unless right after a key. */
static void pre_value(struct json_writer *w)
{
	if (w->need_comma[w->depth] == 2)
		return;
	if (w->depth > 0) {
		if (w->need_comma[w->depth])
			buf_putc(w->b, ',');
		indent(w);
	}
}

static void post_value(struct json_writer *w)
{
	w->need_comma[w->depth] = 1;
}

static void jw_open(struct json_writer *w, char c)
{
	pre_value(w);
	post_value(w);
	buf_putc(w->b, c);
	if (w->depth < (int)ARRAY_SIZE(w->need_comma) - 1)
		w->depth++;
	w->need_comma[w->depth] = 0;
}

static void jw_close(struct json_writer *w, char c)
{
	bool had = w->need_comma[w->depth] != 0;
	if (w->depth > 0)
		w->depth--;
	if (had)
		indent(w);
	buf_putc(w->b, c);
}

void jw_obj_begin(struct json_writer *w) { jw_open(w, '{'); }
void jw_obj_end(struct json_writer *w) { jw_close(w, '}'); }
void jw_arr_begin(struct json_writer *w) { jw_open(w, '['); }
void jw_arr_end(struct json_writer *w) { jw_close(w, ']'); }

void jw_key(struct json_writer *w, const char *k)
{
	pre_value(w);
	json_escape(w->b, k, strlen(k));
	buf_puts(w->b, w->pretty ? ": " : ":");
	/* 2: the value that follows needs no comma of its own */
	w->need_comma[w->depth] = 2;
}

static void scalar_begin(struct json_writer *w)
{
	pre_value(w);
	post_value(w);
}

void jw_strn(struct json_writer *w, const char *s, size_t n)
{
	scalar_begin(w);
	json_escape(w->b, s, n);
}

void jw_str(struct json_writer *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	jw_strn(w, s, strlen(s));
}

void jw_int(struct json_writer *w, int64_t v) { scalar_begin(w); buf_printf(w->b, "%lld", (long long)v); }
void jw_uint(struct json_writer *w, uint64_t v) { scalar_begin(w); buf_printf(w->b, "%llu", (unsigned long long)v); }
void jw_bool(struct json_writer *w, bool v) { scalar_begin(w); buf_puts(w->b, v ? "true" : "false"); }
void jw_null(struct json_writer *w) { scalar_begin(w); buf_puts(w->b, "null"); }
void jw_raw(struct json_writer *w, const char *json, size_t n) { scalar_begin(w); buf_append(w->b, json, n); }

void json_escape(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		default:
			if (c < 0x20)
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}
