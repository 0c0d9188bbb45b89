/* Go-template subset over JSON documents (see tmpl.h). Parsed once into a
 * tree of nodes, evaluated per row. */
#include "tmpl.h"
#include "str.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum targ_kind { A_FIELD, A_ROOT_FIELD, A_STR, A_FUNC, A_BOOL };

struct targ {
	enum targ_kind k;
	char **path;	/* A_FIELD / A_ROOT_FIELD: names after the dot (none: dot itself) */
	char *s;	/* A_STR literal, A_FUNC name, A_BOOL "true"/"false" */
};

struct tcmd {
	struct targ *args;
	size_t n;
};

struct tpipe {
	struct tcmd *cmds;
	size_t n;
};

enum tnode_kind { N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH };

struct tlist {
	struct tnode *v;
	size_t n;
};

struct tnode {
	enum tnode_kind k;
	char *text;		/* N_TEXT */
	struct tpipe pipe;	/* others */
	struct tlist body, alt;	/* N_IF / N_RANGE / N_WITH */
};

struct tmpl {
	struct tlist root;
};

/* ---- parser ---- */

struct tparser {
	const char *s;
	size_t pos, len;
	struct err *err;
	int depth;
};

enum term { T_EOF, T_END, T_ELSE };

static int perr(struct tparser *p, const char *what)
{
	return err_set(p->err, EINVAL, "template: at offset %zu: %s", p->pos, what);
}

static void skip_space(struct tparser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
				   p->s[p->pos] == '\r'))
		p->pos++;
}

/* "}}" or " -}}" (the space was skipped already) */
static bool at_close(struct tparser *p)
{
	const char *s = p->s + p->pos;
	size_t left = p->len - p->pos;
	if (left >= 3 && s[0] == '-' && s[1] == '}' && s[2] == '}')
		return true;
	return left >= 2 && s[0] == '}' && s[1] == '}';
}

static bool is_ident(char c, bool first)
{
	return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

static char *lex_ident(struct tparser *p)
{
	size_t b = p->pos;
	while (p->pos < p->len && is_ident(p->s[p->pos], p->pos == b))
		p->pos++;
	return p->pos > b ? xstrndup(p->s + b, p->pos - b) : NULL;
}

/* .A.B or . alone: the names after the dots. */
static int lex_path(struct tparser *p, char ***path)
{
	*path = xcalloc(1, sizeof(char *));
	while (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		char *id = lex_ident(p);
		if (!id) {
			/* a lone "." is dot itself, "a." in the middle is an error */
			if (!(*path)[0])
				return 0;
			return perr(p, "field name expected after '.'");
		}
		strv_push(path, id);
		free(id);
	}
	return 0;
}

static int lex_string(struct tparser *p, char **out)
{
	struct buf b = BUF_INIT;
	char q = p->s[p->pos++];

	buf_putc(&b, 0);
	b.len = 0;
	while (p->pos < p->len && p->s[p->pos] != q) {
		char c = p->s[p->pos++];
		if (q == '"' && c == '\\') {
			if (p->pos >= p->len)
				break;
			c = p->s[p->pos++];
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '\\': case '"': break;
			default:
				buf_free(&b);
				return perr(p, "unknown escape in string");
			}
		} else if (q == '"' && c == '\n') {
			break;
		}
		buf_putc(&b, c);
	}
	if (p->pos >= p->len || p->s[p->pos] != q) {
		buf_free(&b);
		return perr(p, "unterminated string");
	}
	p->pos++;
	*out = buf_steal(&b);
	return 0;
}

static void targ_free(struct targ *a)
{
	strv_free(a->path);
	free(a->s);
}

static void pipe_free(struct tpipe *pp)
{
	for (size_t i = 0; i < pp->n; i++) {
		for (size_t j = 0; j < pp->cmds[i].n; j++)
			targ_free(&pp->cmds[i].args[j]);
		free(pp->cmds[i].args);
	}
	free(pp->cmds);
	pp->cmds = NULL;
	pp->n = 0;
}

