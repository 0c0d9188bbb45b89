/* --variant 'NAME: OPTIONS'. The options become argv entries of a child
 * `ucrt run`, never a shell command line: quoting is undone here and
 * nothing is expanded. Options that would change what is measured (a
 * detached or interactive run, several instances, a kept container) are
 * refused, so every variant is one foreground `run --rm`. */
#include <errno.h>
#include <string.h>

#include "bench/bench.h"
#include "buf.h"
#include "err.h"
#include "str.h"
#include "util.h"

#define BENCH_NAME_MAX 32u
#define BENCH_ARGS_MAX 64u

static const char *const bench_refused[] = {
	"--rm", "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--name", "--parallel",
	"--max-concurrent", "--output-dir", "--help", "-h", "--pull", "--rootfs", "-q", "--quiet",
};

static bool bench_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* One option against the refused list: "--name=x" and "-dit" count too. */
static const char *bench_refused_opt(const char *a)
{
	size_t n = strcspn(a, "=");

	for (size_t i = 0; i < ARRAY_SIZE(bench_refused); i++) {
		const char *r = bench_refused[i];
		if (strlen(r) == n && strncmp(a, r, n) == 0)
			return r;
	}
	if (a[0] == '-' && a[1] != '-') {
		for (const char *p = a + 1; *p; p++) {
			if (strchr("ewum", *p))
				break;	/* the rest is its value */
			if (strchr("dithq", *p))
				return a;
		}
	}
	return NULL;
}

/* Blank-separated words with '...', "..." and backslash, as sh reads
 * them (without expansion). */
static int bench_split(const char *s, char ***out, struct err *err)
{
	struct buf w = BUF_INIT;
	bool in_word = false;
	char q = 0;

	*out = NULL;
	for (;; s++) {
		char c = *s;

		if (!c) {
			if (q) {
				buf_free(&w);
				return err_set(err, EINVAL, "unterminated %c quote", q);
			}
			break;
		}
		if (q == '\'') {
			if (c == '\'')
				q = 0;
			else
				buf_putc(&w, c);
			continue;
		}
		if (c == '\\') {
			if (!s[1]) {
				buf_free(&w);
				return err_set(err, EINVAL, "a backslash ends the options");
			}
			if (q == '"' && !strchr("\"\\$`", s[1]))
				buf_putc(&w, c);
			buf_putc(&w, *++s);
			in_word = true;
			continue;
		}
		if (q == '"') {
			if (c == '"')
				q = 0;
			else
				buf_putc(&w, c);
			continue;
		}
		if (c == '\'' || c == '"') {
			q = c;
			in_word = true;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word) {
				strv_push(out, w.data ? w.data : "");
				buf_reset(&w);
				in_word = false;
			}
			continue;
		}
		buf_putc(&w, c);
		in_word = true;
	}
	if (in_word)
		strv_push(out, w.data ? w.data : "");
	buf_free(&w);
	if (strv_len(*out) > BENCH_ARGS_MAX)
		return err_set(err, E2BIG, "more than %u options", BENCH_ARGS_MAX);
	return 0;
}

/* `ucrt run` options that take a value (the next word unless "--opt=v");
 * an unknown option is left for the child `ucrt run` to refuse. */
static const char *const bench_with_value[] = {
	"-e", "--env", "--env-file", "-w", "--workdir", "-u", "--user", "--entrypoint",
	"--hostname", "--cpus", "-m", "--memory", "--kernel", "--accel", "--tls-verify",
	"--network", "--ip", "--dns", "--network-policy",
};

static int bench_variant_check(char **args, struct err *err)
{
	for (size_t i = 0; args && args[i]; i++) {
		const char *a = args[i], *r;

		if (a[0] != '-' || !a[1])
			return err_set(err, EINVAL, "'%s' is not an option (IMAGE and CMD are the bench's)", a);
		if ((r = bench_refused_opt(a)))
			return err_set(err, EINVAL, "'%s' would change what is measured", r);
		if (strchr(a, '=') || str_index(a, bench_with_value, ARRAY_SIZE(bench_with_value)) < 0)
			continue;
		if (!args[i + 1])
			return err_set(err, EINVAL, "option '%s' needs a value", a);
		i++;
	}
	return 0;
}

int bench_variant_parse(const char *s, struct bench_variant *out, struct err *err)
{
	const char *colon = strchr(s, ':');
	size_t n;
	int r;

	*out = (struct bench_variant){ .kind = BENCH_K_UCRT };
	if (!colon)
		return err_set(err, EINVAL, "variant '%.64s': want 'NAME: OPTIONS'", s);
	n = (size_t)(colon - s);
	if (!n || n > BENCH_NAME_MAX)
		return err_set(err, EINVAL, "variant name must have 1 to %u characters", BENCH_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (!bench_name_char(s[i]))
			return err_set(err, EINVAL, "variant name '%.*s': only letters, digits, '.', '_' and '-'",
				       (int)n, s);
	out->name = xstrndup(s, n);
	if ((r = bench_split(colon + 1, &out->args, err)) < 0 ||
	    (r = bench_variant_check(out->args, err)) < 0) {
		err_wrap(err, "variant '%s'", out->name);
		bench_variant_free(out);
		return r;
	}
	return 0;
}

void bench_variant_free(struct bench_variant *v)
{
	free(v->name);
	strv_free(v->args);
	*v = (struct bench_variant){ 0 };
}
