/* WWW-Authenticate parsing. */
#include "tests/lib/tap.h"

#include "registry/registry.h"

int main(void)
{
	struct reg_challenge c;
	t_is(reg_challenge_parse("Bearer realm=\"https://auth.example/token\",service=\"reg\",scope=\"repository:a/b:pull\"", &c), 0, "bearer parses");
	t_streq(c.scheme, "Bearer", "scheme");
	t_streq(c.realm, "https://auth.example/token", "realm");
	t_streq(c.service, "reg", "service");
	t_streq(c.scope, "repository:a/b:pull", "scope");
	reg_challenge_free(&c);
	t_is(reg_challenge_parse("Basic realm=\"x \\\"q\\\"\"", &c), 0, "basic with escapes");
	t_streq(c.realm, "x \"q\"", "escaped realm");
	reg_challenge_free(&c);
	t_ok(reg_challenge_parse("Bearer realm=\"unterminated", &c) < 0, "unterminated quote rejected");
	t_ok(reg_challenge_parse("", &c) < 0, "empty rejected");
	return t_done();
}