static int lex_arg(struct tparser *p, struct targ *a)
{
	char c = p->s[p->pos];

	memset(a, 0, sizeof(*a));
	if (c == '.') {
		a->k = A_FIELD;
		return lex_path(p, &a->path);
	}
	if (c == '$') {
		p->pos++;
		a->k = A_ROOT_FIELD;
		return lex_path(p, &a->path);
	}
	if (c == '"' || c == '`') {
		a->k = A_STR;
		return lex_string(p, &a->s);
	}
	if (c == '-' || isdigit((unsigned char)c)) {
		size_t b = p->pos++;
		while (p->pos < p->len && (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '.'))
			p->pos++;
		a->k = A_STR;
		a->s = xstrndup(p->s + b, p->pos - b);
		return 0;
	}
	if (is_ident(c, true)) {
		a->s = lex_ident(p);
		a->k = strcmp(a->s, "true") == 0 || strcmp(a->s, "false") == 0 ? A_BOOL : A_FUNC;
		return 0;
	}
	return perr(p, "unexpected character in action");
}

/* Everything up to the closing "}}" (with its trim marker: *trim). */
static int parse_pipe(struct tparser *p, struct tpipe *pp, bool *trim)
{
	struct tcmd cur = { 0 };

	memset(pp, 0, sizeof(*pp));
	for (;;) {
		skip_space(p);
		if (p->pos >= p->len) {
			for (size_t j = 0; j < cur.n; j++)
				targ_free(&cur.args[j]);
			free(cur.args);
			pipe_free(pp);
			return perr(p, "unclosed action (no '}}')");
		}
		bool close = at_close(p);
		if (close || p->s[p->pos] == '|') {
			if (!cur.n) {
				pipe_free(pp);
				return perr(p, close && !pp->n ? "empty action" : "missing command around '|'");
			}
			pp->cmds = xrealloc(pp->cmds, (pp->n + 1) * sizeof(*pp->cmds));
			pp->cmds[pp->n++] = cur;
			memset(&cur, 0, sizeof(cur));
			if (close) {
				*trim = p->s[p->pos] == '-';
				p->pos += *trim ? 3 : 2;
				return 0;
			}
			p->pos++;
			continue;
		}
		struct targ a;
		int r = lex_arg(p, &a);
		if (r < 0) {
			targ_free(&a);
			for (size_t j = 0; j < cur.n; j++)
				targ_free(&cur.args[j]);
			free(cur.args);
			pipe_free(pp);
			return r;
		}
		cur.args = xrealloc(cur.args, (cur.n + 1) * sizeof(*cur.args));
		cur.args[cur.n++] = a;
	}
}

static void list_free(struct tlist *l);

static void node_free(struct tnode *n)
{
	free(n->text);
	pipe_free(&n->pipe);
	list_free(&n->body);
	list_free(&n->alt);
}

static void list_free(struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		node_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static struct tnode *list_add(struct tlist *l, enum tnode_kind k)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct tnode *n = &l->v[l->n++];
	memset(n, 0, sizeof(*n));
	n->k = k;
	return n;
}

/* A keyword right after "{{" (and its trim marker): if, else, end... */
static bool keyword(struct tparser *p, const char *kw)
{
	size_t n = strlen(kw);
	if (p->pos + n > p->len || memcmp(p->s + p->pos, kw, n) != 0)
		return false;
	if (p->pos + n < p->len && is_ident(p->s[p->pos + n], false))
		return false;
	p->pos += n;
	return true;
}

static int expect_close(struct tparser *p, bool *trim)
{
	skip_space(p);
	if (!at_close(p))
		return perr(p, "'}}' expected");
	*trim = p->s[p->pos] == '-';
	p->pos += *trim ? 3 : 2;
	return 0;
}

static void trim_left(struct tlist *l)
{
	if (!l->n || l->v[l->n - 1].k != N_TEXT)
		return;
	char *t = l->v[l->n - 1].text;
	size_t n = strlen(t);
	while (n && isspace((unsigned char)t[n - 1]))
		t[--n] = 0;
}

static int parse_list(struct tparser *p, struct tlist *l, enum term *term, bool *trim_next);

