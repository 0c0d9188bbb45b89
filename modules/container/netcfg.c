/* A container's network: the run options (--network, --ip, --dns,
 * --network-policy), network.json in the container directory, the host
 * side opened once per process, and one VM's tap/lease/filter from
 * modules/net during a launch. docs/network.md describes the model.
 *
 * Every net_* call here blocks briefly (rtnetlink round trips to the
 * local kernel, the lease file's flock, a BPF load): they run while a
 * command sets up, or when a VM is launched or has ended, never on a
 * per-frame path of the reactor. That is deliberate: doing them in a
 * thread would buy nothing but ordering problems for a few ms per VM. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "buf.h"
#include "container-internal.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "net/net.h"
#include "netcfg-internal.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

#define CTR_NET_FILE "network.json"

struct ctr_nethost {
	struct net_host h;
	char *root;
};

struct ctr_netvm {
	struct net_vm v;
	bool user;			/* --network user: no lease, no tap; v.tap_fd is passt's socket or -1 */
	char *user_fwd;			/* slirp's hostfwd options (vc->user_fwd) */
	char *dir;			/* container dir for network.json, or NULL */
	const struct ctr_net_opts *opts;
	struct agent_addr addr, gw;
	char *dns[NET_MAX_DNS + 1];
	char *hosts[2];
};

/* ---- options ---- */

static bool ctr_net_admin(void)
{
	struct __user_cap_header_struct hd = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hd, d) < 0)
		return false;
	return d[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN);
}

static int ctr_net_mode_parse(const char *s, enum ctr_net_mode *m)
{
	if (strcmp(s, "none") == 0)
		*m = CTR_NET_NONE;
	else if (strcmp(s, "bridge") == 0)
		*m = CTR_NET_BRIDGE;
	else if (strcmp(s, "user") == 0)
		*m = CTR_NET_USER;
	else
		return -EINVAL;
	return 0;
}

const char *ctr_net_mode_name(enum ctr_net_mode m)
{
	return m == CTR_NET_BRIDGE ? "bridge" : m == CTR_NET_NONE ? "none" : m == CTR_NET_USER ? "user" : "default";
}

int ctr_net_opt_set(struct ctr_net_opts *o, enum ctr_net_opt which, const char *value,
		    struct err *err)
{
	struct net_policy p;
	struct in_addr a;

	switch (which) {
	case CTR_NET_OPT_MODE:
		if (ctr_net_mode_parse(value, &o->mode) < 0)
			return err_set(err, EINVAL, "invalid --network '%s' (want none, bridge or user)", value);
		return 0;
	case CTR_NET_OPT_IP:
		if (net_parse_ip4(value, &a) < 0)
			return err_set(err, EINVAL, "invalid --ip '%s' (want an IPv4 address)", value);
		free(o->ip);
		o->ip = xstrdup(value);
		return 0;
	case CTR_NET_OPT_DNS:
		if (net_parse_ip4(value, &a) < 0)
			return err_set(err, EINVAL, "invalid --dns '%s' (want an IPv4 address)", value);
		if (strv_len(o->dns) >= NET_MAX_DNS)
			return err_set(err, E2BIG, "at most %d --dns servers", NET_MAX_DNS);
		strv_push(&o->dns, value);
		return 0;
	case CTR_NET_OPT_POLICY:
		if (net_policy_parse(value, &p, err) < 0)
			return err_wrap(err, "--network-policy");
		free(o->policy);
		o->policy = xstrdup(value);
		return 0;
	case CTR_NET_OPT_PUBLISH: {
		struct net_port np;
		char canon[64];

		if (net_port_parse(value, &np, err) < 0)
			return err_wrap(err, "-p");
		net_port_format(&np, canon, sizeof(canon));
		strv_push(&o->ports, canon);
		return 0;
	}
	}
	return -EINVAL;
}

