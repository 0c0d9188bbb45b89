/* -p specs (net_port_parse) and the published-ports record (ports_parse).
 * The first byte picks the parser; whatever parses must format back and
 * parse again to the same thing. */
#include "log.h"
#include "util.h"
#include "net/net-internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_spec(const char *s)
{
	struct net_port p, q;
	char buf[64];

	if (net_port_parse(s, &p, NULL) < 0)
		return;
	net_port_format(&p, buf, sizeof(buf));
	if (net_port_parse(buf, &q, NULL) < 0 || memcmp(&p, &q, sizeof(p)) != 0)
		abort();
}

static void fuzz_record(const char *s)
{
	struct net_port_entry *a = NULL, *b = NULL;
	size_t n, k;
	char *text;

	ports_parse(s, &a, &n);
	text = ports_format(a, n);
	ports_parse(text, &b, &k);
	if (k != n || (n && memcmp(a, b, n * sizeof(*a)) != 0))
		abort();
	free(text);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	log_set_level(LOG_ERROR);
	s = xstrndup((const char *)data + 1, size - 1);
	if (data[0] & 1)
		fuzz_record(s);
	else
		fuzz_spec(s);
	free(s);
	return 0;
}