/* if/range/with: the pipeline, the body, an optional else branch, end. */
static int parse_block(struct tparser *p, struct tlist *l, enum tnode_kind k, bool *trim_next)
{
	struct tnode *n = list_add(l, k);
	enum term t;
	bool trim = false;
	int r;

	if (++p->depth > 100)
		return perr(p, "blocks nested too deep");
	if ((r = parse_pipe(p, &n->pipe, &trim)) < 0)
		return r;
	/* n may move when the list grows: reach it through l from here on */
	size_t idx = l->n - 1;
	struct tlist body = { 0 }, alt = { 0 };
	if ((r = parse_list(p, &body, &t, &trim)) < 0)
		goto fail;
	if (t == T_ELSE && (r = parse_list(p, &alt, &t, &trim)) < 0)
		goto fail;
	if (t != T_END) {
		r = perr(p, t == T_ELSE ? "second {{else}} in a block" : "missing {{end}}");
		goto fail;
	}
	l->v[idx].body = body;
	l->v[idx].alt = alt;
	*trim_next = trim;
	p->depth--;
	return 0;
fail:
	list_free(&body);
	list_free(&alt);
	return r;
}

static int parse_list(struct tparser *p, struct tlist *l, enum term *term, bool *trim_next)
{
	bool trim = *trim_next;

	for (;;) {
		const char *open = p->pos < p->len ? strstr(p->s + p->pos, "{{") : NULL;
		size_t end = open ? (size_t)(open - p->s) : p->len;
		size_t b = p->pos;
		if (trim)
			while (b < end && isspace((unsigned char)p->s[b]))
				b++;
		trim = false;
		if (end > b)
			list_add(l, N_TEXT)->text = xstrndup(p->s + b, end - b);
		if (!open) {
			p->pos = p->len;
			*term = T_EOF;
			return 0;
		}
		p->pos = end + 2;
		if (p->pos + 1 < p->len && p->s[p->pos] == '-' && p->s[p->pos + 1] == ' ') {
			trim_left(l);
			p->pos++;
		}
		skip_space(p);
		int r;
		bool is_end = keyword(p, "end");
		if (is_end || keyword(p, "else")) {
			*term = is_end ? T_END : T_ELSE;
			return expect_close(p, trim_next);
		}
		if (keyword(p, "if"))
			r = parse_block(p, l, N_IF, &trim);
		else if (keyword(p, "range"))
			r = parse_block(p, l, N_RANGE, &trim);
		else if (keyword(p, "with"))
			r = parse_block(p, l, N_WITH, &trim);
		else
			r = parse_pipe(p, &list_add(l, N_ACTION)->pipe, &trim);
		if (r < 0)
			return r;
	}
}

int tmpl_parse(struct tmpl **out, const char *text, struct err *err)
{
	struct tparser p = { .s = text, .len = strlen(text), .err = err };
	struct tmpl *t = xcalloc(1, sizeof(*t));
	enum term term;
	bool trim = false;
	int r = parse_list(&p, &t->root, &term, &trim);

	if (r == 0 && term != T_EOF)
		r = perr(&p, term == T_END ? "{{end}} without a block" : "{{else}} without a block");
	if (r < 0) {
		tmpl_free(t);
		return r;
	}
	*out = t;
	return 0;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	list_free(&t->root);
	free(t);
}

/* ---- evaluation ---- */

enum vkind { V_TOK, V_STR, V_BOOL };

struct tval {
	enum vkind k;
	int tok;
	char *s;	/* V_STR, owned */
	bool b;
};

struct tctx {
	const struct json_doc *d;
	int root;
	struct err *err;
};

static void val_free(struct tval *v)
{
	free(v->s);
	v->s = NULL;
}

static struct tval val_str(char *s)
{
	return (struct tval){ .k = V_STR, .tok = -1, .s = s };
}

static struct tval val_bool(bool b)
{
	return (struct tval){ .k = V_BOOL, .tok = -1, .b = b };
}