int ctr_net_opts_finish(struct ctr_net_opts *o, unsigned instances, struct err *err)
{
	const char *env = getenv("UCRT_NETWORK");

	if (o->mode == CTR_NET_DEFAULT && env && *env && ctr_net_mode_parse(env, &o->mode) < 0)
		return err_set(err, EINVAL, "invalid UCRT_NETWORK '%s' (want none, bridge or user)", env);
	if (o->mode == CTR_NET_DEFAULT) {
		/* docker's default is the bridge; without CAP_NET_ADMIN there
		 * can be no bridge or tap, so a plain user gets user-mode
		 * networking (passt or slirp), as rootless podman does. */
		o->mode = ctr_net_admin() ? CTR_NET_BRIDGE : CTR_NET_USER;
		if (o->mode == CTR_NET_USER)
			log_debug("no CAP_NET_ADMIN: user-mode networking (as --network user)");
	}
	if (o->mode == CTR_NET_NONE && (o->ip || o->dns || o->policy))
		return err_set(err, EINVAL, "%s needs --network bridge (and CAP_NET_ADMIN)",
			       o->ip ? "--ip" : o->dns ? "--dns" : "--network-policy");
	if (o->mode == CTR_NET_NONE && o->ports)
		return err_set(err, EINVAL, "-p/-P need --network bridge (and CAP_NET_ADMIN)");
	if (o->ports && instances > 1)
		return err_set(err, EINVAL, "-p cannot be given to %u instances", instances);
	/* User mode: the guest's address is fixed (NET_USER_ADDR) and there
	 * is no tap to hang a filter on. */
	if (o->mode == CTR_NET_USER && (o->ip || o->policy))
		return err_set(err, EINVAL, "%s needs --network bridge (and CAP_NET_ADMIN), not user",
			       o->ip ? "--ip" : "--network-policy");
	if (o->ip && instances > 1)
		return err_set(err, EINVAL, "--ip cannot be given to %u instances", instances);
	return 0;
}

void ctr_net_opts_free(struct ctr_net_opts *o)
{
	free(o->ip);
	strv_free(o->dns);
	free(o->policy);
	strv_free(o->ports);
	*o = (struct ctr_net_opts){ 0 };
}

/* ---- network.json ---- */

/* The options, and what the VM got when v is not NULL. */
static int ctr_net_file_write(const char *dir, const struct ctr_net_opts *o,
			      const struct net_vm *v, bool durable, struct err *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	_cleanup_free_ char *path = xasprintf("%s/" CTR_NET_FILE, dir);
	struct json_writer w;
	char pol[1024];

	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	ctr_jw_kstr(&w, "mode", ctr_net_mode_name(o->mode));
	ctr_jw_kstr(&w, "ip_request", o->ip);
	jw_key(&w, "dns_request");
	jw_arr_begin(&w);
	for (char **d = o->dns; d && *d; d++)
		jw_str(&w, *d);
	jw_arr_end(&w);
	if (v)	/* canonical: it parses back to the same policy */
		net_policy_format(&v->policy, pol, sizeof(pol));
	ctr_jw_kstr(&w, "policy", v ? pol : o->policy);
	jw_key(&w, "ports_request");
	jw_arr_begin(&w);
	for (char **p = o->ports; p && *p; p++)
		jw_str(&w, *p);
	jw_arr_end(&w);
	if (v) {
		ctr_jw_kstr(&w, "ip", v->addr_str);
		jw_key(&w, "prefix");
		jw_uint(&w, v->prefix);
		ctr_jw_kstr(&w, "gateway", v->gateway_str);
		ctr_jw_kstr(&w, "mac", v->mac_str);
		ctr_jw_kstr(&w, "tap", v->ifname);
		jw_key(&w, "mtu");
		jw_uint(&w, v->mtu);
		jw_key(&w, "dns");
		jw_arr_begin(&w);
		for (unsigned i = 0; i < v->ndns; i++)
			jw_str(&w, v->dns[i]);
		jw_arr_end(&w);
	}
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	int r = write_file_at(AT_FDCWD, path, b.data, b.len, 0600, durable);
	if (r < 0)
		return err_setx(err, r, "writing %s", path);
	return 0;
}

int ctr_net_opts_write(const char *root, const char *id, const struct ctr_net_opts *o, bool durable,
		       struct err *err)
{
	_cleanup_free_ char *dir = ctr_path(root, id, NULL);

	return ctr_net_file_write(dir, o, NULL, durable, err);
}

static void ctr_net_copy(const struct json_doc *d, int obj, const char *key, char *out, size_t len)
{
	_cleanup_free_ char *s = json_str(d, json_get(d, obj, key));

	snprintf(out, len, "%s", s ? s : "");
}

