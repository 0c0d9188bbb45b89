/* JSON reader and writer. */
#include "tests/lib/tap.h"
#include "json.h"
#include "util.h"

#include <errno.h>

static int parse(struct json_doc *d, const char *s)
{
	return json_parse(d, s, strlen(s), 10000);
}

int main(void)
{
	struct json_doc d;
	const char *src = "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:ab\",\"size\":7},"
			  "\"layers\":[{\"size\":1},{\"size\":2,\"x\":[1,2,{}]},{\"size\":3}],"
			  "\"s\":\"a\\n\\u00e9\\ud83d\\ude00\\\"\",\"t\":true,\"n\":null,\"neg\":-42}";
	t_is(parse(&d, src), 0, "parse a manifest-like document");
	int64_t v;
	t_is(json_int(&d, json_get(&d, 0, "schemaVersion"), &v), 0, "schemaVersion is an int");
	t_is(v, 2, "schemaVersion value");
	int cfg = json_get(&d, 0, "config");
	_cleanup_free_ char *dig = json_str(&d, json_get(&d, cfg, "digest"));
	t_streq(dig, "sha256:ab", "nested string lookup");
	int layers = json_get(&d, 0, "layers");
	t_is(json_array_len(&d, layers), 3, "array length");
	json_int(&d, json_get(&d, json_array_at(&d, layers, 2), "size"), &v);
	t_is(v, 3, "array index skips nested subtrees");
	_cleanup_free_ char *s = json_str(&d, json_get(&d, 0, "s"));
	t_streq(s, "a\n\xc3\xa9\xf0\x9f\x98\x80\"", "escapes and surrogate pairs decode");
	bool b = false;
	t_is(json_bool(&d, json_get(&d, 0, "t"), &b), 0, "bool parses");
	t_ok(b, "bool value");
	json_int(&d, json_get(&d, 0, "neg"), &v);
	t_is(v, -42, "negative int");
	t_is(json_get(&d, 0, "missing"), -1, "missing key gives -1");
	t_is(json_get(&d, json_get(&d, 0, "missing"), "x"), -1, "lookups chain safely through -1");
	t_ok(json_str(&d, json_get(&d, 0, "t")) == NULL, "json_str of a non-string is NULL");
	int keys = 0;
	for (int k = json_obj_first(&d, 0); k >= 0; k = json_obj_next(&d, k))
		keys++;
	t_is(keys, 7, "object iteration visits each top-level key once");
	keys = 0;
	for (int k = json_obj_first(&d, cfg); k >= 0; k = json_obj_next(&d, k))
		keys++;
	t_is(keys, 2, "nested object iteration stops at its end");
	json_free(&d);

	const char *bad[] = { "", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "tru", "01", "1.", "{\"a\":1} x",
			      "1 2", "{1:2}", "\"\\x\"", "[\"a\":1]", "{\"a\":1,}" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = parse(&d, bad[i]);
		t_ok(r < 0, "rejects malformed '%s'", bad[i]);
		if (r == 0)
			json_free(&d);
	}
	t_is(parse(&d, "\"\\u0000\""), 0, "NUL escape tokenises");
	t_ok(json_str(&d, 0) == NULL, "but json_str refuses an embedded NUL");
	json_free(&d);
	t_is(json_parse(&d, "[1,2,3,4]", 9, 3), -E2BIG, "token limit enforced");

	char **v2 = NULL;
	t_is(parse(&d, "{\"Env\":[\"A=1\",\"B=2\"],\"Cmd\":null}"), 0, "parse strv doc");
	t_is(json_strv(&d, json_get(&d, 0, "Env"), &v2), 0, "strv parses");
	t_ok(v2 && !strcmp(v2[0], "A=1") && !strcmp(v2[1], "B=2") && !v2[2], "strv content");
	strv_free(v2);
	t_is(json_strv(&d, json_get(&d, 0, "Cmd"), &v2), 0, "null strv is empty");
	t_ok(v2 == NULL, "null strv gives NULL");
	json_free(&d);

	struct buf out = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &out, false);
	jw_obj_begin(&w);
	jw_key(&w, "a"); jw_int(&w, -1);
	jw_key(&w, "b"); jw_arr_begin(&w); jw_str(&w, "x\"\n\x01"); jw_bool(&w, true); jw_null(&w);
	jw_obj_begin(&w); jw_obj_end(&w); jw_arr_end(&w);
	jw_key(&w, "c"); jw_uint(&w, 18446744073709551615ull);
	jw_obj_end(&w);
	t_streq(out.data, "{\"a\":-1,\"b\":[\"x\\\"\\n\\u0001\",true,null,{}],\"c\":18446744073709551615}",
		"writer output");
	t_is(parse(&d, out.data), 0, "writer output parses back");
	json_free(&d);
	buf_reset(&out);
	jw_init(&w, &out, true);
	jw_obj_begin(&w); jw_key(&w, "k"); jw_arr_begin(&w); jw_int(&w, 1); jw_int(&w, 2); jw_arr_end(&w); jw_obj_end(&w);
	t_streq(out.data, "{\n  \"k\": [\n    1,\n    2\n  ]\n}", "pretty writer output");
	buf_free(&out);
	return t_done();
}