/* Compact JSON of a token: its source without the whitespace outside strings. */
static void tok_json(const struct json_doc *d, int tok, struct buf *out)
{
	const struct json_tok *t = &d->toks[tok];
	if (t->type == JSON_STRING) {
		buf_append(out, d->src + t->start - 1, (size_t)(t->end - t->start + 2));
		return;
	}
	bool in_str = false;
	for (int i = t->start; i < t->end; i++) {
		char c = d->src[i];
		if (in_str) {
			buf_putc(out, c);
			if (c == '\\' && i + 1 < t->end)
				buf_putc(out, d->src[++i]);
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
			buf_putc(out, c);
		} else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
			buf_putc(out, c);
		}
	}
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Go's fmt %v of a decoded JSON value. */
static void tok_print(const struct json_doc *d, int tok, struct buf *out)
{
	const struct json_tok *t = &d->toks[tok];

	switch (t->type) {
	case JSON_STRING: {
		char *s = json_str(d, tok);
		buf_puts(out, s ? s : "");
		free(s);
		break;
	}
	case JSON_PRIMITIVE:
		if (t->end - t->start == 4 && memcmp(d->src + t->start, "null", 4) == 0)
			buf_puts(out, "<nil>");
		else
			buf_append(out, d->src + t->start, (size_t)(t->end - t->start));
		break;
	case JSON_ARRAY: {
		int n = json_array_len(d, tok);
		buf_putc(out, '[');
		for (int i = 0; i < n; i++) {
			if (i)
				buf_putc(out, ' ');
			tok_print(d, json_array_at(d, tok, i), out);
		}
		buf_putc(out, ']');
		break;
	}
	case JSON_OBJECT: {
		_cleanup_strv_ char **keys = NULL;
		for (int k = json_obj_first(d, tok); k >= 0; k = json_obj_next(d, k)) {
			char *s = json_str(d, k);
			strv_push(&keys, s ? s : "");
			free(s);
		}
		size_t n = keys ? strv_len(keys) : 0;
		if (n)
			qsort(keys, n, sizeof(*keys), key_cmp);
		buf_puts(out, "map[");
		for (size_t i = 0; i < n; i++) {
			buf_printf(out, "%s%s:", i ? " " : "", keys[i]);
			tok_print(d, json_get(d, tok, keys[i]), out);
		}
		buf_putc(out, ']');
		break;
	}
	default:
		break;
	}
}

static void val_print(const struct tctx *c, const struct tval *v, struct buf *out)
{
	if (v->k == V_STR)
		buf_puts(out, v->s);
	else if (v->k == V_BOOL)
		buf_puts(out, v->b ? "true" : "false");
	else
		tok_print(c->d, v->tok, out);
}

static char *val_string(const struct tctx *c, const struct tval *v)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "");
	val_print(c, v, &b);
	return buf_steal(&b);
}

