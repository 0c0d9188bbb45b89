/* Output templates in Go text/template syntax, the subset docker users
 * write in --format: {{.Field.Sub}}, {{.}}, {{$.X}}, {{json .X}},
 * {{index .M "k"}}, {{join .L ","}}, {{upper/lower/len X}}, {{eq/ne A B}},
 * pipelines (X | f), {{if}}/{{else}}/{{with}}/{{range}}/{{end}}, string
 * and number literals and the {{- -}} trim markers.
 *
 * Data is a JSON document (json.h): a command builds each row as JSON once
 * and the same object serves `--format json`, `{{json .}}` and fields, so
 * keys and values cannot drift between the two. A missing key is an error
 * naming it (a typo must not print an empty column); JSON null prints
 * "<nil>", arrays print as [a b], objects as map[k:v] with sorted keys, as
 * Go prints them. */
#ifndef UCRT_TMPL_H
#define UCRT_TMPL_H

#include <stdbool.h>
#include "buf.h"
#include "err.h"
#include "json.h"

struct tmpl;

/* Parse text (no escape processing: the caller turns a literal "\t" into
 * a tab if it wants docker's behaviour). 0 or -EINVAL with err naming the
 * offset and what was expected. */
int tmpl_parse(struct tmpl **out, const char *text, struct err *err);
void tmpl_free(struct tmpl *t);

/* Append the template evaluated with dot = token tok of d. 0 or -EINVAL
 * (missing key, wrong type for a function); out may hold partial text
 * then, the caller discards it. */
int tmpl_exec(const struct tmpl *t, const struct json_doc *d, int tok, struct buf *out, struct err *err);

/* The template's header line for `table` formats: each top-level action
 * whose first operand is a field .Name prints header(Name, arg) (NULL from
 * header: Name upper-cased); other actions print nothing, text stays. */
void tmpl_header(const struct tmpl *t, const char *(*header)(const char *field, void *arg), void *arg,
		 struct buf *out);

/* Align tab-separated cells into columns, as Go's text/tabwriter with
 * flags 0: a column is as wide as its widest tab-terminated cell plus
 * padding, at least minwidth; the last cell of a line is not padded.
 * Widths count UTF-8 characters. */
void tmpl_columns(const char *text, size_t len, unsigned minwidth, unsigned padding, struct buf *out);

/* docker's --format pre-processing: the two-character sequences \t and \n
 * become a tab and a newline (malloc'ed copy). */
char *tmpl_unescape(const char *s);

#endif
