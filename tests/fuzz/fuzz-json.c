/* JSON reader: any bytes, never a crash; every string token decodes or is
 * refused, lookups stay in bounds. */
#include "json.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc d;
	char *copy = xstrndup((const char *)data, size);
	if (json_parse(&d, copy, size, 4096) == 0) {
		for (int i = 0; i < d.ntoks; i++) {
			free(json_str(&d, i));
			int64_t v;
			json_int(&d, i, &v);
			json_get(&d, i, "config");
			for (int k = json_obj_first(&d, i); k >= 0; k = json_obj_next(&d, k))
				;
			int n = json_array_len(&d, i);
			if (n > 0)
				json_array_at(&d, i, n - 1);
			char **sv = NULL;
			json_strv(&d, i, &sv);
			strv_free(sv);
		}
		json_free(&d);
	}
	free(copy);
	return 0;
}