static bool val_truth(const struct tctx *c, const struct tval *v)
{
	if (v->k == V_BOOL)
		return v->b;
	if (v->k == V_STR)
		return v->s[0] != 0;
	const struct json_tok *t = &c->d->toks[v->tok];
	const char *s = c->d->src + t->start;
	size_t n = (size_t)(t->end - t->start);
	switch (t->type) {
	case JSON_STRING:
		return n > 0;
	case JSON_ARRAY:
	case JSON_OBJECT:
		return t->size > 0;
	default:
		return !((n == 4 && memcmp(s, "null", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
			 strspn(s, "-0.") == n);
	}
}

static int walk(struct tctx *c, int tok, char **path, struct tval *out)
{
	for (char **p = path; p && *p; p++) {
		if (tok < 0 || json_type(c->d, tok) != JSON_OBJECT)
			return err_set(c->err, EINVAL, "template: .%s: not an object", *p);
		int v = json_get(c->d, tok, *p);
		if (v < 0)
			return err_set(c->err, EINVAL, "template: no field '%s'", *p);
		tok = v;
	}
	if (tok < 0)
		return err_set(c->err, EINVAL, "template: a field of a computed value");
	*out = (struct tval){ .k = V_TOK, .tok = tok };
	return 0;
}

static int eval_arg(struct tctx *c, const struct targ *a, const struct tval *dot, struct tval *out)
{
	switch (a->k) {
	case A_FIELD:
		if (!a->path[0]) {
			*out = *dot;
			if (dot->k == V_STR)
				out->s = xstrdup(dot->s);
			return 0;
		}
		if (dot->k != V_TOK)
			return err_set(c->err, EINVAL, "template: .%s of a value that is not an object", a->path[0]);
		return walk(c, dot->tok, a->path, out);
	case A_ROOT_FIELD:
		return walk(c, c->root, a->path, out);
	case A_STR:
		*out = val_str(xstrdup(a->s));
		return 0;
	case A_BOOL:
		*out = val_bool(strcmp(a->s, "true") == 0);
		return 0;
	default:
		return err_set(c->err, EINVAL, "template: function '%s' used as a value", a->s);
	}
}

static int fn_index(struct tctx *c, struct tval *v, size_t n, struct tval *out)
{
	if (n < 2 || v[0].k != V_TOK)
		return err_set(c->err, EINVAL, "template: index wants a map or list and keys");
	int tok = v[0].tok;
	for (size_t i = 1; i < n; i++) {
		_cleanup_free_ char *k = val_string(c, &v[i]);
		enum json_type ty = json_type(c->d, tok);
		if (ty == JSON_OBJECT) {
			tok = json_get(c->d, tok, k);
		} else if (ty == JSON_ARRAY) {
			char *end;
			long idx = strtol(k, &end, 10);
			if (*end || end == k || idx < 0 || idx >= json_array_len(c->d, tok))
				return err_set(c->err, EINVAL, "template: index %s out of range", k);
			tok = json_array_at(c->d, tok, (int)idx);
		} else {
			return err_set(c->err, EINVAL, "template: index of a value that is not a map or list");
		}
		/* a missing map key is Go's zero value: nothing, not an error */
		if (tok < 0) {
			*out = val_str(xstrdup(""));
			return 0;
		}
	}
	*out = (struct tval){ .k = V_TOK, .tok = tok };
	return 0;
}

static int call(struct tctx *c, const char *fn, struct tval *v, size_t n, struct tval *out)
{
	bool one = n == 1;

	if (strcmp(fn, "json") == 0 && one) {
		struct buf b = BUF_INIT;
		buf_puts(&b, "");
		if (v[0].k == V_TOK)
			tok_json(c->d, v[0].tok, &b);
		else if (v[0].k == V_BOOL)
			buf_puts(&b, v[0].b ? "true" : "false");
		else
			json_escape(&b, v[0].s, strlen(v[0].s));
		*out = val_str(buf_steal(&b));
		return 0;
	}
	if (strcmp(fn, "index") == 0)
		return fn_index(c, v, n, out);
	if ((strcmp(fn, "upper") == 0 || strcmp(fn, "lower") == 0) && one) {
		char *s = val_string(c, &v[0]);
		for (char *p = s; *p; p++)
			*p = (char)(fn[0] == 'u' ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
		*out = val_str(s);
		return 0;
	}
	if (strcmp(fn, "len") == 0 && one) {
		long len;
		if (v[0].k == V_TOK && json_type(c->d, v[0].tok) != JSON_STRING &&
		    json_type(c->d, v[0].tok) != JSON_PRIMITIVE) {
			len = c->d->toks[v[0].tok].size;
		} else if (v[0].k != V_BOOL) {
			_cleanup_free_ char *s = val_string(c, &v[0]);
			len = (long)strlen(s);
		} else {
			return err_set(c->err, EINVAL, "template: len of a boolean");
		}
		*out = val_str(xasprintf("%ld", len));
		return 0;
	}
	if (strcmp(fn, "join") == 0 && n == 2) {
		if (v[0].k != V_TOK || json_type(c->d, v[0].tok) != JSON_ARRAY)
			return err_set(c->err, EINVAL, "template: join wants a list");
		_cleanup_free_ char *sep = val_string(c, &v[1]);
		struct buf b = BUF_INIT;
		buf_puts(&b, "");
		for (int i = 0; i < json_array_len(c->d, v[0].tok); i++) {
			if (i)
				buf_puts(&b, sep);
			tok_print(c->d, json_array_at(c->d, v[0].tok, i), &b);
		}
		*out = val_str(buf_steal(&b));
		return 0;
	}
	if ((strcmp(fn, "eq") == 0 || strcmp(fn, "ne") == 0) && n == 2) {
		_cleanup_free_ char *a = val_string(c, &v[0]);
		_cleanup_free_ char *b = val_string(c, &v[1]);
		*out = val_bool((strcmp(a, b) == 0) == (fn[0] == 'e'));
		return 0;
	}
	if (strcmp(fn, "not") == 0 && one) {
		*out = val_bool(!val_truth(c, &v[0]));
		return 0;
	}
	return err_set(c->err, EINVAL, "template: unknown function '%s' or wrong number of arguments (%zu)", fn, n);
}

static int eval_pipe(struct tctx *c, const struct tpipe *pp, const struct tval *dot, struct tval *out)
{
	struct tval prev = { .k = V_STR, .tok = -1 };
	bool have_prev = false;

	for (size_t i = 0; i < pp->n; i++) {
		const struct tcmd *cmd = &pp->cmds[i];
		struct tval res = { 0 };
		int r;

		if (cmd->args[0].k == A_FUNC) {
			size_t n = cmd->n - 1 + (have_prev ? 1 : 0);
			struct tval *v = xcalloc(n ? n : 1, sizeof(*v));
			size_t got = 0;
			r = 0;
			for (size_t j = 1; j < cmd->n && r == 0; j++)
				if ((r = eval_arg(c, &cmd->args[j], dot, &v[got])) == 0)
					got++;
			if (r == 0 && have_prev) {
				v[got++] = prev;
				have_prev = false;
			}
			if (r == 0)
				r = call(c, cmd->args[0].s, v, got, &res);
			for (size_t j = 0; j < got; j++)
				val_free(&v[j]);
			free(v);
		} else if (cmd->n > 1 || have_prev) {
			r = err_set(c->err, EINVAL, "template: arguments given to a value that is not a function");
		} else {
			r = eval_arg(c, &cmd->args[0], dot, &res);
		}
		if (have_prev)
			val_free(&prev);
		if (r < 0)
			return r;
		prev = res;
		have_prev = true;
	}
	*out = prev;
	return 0;
}

static int exec_list(struct tctx *c, const struct tlist *l, const struct tval *dot, struct buf *out, int depth);

static int exec_range(struct tctx *c, const struct tnode *n, const struct tval *v, const struct tval *dot,
		      struct buf *out, int depth)
{
	if (v->k != V_TOK)
		return err_set(c->err, EINVAL, "template: range over a value that is not a list or map");
	enum json_type ty = json_type(c->d, v->tok);
	int count = 0, r = 0;
	if (ty == JSON_ARRAY) {
		for (int i = 0; i < json_array_len(c->d, v->tok) && r == 0; i++, count++) {
			struct tval e = { .k = V_TOK, .tok = json_array_at(c->d, v->tok, i) };
			r = exec_list(c, &n->body, &e, out, depth);
		}
	} else if (ty == JSON_OBJECT) {
		/* Go ranges over a map in key order */
		_cleanup_strv_ char **keys = NULL;
		for (int k = json_obj_first(c->d, v->tok); k >= 0; k = json_obj_next(c->d, k)) {
			char *s = json_str(c->d, k);
			strv_push(&keys, s ? s : "");
			free(s);
		}
		size_t nk = keys ? strv_len(keys) : 0;
		if (nk)
			qsort(keys, nk, sizeof(*keys), key_cmp);
		for (size_t i = 0; i < nk && r == 0; i++, count++) {
			struct tval e = { .k = V_TOK, .tok = json_get(c->d, v->tok, keys[i]) };
			r = exec_list(c, &n->body, &e, out, depth);
		}
	} else if (val_truth(c, v)) {
		return err_set(c->err, EINVAL, "template: range over a value that is not a list or map");
	}
	if (r == 0 && count == 0)
		r = exec_list(c, &n->alt, dot, out, depth);
	return r;
}

static int exec_list(struct tctx *c, const struct tlist *l, const struct tval *dot, struct buf *out, int depth)
{
	if (depth > 200)
		return err_set(c->err, EINVAL, "template: nested too deep");
	for (size_t i = 0; i < l->n; i++) {
		const struct tnode *n = &l->v[i];
		struct tval v;
		int r;

		if (n->k == N_TEXT) {
			buf_puts(out, n->text);
			continue;
		}
		if ((r = eval_pipe(c, &n->pipe, dot, &v)) < 0)
			return r;
		switch (n->k) {
		case N_ACTION:
			val_print(c, &v, out);
			break;
		case N_IF:
			r = exec_list(c, val_truth(c, &v) ? &n->body : &n->alt, dot, out, depth + 1);
			break;
		case N_WITH:
			r = val_truth(c, &v) ? exec_list(c, &n->body, &v, out, depth + 1) :
					       exec_list(c, &n->alt, dot, out, depth + 1);
			break;
		case N_RANGE:
			r = exec_range(c, n, &v, dot, out, depth + 1);
			break;
		default:
			break;
		}
		val_free(&v);
		if (r < 0)
			return r;
	}
	return 0;
}

int tmpl_exec(const struct tmpl *t, const struct json_doc *d, int tok, struct buf *out, struct err *err)
{
	struct tctx c = { .d = d, .root = tok, .err = err };
	struct tval dot = { .k = V_TOK, .tok = tok };

	if (tok < 0 || tok >= d->ntoks)
		return err_set(err, EINVAL, "template: no data");
	return exec_list(&c, &t->root, &dot, out, 0);
}

void tmpl_header(const struct tmpl *t, const char *(*header)(const char *field, void *arg), void *arg,
		 struct buf *out)
{
	for (size_t i = 0; i < t->root.n; i++) {
		const struct tnode *n = &t->root.v[i];
		if (n->k == N_TEXT) {
			buf_puts(out, n->text);
			continue;
		}
		if (n->k != N_ACTION)
			continue;
		const struct tcmd *cmd = &n->pipe.cmds[0];
		for (size_t j = 0; j < cmd->n; j++) {
			const struct targ *a = &cmd->args[j];
			if (a->k != A_FIELD || !a->path[0])
				continue;
			const char *h = header ? header(a->path[0], arg) : NULL;
			if (h) {
				buf_puts(out, h);
			} else {
				for (const char *p = a->path[0]; *p; p++)
					buf_putc(out, (char)toupper((unsigned char)*p));
			}
			break;
		}
	}
}

/* ---- columns ---- */

static size_t utf8_width(const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

void tmpl_columns(const char *text, size_t len, unsigned minwidth, unsigned padding, struct buf *out)
{
	size_t *width = NULL, ncol = 0;

	/* pass 1: the width of every tab-terminated cell, by column index */
	for (size_t i = 0, col = 0, cell = 0; i < len; i++) {
		if (text[i] == '\n') {
			col = 0;
			cell = i + 1;
		} else if (text[i] == '\t') {
			if (col >= ncol) {
				width = xrealloc(width, (col + 1) * sizeof(*width));
				for (size_t k = ncol; k <= col; k++)
					width[k] = 0;
				ncol = col + 1;
			}
			size_t w = utf8_width(text + cell, i - cell) + padding;
			if (w < minwidth)
				w = minwidth;
			if (w > width[col])
				width[col] = w;
			col++;
			cell = i + 1;
		}
	}
	/* pass 2: pad each tab-terminated cell to its column's width */
	for (size_t i = 0, col = 0, cell = 0; i < len; i++) {
		if (text[i] == '\n') {
			buf_append(out, text + cell, i - cell + 1);
			col = 0;
			cell = i + 1;
		} else if (text[i] == '\t') {
			size_t w = utf8_width(text + cell, i - cell);
			buf_append(out, text + cell, i - cell);
			for (; w < width[col]; w++)
				buf_putc(out, ' ');
			col++;
			cell = i + 1;
		} else if (i + 1 == len) {
			buf_append(out, text + cell, i - cell + 1);
		}
	}
	free(width);
}

char *tmpl_unescape(const char *s)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "");
	for (; *s; s++) {
		if (s[0] == '\\' && (s[1] == 't' || s[1] == 'n')) {
			buf_putc(&b, s[1] == 't' ? '\t' : '\n');
			s++;
		} else {
			buf_putc(&b, *s);
		}
	}
	return buf_steal(&b);
}
