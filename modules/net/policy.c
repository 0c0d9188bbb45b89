/* Text forms the network module accepts: addresses, CIDRs, the egress
 * policy and resolv.conf. Pure functions, fuzzed by tests/fuzz/fuzz-net.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "str.h"
#include "util.h"
#include "net/net-internal.h"

int net_parse_ip4(const char *s, struct in_addr *out)
{
	/* inet_pton(AF_INET) takes dotted quads only, no "10.1" shorthands. */
	if (!s || inet_pton(AF_INET, s, out) != 1)
		return -EINVAL;
	return 0;
}

static int parse_prefix(const char *s, unsigned *out)
{
	uint64_t v;

	if (!*s || strlen(s) > 2 || str_to_u64(s, &v) < 0 || v > 32)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int net_parse_cidr(const char *s, struct in_addr *net, unsigned *prefix)
{
	_cleanup_free_ char *copy = xstrdup(s);
	char *slash = strchr(copy, '/');

	if (!slash)
		return -EINVAL;
	*slash = 0;
	if (net_parse_ip4(copy, net) < 0 || parse_prefix(slash + 1, prefix) < 0)
		return -EINVAL;
	if (net->s_addr & ~net_mask(*prefix))
		return -EINVAL;
	return 0;
}

/* One "CIDR[:PORT]" item; a bare address means /32. */
static int parse_rule(char *item, struct net_rule *r)
{
	char *colon = strchr(item, ':');
	char *slash;
	uint64_t port = 0;

	if (colon) {
		*colon = 0;
		if (str_to_u64(colon + 1, &port) < 0 || port == 0 || port > 65535)
			return -EINVAL;
	}
	r->port = (uint16_t)port;
	slash = strchr(item, '/');
	if (!slash) {
		r->prefix = 32;
		return net_parse_ip4(item, &r->net);
	}
	return net_parse_cidr(item, &r->net, &r->prefix);
}

int net_policy_parse(const char *s, struct net_policy *p, struct err *err)
{
	_cleanup_strv_ char **items = NULL;

	memset(p, 0, sizeof(*p));
	if (!s || strcmp(s, "allow-all") == 0)
		return 0;
	if (strcmp(s, "deny-all") == 0) {
		p->mode = NET_POLICY_DENY_ALL;
		return 0;
	}
	if (!str_startswith(s, "allow="))
		return err_set(err, EINVAL, "network policy \"%.100s\": expected allow-all, "
			       "deny-all or allow=CIDR[:PORT],...", s);
	p->mode = NET_POLICY_ALLOW_LIST;
	items = str_split(s + strlen("allow="), ',');
	for (size_t i = 0; items[i]; i++) {
		_cleanup_free_ char *item = xstrdup(items[i]);

		if (p->nrules == NET_POLICY_MAX_RULES)
			return err_set(err, E2BIG, "network policy: more than %d rules",
				       NET_POLICY_MAX_RULES);
		if (parse_rule(item, &p->rules[p->nrules]) < 0)
			return err_set(err, EINVAL, "network policy: bad rule \"%.100s\" "
				       "(want CIDR[:PORT], host bits zero)", items[i]);
		p->nrules++;
	}
	if (p->nrules == 0)
		return err_set(err, EINVAL, "network policy: allow= needs at least one rule");
	return 0;
}

void net_policy_format(const struct net_policy *p, char *buf, size_t len)
{
	size_t off;

	if (len == 0)
		return;
	buf[0] = 0;
	if (p->mode != NET_POLICY_ALLOW_LIST) {
		snprintf(buf, len, "%s", p->mode == NET_POLICY_DENY_ALL ? "deny-all" : "allow-all");
		return;
	}
	off = (size_t)snprintf(buf, len, "allow=");
	for (unsigned i = 0; i < p->nrules && off < len; i++) {
		char a[INET_ADDRSTRLEN];
		const struct net_rule *r = &p->rules[i];

		inet_ntop(AF_INET, &r->net, a, sizeof(a));
		off += (size_t)snprintf(buf + off, len - off, "%s%s/%u", i ? "," : "", a, r->prefix);
		if (r->port && off < len)
			off += (size_t)snprintf(buf + off, len - off, ":%u", r->port);
	}
}

/* A loopback resolver (systemd-resolved's 127.0.0.53, dnsmasq on
 * 127.0.0.1, ::1) is unreachable from inside the VM. */
static bool is_loopback_ns(const char *a)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, a, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, a, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return true;	/* not an address at all: skip it too */
}

unsigned net_resolv_parse(const char *text, char out[][INET6_ADDRSTRLEN], unsigned max)
{
	_cleanup_strv_ char **lines = str_split(text, '\n');
	unsigned n = 0;

	for (size_t i = 0; lines[i] && n < max; i++) {
		char *p = lines[i], *e;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!str_startswith(p, "nameserver") || !isblank((unsigned char)p[10]))
			continue;
		p += 10;
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e && !isspace((unsigned char)*e) && *e != '#' && *e != ';'; e++)
			;
		*e = 0;
		/* A zone index (fe80::1%eth0) means nothing inside the VM. */
		if (strchr(p, '%') || e - p >= INET6_ADDRSTRLEN || is_loopback_ns(p))
			continue;
		memcpy(out[n++], p, (size_t)(e - p) + 1);
	}
	return n;
}
