/* A container's published ports (-p, -P, `ucrt port`, inspect's Ports).
 * The requests live in network.json ("ports_request", canonical specs);
 * what is published (a free host port filled in) lives in modules/net's
 * record, which is the truth while the container's lease is alive.
 * docs/network.md describes the DNAT rules and the reserving sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "container-internal.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "net/net.h"
#include "str.h"
#include "util.h"

void ctr_ports_expose(struct ctr_net_opts *o, char *const *exposed)
{
	for (char *const *e = exposed; e && *e; e++) {
		struct net_port p, q;
		struct err err = { 0 };
		bool taken = false;
		char canon[64];

		/* ExposedPorts keys are "PORT/PROTO" (or a bare PORT): a
		 * container port only. */
		if (strchr(*e, ':') || net_port_parse(*e, &p, &err) < 0) {
			log_warn("-P: skipping exposed port \"%.40s\" of the image", *e);
			continue;
		}
		for (char **s = o->ports; s && *s && !taken; s++)
			taken = net_port_parse(*s, &q, NULL) == 0 && q.ctr_port == p.ctr_port &&
				q.proto == p.proto;
		if (taken)
			continue;
		net_port_format(&p, canon, sizeof(canon));
		strv_push(&o->ports, canon);
	}
}

static size_t ctr_ports_parse_all(char *const *specs, struct net_port **out, struct err *err)
{
	size_t n = strv_len(specs);
	struct net_port *v = xcalloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		if (net_port_parse(specs[i], &v[i], err) < 0) {
			free(v);
			*out = NULL;
			return (size_t)-1;
		}
	}
	*out = v;
	return n;
}

int ctr_ports_check(const struct ctr_net_opts *o, struct err *err)
{
	_cleanup_free_ struct net_port *v = NULL;
	size_t n = ctr_ports_parse_all(o->ports, &v, err);

	if (n == (size_t)-1)
		return -EINVAL;
	return net_ports_check(v, n, err);
}

/* filter "80", "80/udp" (tcp when no protocol, as docker port does). */
static bool ctr_port_match(const struct net_port *p, const char *filter)
{
	struct net_port f;

	if (!filter)
		return true;
	if (net_port_parse(filter, &f, NULL) < 0)
		return false;
	return f.ctr_port == p->ctr_port && f.proto == p->proto;
}

int ctr_ports_describe(const char *root, const char *id, const char *filter, struct buf *out,
		       struct err *err)
{
	_cleanup_free_ struct net_port_entry *v = NULL;
	size_t n = 0;
	int r = net_ports_list(root, id, &v, &n), k = 0;

	if (r < 0)
		return err_setx(err, -r, "reading the published ports");
	if (filter && net_port_parse(filter, &(struct net_port){ 0 }, NULL) < 0)
		return err_set(err, EINVAL, "invalid port \"%.40s\" (want PORT[/tcp|udp])", filter);
	for (size_t i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN];
		const struct net_port *p = &v[i].port;

		if (!ctr_port_match(p, filter))
			continue;
		inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
		if (filter)
			buf_printf(out, "%s:%u\n", ip, p->host_port);
		else
			buf_printf(out, "%u/%s -> %s:%u\n", p->ctr_port, net_proto_name(p->proto), ip,
				   p->host_port);
		k++;
	}
	return k;
}

void ctr_ports_inspect_json(struct json_writer *w, const char *root, const char *id)
{
	_cleanup_free_ struct net_port_entry *v = NULL;
	size_t n = 0;

	jw_obj_begin(w);
	if (net_ports_list(root, id, &v, &n) < 0)
		n = 0;
	/* docker groups the host bindings by container port. */
	for (size_t i = 0; i < n; i++) {
		char key[16], ip[INET_ADDRSTRLEN], hp[8];
		bool first = true;

		for (size_t j = 0; j < i && first; j++)
			first = !(v[j].port.ctr_port == v[i].port.ctr_port &&
				  v[j].port.proto == v[i].port.proto);
		if (!first)
			continue;
		snprintf(key, sizeof(key), "%u/%s", v[i].port.ctr_port, net_proto_name(v[i].port.proto));
		jw_key(w, key);
		jw_arr_begin(w);
		for (size_t j = i; j < n; j++) {
			if (v[j].port.ctr_port != v[i].port.ctr_port || v[j].port.proto != v[i].port.proto)
				continue;
			inet_ntop(AF_INET, &v[j].port.host_ip, ip, sizeof(ip));
			snprintf(hp, sizeof(hp), "%u", v[j].port.host_port);
			jw_obj_begin(w);
			ctr_jw_kstr(w, "HostIp", ip);
			ctr_jw_kstr(w, "HostPort", hp);
			jw_obj_end(w);
		}
		jw_arr_end(w);
	}
	jw_obj_end(w);
}

void ctr_ports_summary(const char *root, const char *id, struct buf *out)
{
	_cleanup_free_ struct net_port_entry *v = NULL;
	size_t n = 0;

	if (net_ports_list(root, id, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &v[i].port.host_ip, ip, sizeof(ip));
		buf_printf(out, "%s%s:%u->%u/%s", i ? ", " : "", ip, v[i].port.host_port, v[i].port.ctr_port,
			   net_proto_name(v[i].port.proto));
	}
}
