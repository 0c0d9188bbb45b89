/* Template parser and evaluator: any --format text, never a crash; a
 * parsed template runs against a fixed document and its own header. */
#include "tmpl.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char data[] = "{\"ID\":\"abc\",\"N\":1,\"L\":[\"a\",{\"b\":null}],\"M\":{\"k\":\"v\",\"o\":{}},\"T\":true}";

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	static struct json_doc doc;
	static int ready;
	if (!ready) {
		if (json_parse(&doc, data, strlen(data), 100) < 0)
			abort();
		ready = 1;
	}
	char *text = xstrndup((const char *)in, size);
	struct tmpl *t;
	if (tmpl_parse(&t, text, NULL) == 0) {
		struct buf b = BUF_INIT;
		tmpl_exec(t, &doc, 0, &b, NULL);
		tmpl_header(t, NULL, NULL, &b);
		buf_free(&b);
		tmpl_free(t);
	}
	char *u = tmpl_unescape(text);
	struct buf o = BUF_INIT;
	tmpl_columns(u, strlen(u), 10, 3, &o);
	buf_free(&o);
	free(u);
	free(text);
	return 0;
}