int ctr_net_status_read(const char *root, const char *id, struct ctr_net_status *st,
			struct err *err)
{
	_cleanup_free_ char *path = ctr_path(root, id, CTR_NET_FILE);
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct net_lease *leases = NULL;
	struct json_doc d = { 0 };
	size_t len, n = 0;
	int64_t v;
	int r;

	memset(st, 0, sizeof(*st));
	st->opts.mode = CTR_NET_NONE;	/* containers made before networking */
	r = read_file_at(AT_FDCWD, path, 64 * 1024, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_setx(err, -r, "reading %s", path);
	if (json_parse(&d, text, len, 256) < 0 || json_type(&d, 0) != JSON_OBJECT) {
		json_free(&d);
		return err_set(err, EINVAL, "%s: malformed", path);
	}
	_cleanup_free_ char *mode = json_str(&d, json_get(&d, 0, "mode"));
	if (!mode || ctr_net_mode_parse(mode, &st->opts.mode) < 0)
		st->opts.mode = CTR_NET_NONE;
	st->opts.ip = json_str(&d, json_get(&d, 0, "ip_request"));
	json_strv(&d, json_get(&d, 0, "dns_request"), &st->opts.dns);
	if (st->opts.dns && !st->opts.dns[0])
		strv_free(TAKE_PTR(st->opts.dns));
	st->opts.policy = json_str(&d, json_get(&d, 0, "policy"));
	json_strv(&d, json_get(&d, 0, "ports_request"), &st->opts.ports);
	if (st->opts.ports && !st->opts.ports[0])
		strv_free(TAKE_PTR(st->opts.ports));
	ctr_net_copy(&d, 0, "ip", st->ip, sizeof(st->ip));
	ctr_net_copy(&d, 0, "gateway", st->gateway, sizeof(st->gateway));
	ctr_net_copy(&d, 0, "mac", st->mac, sizeof(st->mac));
	ctr_net_copy(&d, 0, "tap", st->tap, sizeof(st->tap));
	if (json_int(&d, json_get(&d, 0, "prefix"), &v) == 0 && v >= 0 && v <= 32)
		st->prefix = (unsigned)v;
	json_free(&d);
	/* A tap is named after its address, and an address is reused once
	 * released: the tap is this container's only while its own lease
	 * on it is held by a live process. */
	if (st->tap[0] && net_lease_list(root, &leases, &n) == 0) {
		for (size_t i = 0; i < n && !st->live; i++)
			st->live = strcmp(leases[i].owner, id) == 0 &&
				   strcmp(leases[i].ifname, st->tap) == 0 && net_lease_alive(&leases[i]);
	}
	return 0;
}

int ctr_net_load(const char *root, const char *id, struct ctr_net_opts *o, struct err *err)
{
	struct ctr_net_status st;
	int r = ctr_net_status_read(root, id, &st, err);

	if (r < 0)
		return r;
	*o = st.opts;
	return 0;
}

/* ---- the host side ---- */

int ctr_nethost_open(const char *root, struct ctr_nethost **out, struct err *err)
{
	struct ctr_nethost *h = xcalloc(1, sizeof(*h));
	struct net_host_opts o = { .root = root };
	int r;

	r = net_host_open(&h->h, &o, err);
	if (r < 0) {
		free(h);
		return err_wrap(err, "network (bridge %s)", NET_DEFAULT_BRIDGE);
	}
	h->root = xstrdup(root);
	log_debug("network: bridge %s, subnet %s/%u", h->h.bridge, inet_ntoa(h->h.subnet), h->h.prefix);
	*out = h;
	return 0;
}

void ctr_nethost_close(struct ctr_nethost *h)
{
	if (!h)
		return;
	net_host_close(&h->h);
	free(h->root);
	free(h);
}

/* ---- one VM ---- */

/* --network user: passt when there is one, else QEMU's slirp; the guest
 * gets the same addressing either way (net.h NET_USER_*). */
static int ctr_netvm_user(const struct ctr_net_opts *o, const struct ctr_config *cfg, struct vm_config *vc,
			  struct ctr_netvm **out, struct err *err)
{
	struct ctr_netvm *n = xcalloc(1, sizeof(*n));
	unsigned ndns = (unsigned)strv_len(o->dns);
	int r;

