/* Published ports (-p): the parser, the reservation sockets and the
 * record of every published port in <root>/net/ports, one line each:
 *
 *     tcp|udp <host ip> <host port> <container ip> <container port> <owner>
 *
 * Like the lease file, the record changes only under flock(<root>/net/lock)
 * and is replaced whole; after every change the nftables table is rebuilt
 * from it (nat.c), so the DNAT rules are always exactly the recorded ports.
 * A port lives as long as its owner's lease on that address: net_gc drops
 * the ports of dead leases and their rules with them. While the VM runs,
 * its owner process also holds a bound socket on each host port, so no
 * other program (or container) can take the port, and a crash releases it
 * with the process. docs/network.md. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "net/net-internal.h"

#define PORTS "ports"
#define PORTS_MAX (1u << 20)

const char *net_proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static int port_num(const char *s, size_t len, bool zero_ok, uint16_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > 65535 || (v == 0 && !zero_ok))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int net_port_parse(const char *s, struct net_port *p, struct err *err)
{
	char buf[64];
	char *proto, *parts[3];
	size_t np = 0;

	memset(p, 0, sizeof(*p));
	p->proto = IPPROTO_TCP;
	if (strlen(s) >= sizeof(buf) || !s[0])
		return err_set(err, EINVAL, "invalid port \"%.64s\" (want [IP:][HOSTPORT:]PORT[/tcp|udp])", s);
	strcpy(buf, s);
	proto = strchr(buf, '/');
	if (proto) {
		*proto++ = 0;
		if (strcmp(proto, "tcp") == 0)
			p->proto = IPPROTO_TCP;
		else if (strcmp(proto, "udp") == 0)
			p->proto = IPPROTO_UDP;
		else
			return err_set(err, EINVAL, "invalid port \"%s\": protocol \"%.10s\" (want tcp or udp)",
				       s, proto);
	}
	if (buf[0] == '[')
		return err_set(err, EINVAL, "invalid port \"%s\": IPv6 host addresses are not supported", s);
	for (char *c = buf, *start = buf;; c++) {
		if (*c == ':' || *c == 0) {
			bool end = *c == 0;
			if (np == 3)
				return err_set(err, EINVAL, "invalid port \"%s\" (want [IP:][HOSTPORT:]PORT[/tcp|udp])", s);
			*c = 0;
			parts[np++] = start;
			start = c + 1;
			if (end)
				break;
		}
	}
	if (strchr(s, '-'))
		return err_set(err, EINVAL, "invalid port \"%s\": port ranges are not supported", s);
	if (port_num(parts[np - 1], strlen(parts[np - 1]), false, &p->ctr_port) < 0)
		return err_set(err, EINVAL, "invalid port \"%s\": container port \"%.10s\" (want 1..65535)",
			       s, parts[np - 1]);
	if (np >= 2 && parts[np - 2][0] &&
	    port_num(parts[np - 2], strlen(parts[np - 2]), false, &p->host_port) < 0)
		return err_set(err, EINVAL, "invalid port \"%s\": host port \"%.10s\" (want 1..65535)",
			       s, parts[np - 2]);
	if (np == 2 && !parts[0][0])
		return err_set(err, EINVAL, "invalid port \"%s\": empty host port", s);
	if (np == 3 && net_parse_ip4(parts[0], &p->host_ip) < 0)
		return err_set(err, EINVAL, "invalid port \"%s\": host address \"%.40s\" (want IPv4)",
			       s, parts[0]);
	return 0;
}

void net_port_format(const struct net_port *p, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	const char *pr = net_proto_name(p->proto);

	inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
	if (p->host_ip.s_addr && p->host_port)
		snprintf(buf, len, "%s:%u:%u/%s", ip, p->host_port, p->ctr_port, pr);
	else if (p->host_ip.s_addr)
		snprintf(buf, len, "%s::%u/%s", ip, p->ctr_port, pr);
	else if (p->host_port)
		snprintf(buf, len, "%u:%u/%s", p->host_port, p->ctr_port, pr);
	else
		snprintf(buf, len, "%u/%s", p->ctr_port, pr);
}

/* ---- the record ---- */

