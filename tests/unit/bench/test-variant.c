/* --variant 'NAME: OPTIONS': names, quoting without expansion, options
 * that take values, refused options, and what errors say. */
#include <errno.h>
#include <string.h>

#include "bench/bench.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"

static int argv_is(char **got, const char *const *want)
{
	size_t n = 0;

	for (; want[n]; n++)
		if (!got || !got[n] || strcmp(got[n], want[n]) != 0)
			return 0;
	return (got ? got[n] == NULL : n == 0);
}

static int bad(const char *s, const char *msg_part)
{
	struct bench_variant v;
	struct err e = { 0 };
	int r = bench_variant_parse(s, &v, &e);

	if (r == 0) {
		bench_variant_free(&v);
		return 0;
	}
	if (!strstr(e.msg, msg_part)) {
		t_diag("%s -> %s", s, e.msg);
		return 0;
	}
	return r == -EINVAL || r == -E2BIG;
}

int main(void)
{
	struct bench_variant v;
	struct err e = { 0 };

	t_plan(16);
	t_is(bench_variant_parse("template:", &v, &e), 0, "'template:' parses");
	t_ok(!strcmp(v.name, "template") && v.args == NULL && v.kind == BENCH_K_UCRT, "... no options");
	bench_variant_free(&v);

	t_is(bench_variant_parse("big-mem.2: --memory 512M --cpus=2  -e 'A=x y' -e \"B=\\\"q\\\"\" -m1G", &v, &e), 0,
	     "options with values and quoting");
	t_ok(argv_is(v.args, (const char *const[]){ "--memory", "512M", "--cpus=2", "-e", "A=x y", "-e",
						     "B=\"q\"", "-m1G", NULL }),
	     "... split as sh would, without expansion");
	bench_variant_free(&v);
	t_is(bench_variant_parse("k: --kernel /a\\ b/vmlinux -e $HOME", &v, &e), 0, "backslash and $");
	t_ok(argv_is(v.args, (const char *const[]){ "--kernel", "/a b/vmlinux", "-e", "$HOME", NULL }),
	     "... '$HOME' stays literal");
	bench_variant_free(&v);

	t_ok(bad("no colon", "NAME: OPTIONS"), "no colon");
	t_ok(bad(": --cpus 2", "1 to 32"), "empty name");
	t_ok(bad("a b: --cpus 2", "only letters"), "blank in name");
	t_ok(bad("a: --memory", "needs a value"), "option without its value");
	t_ok(bad("a: --rm", "would change"), "--rm refused");
	t_ok(bad("a: -dit", "would change"), "short cluster with -d refused");
	t_ok(bad("a: --parallel=4", "would change"), "--parallel=4 refused");
	t_ok(bad("a: busybox", "not an option"), "a bare word is not an option");
	t_ok(bad("a: -e 'open", "unterminated"), "unterminated quote");
	t_ok(bad("a: -e x\\", "backslash"), "trailing backslash");
	return t_failed ? 1 : 0;
}
