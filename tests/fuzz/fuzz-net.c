/* The network module's parsers: --network-policy, resolv.conf, the lease
 * file, a CIDR (--subnet). The first byte picks the parser; whatever parses must format back
 * and parse again to the same thing. */
#include "log.h"
#include "util.h"
#include "net/net-internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_policy(const char *s)
{
	struct net_policy p, q;
	char buf[2048];

	if (net_policy_parse(s, &p, NULL) < 0)
		return;
	net_policy_format(&p, buf, sizeof(buf));
	if (net_policy_parse(buf, &q, NULL) < 0 || q.mode != p.mode || q.nrules != p.nrules)
		abort();
}

static void fuzz_leases(const char *s)
{
	struct net_lease *l = NULL, *m = NULL;
	size_t n, k;
	char *text;

	ipam_parse(s, &l, &n);
	text = ipam_format(l, n);
	ipam_parse(text, &m, &k);
	if (k != n || (n && memcmp(l, m, n * sizeof(*l)) != 0))
		abort();
	free(text);
	free(l);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ns[NET_MAX_DNS][INET6_ADDRSTRLEN];
	char *s;

	if (size < 1)
		return 0;
	log_set_level(LOG_ERROR);
	s = xstrndup((const char *)data + 1, size - 1);
	struct in_addr a;
	unsigned prefix;
	switch (data[0] % 4) {
	case 0:
		fuzz_policy(s);
		break;
	case 1:
		net_resolv_parse(s, ns, NET_MAX_DNS);
		break;
	case 2:
		fuzz_leases(s);
		break;
	default:
		if (net_parse_cidr(s, &a, &prefix) == 0 && prefix > 32)
			abort();
		break;
	}
	free(s);
	return 0;
}