static int parse_line(const char *line, struct net_port_entry *e)
{
	char proto[8], hip[20], cip[20], owner[80];
	unsigned hport, cport;
	int end = 0;

	memset(e, 0, sizeof(*e));
	if (sscanf(line, "%7s %19s %u %19s %u %79s%n", proto, hip, &hport, cip, &cport, owner, &end) != 6 ||
	    line[end] != 0)
		return -EINVAL;
	if (strcmp(proto, "tcp") == 0)
		e->port.proto = IPPROTO_TCP;
	else if (strcmp(proto, "udp") == 0)
		e->port.proto = IPPROTO_UDP;
	else
		return -EINVAL;
	if (net_parse_ip4(hip, &e->port.host_ip) < 0 || net_parse_ip4(cip, &e->ctr_ip) < 0 ||
	    hport == 0 || hport > 65535 || cport == 0 || cport > 65535 || strlen(owner) > 64)
		return -EINVAL;
	for (const char *c = owner; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_.-", *c))
			return -EINVAL;
	e->port.host_port = (uint16_t)hport;
	e->port.ctr_port = (uint16_t)cport;
	strcpy(e->owner, owner);
	return 0;
}

int ports_parse(const char *text, struct net_port_entry **out, size_t *n)
{
	_cleanup_strv_ char **lines = str_split(text, '\n');
	size_t cnt = strv_len(lines), k = 0;
	struct net_port_entry *v = xcalloc(cnt + 1, sizeof(*v));

	for (size_t i = 0; i < cnt; i++) {
		if (!lines[i][0])
			continue;
		if (parse_line(lines[i], &v[k]) < 0) {
			log_warn("net: ignoring malformed port line %zu", i + 1);
			continue;
		}
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

char *ports_format(const struct net_port_entry *v, size_t n)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		char hip[INET_ADDRSTRLEN], cip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &v[i].port.host_ip, hip, sizeof(hip));
		inet_ntop(AF_INET, &v[i].ctr_ip, cip, sizeof(cip));
		buf_printf(&b, "%s %s %u %s %u %s\n", net_proto_name(v[i].port.proto), hip,
			   v[i].port.host_port, cip, v[i].port.ctr_port, v[i].owner);
	}
	return buf_steal(&b);
}

int ports_load(int state_fd, struct net_port_entry **v, size_t *n)
{
	_cleanup_free_ char *text = NULL;
	int r = read_file_at(state_fd, PORTS, PORTS_MAX, &text, NULL);

	if (r == -ENOENT) {
		*v = xcalloc(1, sizeof(**v));
		*n = 0;
		return 0;
	}
	if (r < 0)
		return r;
	return ports_parse(text, v, n);
}

static int ports_store(int state_fd, const struct net_port_entry *v, size_t n)
{
	_cleanup_free_ char *text = ports_format(v, n);

	return write_file_atomic_at(state_fd, PORTS, text, strlen(text), 0644);
}

/* Store the record and make the table match it. */
static int ports_commit(struct net_host *h, const struct net_port_entry *v, size_t n,
			struct err *err)
{
	int r = ports_store(h->state_fd, v, n);

	if (r < 0)
		return err_setx(err, -r, "writing %s", PORTS);
	return h->nat ? nat_setup(h, v, n, err) : 0;
}

static bool entry_leased(const struct net_port_entry *e, const struct net_lease *l, size_t nl)
{
	for (size_t i = 0; i < nl; i++)
		if (l[i].addr.s_addr == e->ctr_ip.s_addr && strcmp(l[i].owner, e->owner) == 0)
			return true;
	return false;
}

int ports_gc(struct net_host *h, const struct net_lease *leases, size_t nl, unsigned *removed)
{
	_cleanup_free_ struct net_port_entry *v = NULL;
	struct err e = { 0 };
	size_t n, k = 0;
	int r = ports_load(h->state_fd, &v, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (entry_leased(&v[i], leases, nl))
			v[k++] = v[i];
		else
			log_debug("net: dropping port %u/%s of %s (its container is gone)",
				  v[i].port.host_port, net_proto_name(v[i].port.proto), v[i].owner);
	}
	*removed += (unsigned)(n - k);
	if (k == n)
		return 0;
	r = ports_commit(h, v, k, &e);
	if (r < 0)
		log_warn("net: %s", err_msg(&e));
	return r;
}

/* ---- one VM's ports ---- */

