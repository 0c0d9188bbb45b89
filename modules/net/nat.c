/* Outbound NAT for the bridge's subnet and the DNAT of published ports
 * through libnftables (no nft binary, the library loaded with dlopen),
 * plus IPv4 forwarding. One table per bridge, "ip ucrt_<bridge>",
 * replaced atomically in a single nft transaction, so concurrent ucrt
 * processes and restarts converge on the same ruleset. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "buf.h"
#include "err.h"
#include "util.h"
#include "net/net-internal.h"

/* libnftables is opened at run time: hosts without nftables still run
 * containers with --network none, and the build needs only the header. */
struct nft_api {
	struct nft_ctx *(*ctx_new)(uint32_t flags);
	void (*ctx_free)(struct nft_ctx *ctx);
	int (*buffer_output)(struct nft_ctx *ctx);
	int (*buffer_error)(struct nft_ctx *ctx);
	const char *(*get_error_buffer)(struct nft_ctx *ctx);
	int (*run_cmd_from_buffer)(struct nft_ctx *ctx, const char *buf);
};

static int nft_api_get(const struct nft_api **out, struct err *err)
{
	static struct nft_api api;
	static void *lib;
	const char *names[] = { "nft_ctx_new", "nft_ctx_free", "nft_ctx_buffer_output",
		"nft_ctx_buffer_error", "nft_ctx_get_error_buffer", "nft_run_cmd_from_buffer" };
	void **slots[] = { (void **)&api.ctx_new, (void **)&api.ctx_free,
		(void **)&api.buffer_output, (void **)&api.buffer_error,
		(void **)&api.get_error_buffer, (void **)&api.run_cmd_from_buffer };

	if (!lib) {
		lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
		if (!lib)
			return err_set(err, ENOTSUP, "NAT needs libnftables.so.1 "
				       "(Debian package libnftables1): %s", dlerror());
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			*slots[i] = dlsym(lib, names[i]);
			if (!*slots[i]) {
				dlclose(lib);
				lib = NULL;
				return err_set(err, ENOTSUP, "libnftables.so.1 lacks %s", names[i]);
			}
		}
	}
	*out = &api;
	return 0;
}

void nat_table_name(const char *bridge, char *out, size_t len)
{
	size_t i = 0;

	snprintf(out, len, "ucrt_%s", bridge);
	/* nft identifiers: letters, digits, '_' (interface names allow more). */
	for (i = 5; out[i]; i++)
		if (!isalnum((unsigned char)out[i]))
			out[i] = '_';
}

static int nft_run(const char *cmds, struct err *err)
{
	const struct nft_api *api;
	struct nft_ctx *nft;
	int r = nft_api_get(&api, err);

	if (r < 0)
		return r;
	nft = api->ctx_new(NFT_CTX_DEFAULT);
	if (!nft)
		return err_set(err, ENOMEM, "nftables: cannot create a context");
	api->buffer_output(nft);
	api->buffer_error(nft);
	r = api->run_cmd_from_buffer(nft, cmds);
	if (r != 0) {
		const char *e = api->get_error_buffer(nft);
		char line[300];

		/* First line of nft's message is the useful one. */
		snprintf(line, sizeof(line), "%s", e ? e : "");
		line[strcspn(line, "\n")] = 0;
		r = err_set(err, EIO, "nftables: %s", line[0] ? line : "command failed");
	}
	api->ctx_free(nft);
	return r;
}

/* /proc/sys/net/ipv4/... = 1 unless it is already. */
static int sysctl_on(const char *path, struct err *err)
{
	_cleanup_free_ char *cur = NULL;
	int r = read_file_at(AT_FDCWD, path, 16, &cur, NULL);
	_cleanup_close_ int fd = -1;

	if (r == 0 && cur[0] == '1')
		return 0;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_all(fd, "1\n", 2) < 0)
		return err_setx(err, errno, "enabling %s", path);
	return 0;
}

/* One DNAT rule per published port, in the chain both the prerouting
 * (other hosts) and the output (this host, 127.0.0.1 included) hooks
 * jump to. A port on every address matches any local destination. */
