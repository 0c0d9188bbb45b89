/* --format for listing and inspecting commands (docs/format.md):
 *   (none)          the command's default, itself a template
 *   json            one compact JSON object per line, docker's keys
 *   table           the default table
 *   table TEMPLATE  TEMPLATE's columns aligned under a header line
 *   TEMPLATE        Go-template syntax (core/tmpl.h), once per row
 * A literal \t or \n in the text is a tab or newline, as docker has it.
 * Rows are given as the JSON object `--format json` prints, so fields and
 * JSON cannot disagree. Output is buffered: a template error prints the
 * error and nothing else. */
#ifndef UCRT_CLI_FORMAT_H
#define UCRT_CLI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

struct tmpl;

/* A column header for a field, e.g. { "ID", "CONTAINER ID" }; NULL-ended. */
struct cli_header {
	const char *field, *title;
};

struct cli_fmt {
	bool json;	/* --format json */
	bool table;
	struct tmpl *t;
	const struct cli_header *headers;
	struct buf out;
	int rows;
};

/* 0, or prints why the format is bad and returns -1. spec NULL: deflt. */
int cli_fmt_init(struct cli_fmt *f, const char *spec, const char *deflt, const struct cli_header *headers);
/* One row as a JSON object text. 0, or prints the template error, -1. */
int cli_fmt_row(struct cli_fmt *f, const char *json, size_t len);
/* Print what was buffered (the header, aligned, first for tables). */
void cli_fmt_end(struct cli_fmt *f);
void cli_fmt_free(struct cli_fmt *f);

/* docker's human sizes: 12.3MB, 512kB, 0B (powers of 1000, 3 digits). */
void cli_human_size(char *out, size_t n, double bytes);
/* "5 seconds", "2 minutes", "3 hours", "4 days" since t. */
void cli_duration(char *out, size_t n, int64_t since);
/* The same with " ago" ("" for 0). */
void cli_ago(char *out, size_t n, int64_t since);
/* RFC 3339 in UTC ("2026-12-02T07:16:35Z"), "" for 0. */
void cli_rfc3339(char *out, size_t n, int64_t unix_seconds);

#endif