static int port_bind(const struct net_port *p, uint16_t *got, struct err *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = p->host_ip,
				  .sin_port = htons(p->host_port) };
	socklen_t len = sizeof(sa);
	char what[48];
	int fd = socket(AF_INET, (p->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);

	net_port_format(p, what, sizeof(what));
	if (fd < 0)
		return err_setx(err, errno, "socket for port %s", what);
	/* No SO_REUSEADDR: with it, two bound (not listening) TCP sockets
	 * could share the port, and the reservation would hold nothing. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		char ip[INET_ADDRSTRLEN];

		close(fd);
		inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
		if (e == EADDRINUSE)
			return err_set(err, EADDRINUSE, "port %s:%u/%s is already in use on the host",
				       ip, p->host_port, net_proto_name(p->proto));
		if (e == EADDRNOTAVAIL)
			return err_set(err, EADDRNOTAVAIL, "port %s: %s is not an address of this host",
				       what, ip);
		return err_setx(err, e, "reserving port %s", what);
	}
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return err_setx(err, errno, "getsockname for port %s", what);
	}
	*got = ntohs(sa.sin_port);
	return fd;
}

int net_ports_check(const struct net_port *p, size_t n, struct err *err)
{
	uint16_t got;

	for (size_t i = 0; i < n; i++) {
		if (!p[i].host_port)
			continue;
		int fd = port_bind(&p[i], &got, err);
		if (fd < 0)
			return fd;
		close(fd);
	}
	return 0;
}

int ports_reserve(struct net_vm *v, const struct net_port *p, size_t n, struct err *err)
{
	if (!n)
		return 0;
	v->ports = xcalloc(n, sizeof(*v->ports));
	v->port_fds = xcalloc(n, sizeof(*v->port_fds));
	for (size_t i = 0; i < n; i++) {
		v->ports[i] = p[i];
		for (size_t j = 0; j < i; j++) {
			/* Two -p for one host port: the second bind would say
			 * "in use", which is true but puzzling. */
			if (p[j].proto == p[i].proto && p[j].host_port && p[j].host_port == p[i].host_port &&
			    (!p[j].host_ip.s_addr || !p[i].host_ip.s_addr ||
			     p[j].host_ip.s_addr == p[i].host_ip.s_addr)) {
				v->nports = i;
				return err_set(err, EINVAL, "host port %u/%s is published twice",
					       p[i].host_port, net_proto_name(p[i].proto));
			}
		}
		int fd = port_bind(&p[i], &v->ports[i].host_port, err);
		if (fd < 0) {
			v->nports = i;
			return fd;
		}
		v->port_fds[i] = fd;
		v->nports = i + 1;
	}
	return 0;
}

int ports_record(struct net_vm *v, struct err *err)
{
	_cleanup_free_ struct net_port_entry *all = NULL;
	_cleanup_close_ int lock = -1;
	size_t n;
	int r;

	if (!v->nports)
		return 0;
	if (!v->host->nat)
		return err_set(err, ENOTSUP, "publishing ports needs ucrt's NAT table");
	lock = ipam_lock(v->host->state_fd);
	if (lock < 0)
		return err_setx(err, -lock, "locking the port record");
	r = ports_load(v->host->state_fd, &all, &n);
	if (r < 0)
		return err_setx(err, -r, "reading the port record");
	all = xrealloc(all, (n + v->nports) * sizeof(*all));
	for (size_t i = 0; i < v->nports; i++) {
		struct net_port_entry *e = &all[n++];

		*e = (struct net_port_entry){ .port = v->ports[i], .ctr_ip = v->addr };
		snprintf(e->owner, sizeof(e->owner), "%s", v->owner);
	}
	return ports_commit(v->host, all, n, err);
}

void ports_release(struct net_vm *v)
{
	_cleanup_free_ struct net_port_entry *all = NULL;
	struct err e = { 0 };
	size_t n, k = 0;
	int lock;

	/* Recorded only once the VM had its address (ports_record). */
	if (!v->nports || !v->host || !v->addr.s_addr)
		goto out;
	lock = ipam_lock(v->host->state_fd);
	if (lock >= 0 && ports_load(v->host->state_fd, &all, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (all[i].ctr_ip.s_addr != v->addr.s_addr || strcmp(all[i].owner, v->owner) != 0)
				all[k++] = all[i];
		if (k != n && ports_commit(v->host, all, k, &e) < 0)
			log_warn("net: removing the ports of %s: %s", v->owner, err_msg(&e));
	}
	if (lock >= 0)
		close(lock);
out:
	for (size_t i = 0; i < v->nports; i++)
		close(v->port_fds[i]);
	free(v->ports);
	free(v->port_fds);
	v->ports = NULL;
	v->port_fds = NULL;
	v->nports = 0;
}

int net_ports_list(const char *root, const char *owner, struct net_port_entry **out, size_t *n)
{
	_cleanup_free_ char *dir = xasprintf("%s/net", root);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ struct net_lease *leases = NULL;
	struct net_port_entry *v = NULL;
	size_t nl = 0, k = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = ports_load(fd, &v, n);
	if (r < 0)
		return r;
	r = ipam_load(fd, &leases, &nl);
	if (r < 0) {
		free(v);
		return r;
	}
	for (size_t i = 0; i < *n; i++) {
		bool live = false;

		if (owner && strcmp(v[i].owner, owner) != 0)
			continue;
		for (size_t j = 0; j < nl && !live; j++)
			live = leases[j].addr.s_addr == v[i].ctr_ip.s_addr &&
			       strcmp(leases[j].owner, v[i].owner) == 0 && net_lease_alive(&leases[j]);
		if (live)
			v[k++] = v[i];
	}
	*out = v;
	*n = k;
	return 0;
}