	n->user = true;
	n->opts = o;
	n->v.tap_fd = -1;
	/* -p: passt's -t/-u, or slirp's hostfwd. */
	size_t np = strv_len(o->ports);
	_cleanup_free_ struct net_port *ports = xcalloc(np + 1, sizeof(*ports));
	_cleanup_strv_ char **fwd = NULL;
	r = 0;
	for (size_t i = 0; r == 0 && i < np; i++)
		r = net_port_parse(o->ports[i], &ports[i], err);
	if (r == 0)
		r = net_user_forwards(ports, np, &fwd, &n->user_fwd, err);
	/* passt's errors go where the VM's own trouble shows. */
	if (r == 0)
		r = net_passt_start(NULL, vc->console_log, fwd, &n->v.tap_fd, err);
	if (r < 0) {
		free(n->user_fwd);
		free(n);
		return err_wrap(err, "network user");
	}
	vc->user_fwd = r ? NULL : n->user_fwd;
	vc->netdev = r ? VM_NETDEV_STREAM : VM_NETDEV_USER;
	snprintf(n->v.mac_str, sizeof(n->v.mac_str), "%s", NET_USER_MAC);
	snprintf(n->v.addr_str, sizeof(n->v.addr_str), "%s", NET_USER_ADDR);
	snprintf(n->v.gateway_str, sizeof(n->v.gateway_str), "%s", NET_USER_GATEWAY);
	net_parse_ip4(NET_USER_ADDR, &n->v.addr);
	net_parse_ip4(NET_USER_GATEWAY, &n->v.gateway);
	n->v.prefix = NET_USER_PREFIX;
	n->v.mtu = NET_USER_MTU;
	n->v.ndns = ndns ? ndns : 1;
	for (unsigned i = 0; i < n->v.ndns && i < NET_MAX_DNS; i++)
		snprintf(n->v.dns[i], sizeof(n->v.dns[i]), "%s", ndns ? o->dns[i] : NET_USER_DNS);
	log_debug("container %s: user-mode network through %s, %s/%u", cfg->name ? cfg->name : "",
		  r ? "passt" : "QEMU's slirp", n->v.addr_str, n->v.prefix);
	vc->mac = n->v.mac_str;
	vc->tap_fd = n->v.tap_fd;
	*out = n;
	return 0;
}

int ctr_netvm_create(struct ctr_nethost *h, const struct ctr_net_opts *o,
		     const struct ctr_config *cfg, struct vm_config *vc, struct ctr_netvm **out,
		     struct err *err)
{
	struct net_policy policy = { .mode = NET_POLICY_ALLOW_ALL };
	struct net_vm_opts vo = { .owner = cfg->id[0] ? cfg->id : cfg->name, .ip = o->ip,
				  .policy = &policy };
	struct ctr_netvm *n;
	int r;

	*out = NULL;
	if (o && o->mode == CTR_NET_USER)
		return ctr_netvm_user(o, cfg, vc, out, err);
	if (!h || !o || o->mode != CTR_NET_BRIDGE)
		return 0;
	if (o->policy && (r = net_policy_parse(o->policy, &policy, err)) < 0)
		return err_wrap(err, "--network-policy");
	vo.ndns = (unsigned)strv_len(o->dns);
	vo.dns = (const char *const *)o->dns;
	vo.nports = strv_len(o->ports);
	_cleanup_free_ struct net_port *ports = xcalloc(vo.nports + 1, sizeof(*ports));
	for (size_t i = 0; i < vo.nports; i++)
		if ((r = net_port_parse(o->ports[i], &ports[i], err)) < 0)
			return err_wrap(err, "network.json");
	vo.ports = ports;
	n = xcalloc(1, sizeof(*n));
	n->v.tap_fd = -1;
	n->opts = o;
	r = net_vm_create(&h->h, &vo, &n->v, err);
	if (r < 0) {
		free(n);
		/* "port ... is already in use" says it all. */
		return r == -EADDRINUSE ? r : err_wrap(err, "network");
	}
	if (cfg->id[0]) {
		n->dir = ctr_path(h->root, cfg->id, NULL);
		/* For inspect and stats; the VM runs without it. */
		if (ctr_net_file_write(n->dir, o, &n->v, !cfg->rm, err) < 0) {
			log_warn("%s", err_msg(err));
			err_clear(err);
		}
	}
	log_debug("container %s: %s/%u on %s, mac %s", cfg->name ? cfg->name : "", n->v.addr_str,
		  n->v.prefix, n->v.ifname, n->v.mac_str);
	vc->mac = n->v.mac_str;
	vc->tap_fd = n->v.tap_fd;
	*out = n;
	return 0;
}

void ctr_netvm_agent_config(struct ctr_netvm *n, const struct ctr_config *cfg,
			    struct agent_config *ac)
{
	unsigned k = 0;