static void nat_port_rules(struct buf *b, const struct net_port_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char hip[INET_ADDRSTRLEN], cip[INET_ADDRSTRLEN];
		const char *pr = net_proto_name(v[i].port.proto);

		inet_ntop(AF_INET, &v[i].port.host_ip, hip, sizeof(hip));
		inet_ntop(AF_INET, &v[i].ctr_ip, cip, sizeof(cip));
		if (v[i].port.host_ip.s_addr)
			buf_printf(b, "    ip daddr %s %s dport %u dnat to %s:%u\n", hip, pr,
				   v[i].port.host_port, cip, v[i].port.ctr_port);
		else
			buf_printf(b, "    fib daddr type local %s dport %u dnat to %s:%u\n", pr,
				   v[i].port.host_port, cip, v[i].port.ctr_port);
	}
}

int nat_setup(const struct net_host *h, const struct net_port_entry *ports, size_t n,
	      struct err *err)
{
	char t[64], net[INET_ADDRSTRLEN], sysctl[96];
	_cleanup_buf_ struct buf b = BUF_INIT;
	int r;

	nat_table_name(h->bridge, t, sizeof(t));
	inet_ntop(AF_INET, &h->subnet, net, sizeof(net));
	/* add+delete makes the replace work whether the table exists or not;
	 * the whole buffer is one transaction. The forward chain lets the
	 * subnet out, replies and published ports (DNAT) in, nothing else,
	 * whatever else the host runs (another table's drop still wins:
	 * docs/network.md). Connections to a published port from 127.0.0.1
	 * leave with a loopback source (route_localnet below) and are
	 * masqueraded to the gateway's address, as are a container's
	 * connections to a port published by the host (hairpin): the answer
	 * must come back through this host to be un-NATed. */
	buf_printf(&b,
		"add table ip %1$s\n"
		"delete table ip %1$s\n"
		"table ip %1$s {\n"
		"  chain postrouting {\n"
		"    type nat hook postrouting priority srcnat; policy accept;\n"
		"    ip saddr %2$s/%3$u ip daddr != %2$s/%3$u masquerade\n"
		"    oifname \"%4$s\" ct status dnat ip saddr 127.0.0.0/8 masquerade\n"
		"    oifname \"%4$s\" ct status dnat ip saddr %2$s/%3$u masquerade\n"
		"  }\n"
		"  chain forward {\n"
		"    type filter hook forward priority filter; policy accept;\n"
		"    iifname \"%4$s\" accept\n"
		"    oifname \"%4$s\" ct state established,related accept\n"
		"    oifname \"%4$s\" ct status dnat accept\n"
		"    oifname \"%4$s\" drop\n"
		"  }\n"
		"  chain prerouting {\n"
		"    type nat hook prerouting priority dstnat; policy accept;\n"
		"    jump ports\n"
		"  }\n"
		"  chain output {\n"
		"    type nat hook output priority -100; policy accept;\n"
		"    jump ports\n"
		"  }\n"
		"  chain ports {\n", t, net, h->prefix, h->bridge);
	nat_port_rules(&b, ports, n);
	buf_printf(&b, "  }\n}\n");
	r = nft_run(b.data, err);
	if (r < 0)
		return err_wrap(err, "setting up NAT for %s", h->bridge);
	/* Loopback sources may leave through the bridge (DNAT from 127.0.0.1).
	 * Safe there: the VMs' filters drop any frame whose source address
	 * is not the VM's own, so no 127.x packet enters from a tap. */
	snprintf(sysctl, sizeof(sysctl), "/proc/sys/net/ipv4/conf/%s/route_localnet", h->bridge);
	r = sysctl_on(sysctl, err);
	if (r < 0)
		return r;
	return sysctl_on("/proc/sys/net/ipv4/ip_forward", err);
}

bool nat_present(const struct net_host *h)
{
	char t[64];
	_cleanup_free_ char *cmds = NULL;

	nat_table_name(h->bridge, t, sizeof(t));
	cmds = xasprintf("list table ip %s\n", t);
	return nft_run(cmds, NULL) == 0;
}

int nat_remove(const struct net_host *h, struct err *err)
{
	char t[64];
	_cleanup_free_ char *cmds = NULL;

	nat_table_name(h->bridge, t, sizeof(t));
	cmds = xasprintf("add table ip %1$s\ndelete table ip %1$s\n", t);
	return nft_run(cmds, err);
}