	if (!n)
		return;
	n->addr = (struct agent_addr){ .family = AF_INET, .prefix = (uint8_t)n->v.prefix };
	memcpy(n->addr.addr, &n->v.addr, 4);
	n->gw = (struct agent_addr){ .family = AF_INET };
	memcpy(n->gw.addr, &n->v.gateway, 4);
	ac->ifname = "eth0";
	ac->addrs = &n->addr;
	ac->naddrs = 1;
	ac->gateway = &n->gw;
	ac->mtu = n->v.mtu;
	for (unsigned i = 0; i < n->v.ndns && i < NET_MAX_DNS; i++)
		n->dns[i] = n->v.dns[i];
	n->dns[n->v.ndns < NET_MAX_DNS ? n->v.ndns : NET_MAX_DNS] = NULL;
	ac->dns = n->dns;
	/* guest-init writes "address hostname" itself; the container's name
	 * resolves too when it differs (docker does the same). */
	free(n->hosts[0]);
	n->hosts[0] = NULL;
	if (cfg->name && (!cfg->hostname || strcmp(cfg->name, cfg->hostname) != 0))
		n->hosts[k++] = xasprintf("%s %s", n->v.addr_str, cfg->name);
	n->hosts[k] = NULL;
	ac->hosts = n->hosts;
}

void ctr_netvm_destroy(struct ctr_netvm *n)
{
	if (!n)
		return;
	if (n->user) {
		if (n->v.tap_fd >= 0)
			close(n->v.tap_fd);	/* passt quits once QEMU's end is closed too */
		free(n->user_fwd);
	} else {
		net_vm_destroy(&n->v);
	}
	free(n->hosts[0]);
	free(n->dir);
	free(n);
}

/* ---- inspect ---- */

static void ctr_net_stats_json(struct json_writer *w, const struct net_stats *s)
{
	const struct { const char *k; uint64_t v; } f[] = {
		{ "tx_packets", s->tx_packets }, { "tx_bytes", s->tx_bytes },
		{ "rx_packets", s->rx_packets }, { "rx_bytes", s->rx_bytes },
		{ "drop_spoof", s->drop_spoof }, { "drop_policy", s->drop_policy },
		{ "drop_proto", s->drop_proto }, { "drop_rx", s->drop_rx },
	};

	jw_obj_begin(w);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		jw_key(w, f[i].k);
		jw_uint(w, f[i].v);
	}
	jw_obj_end(w);
}

void ctr_net_inspect_json(struct json_writer *w, const char *root, const char *id)
{
	struct ctr_net_status st;
	struct net_stats s;

	if (ctr_net_status_read(root, id, &st, NULL) < 0) {
		jw_null(w);
		return;
	}
	jw_obj_begin(w);
	ctr_jw_kstr(w, "mode", ctr_net_mode_name(st.opts.mode));
	ctr_jw_kstr(w, "policy", st.opts.policy ? st.opts.policy : st.opts.mode == CTR_NET_BRIDGE ?
							      "allow-all" : NULL);
	/* Address, MAC and tap only while the VM holds them (docker shows
	 * no address for a stopped container either). */
	ctr_jw_kstr(w, "ip", st.live ? st.ip : NULL);
	jw_key(w, "prefix");
	if (st.live)
		jw_uint(w, st.prefix);
	else
		jw_null(w);
	ctr_jw_kstr(w, "gateway", st.live ? st.gateway : NULL);
	ctr_jw_kstr(w, "mac", st.live ? st.mac : NULL);
	ctr_jw_kstr(w, "tap", st.live ? st.tap : NULL);
	jw_key(w, "counters");
	if (st.live && net_stats_read(st.tap, &s) == 0)
		ctr_net_stats_json(w, &s);
	else
		jw_null(w);
	jw_key(w, "ports");
	ctr_ports_inspect_json(w, root, id);
	jw_obj_end(w);
	ctr_net_opts_free(&st.opts);
}
