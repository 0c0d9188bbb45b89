/* Loads modules/net/bpf/filter.bpf.c (embedded as a bpftool skeleton) once
 * per VM with that VM's MAC, address and policy in its read-only data, and
 * attaches it to the tap's tc clsact hooks: ingress = frames from the VM,
 * egress = frames to it. The counters are a per-CPU array map, readable by
 * this process through the handle or by any process through the tap
 * (net_stats_read finds the attached program and its "stats" map). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "net/net-internal.h"
#include "net/bpf/filter-common.h"

#if __has_include("net/filter.skel.h")
#include "net/filter.skel.h"
#define NET_HAVE_SKEL 1
#else
/* The build did not run modules/net/bpf/bpf.mk: filters are unavailable and
 * say so (net_vm_create fails; --network none still works). */
#define NET_HAVE_SKEL 0
#endif

/* tc filter identity on each hook: one ucrt filter per tap. */
#define FILTER_HANDLE 1
#define FILTER_PRIO 1

struct net_filter_handle {
#if NET_HAVE_SKEL
	struct net_filter *skel;
#endif
	int ifindex;
};


/* libbpf hands us its own format strings. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (!log_enabled(LOG_DEBUG))
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	log_debug("libbpf: %s", line);
	return 0;
}
#pragma GCC diagnostic pop

/* libbpf prints to stderr unless told otherwise: route it to our log. */
static void libbpf_log_setup(void)
{
	static bool done;

	if (!done)
		libbpf_set_print(libbpf_log);
	done = true;
}

static void stats_sum(const struct net_bpf_stats *percpu, int ncpu, struct net_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < ncpu; i++) {
		const struct net_bpf_stats *c = &percpu[i];

		s->tx_packets += c->tx_packets;
		s->tx_bytes += c->tx_bytes;
		s->rx_packets += c->rx_packets;
		s->rx_bytes += c->rx_bytes;
		s->drop_spoof += c->drop_spoof;
		s->drop_policy += c->drop_policy;
		s->drop_proto += c->drop_proto;
		s->drop_rx += c->drop_rx;
	}
}

static int stats_from_map_fd(int fd, struct net_stats *s)
{
	int ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct net_bpf_stats *v = NULL;
	__u32 key = 0;

	if (ncpu < 0)
		return ncpu;
	v = xcalloc((size_t)ncpu, sizeof(*v));
	if (bpf_map_lookup_elem(fd, &key, v) < 0)
		return -errno;
	stats_sum(v, ncpu, s);
	return 0;
}

#if NET_HAVE_SKEL

static void fill_rodata(struct net_filter *skel, const uint8_t mac[6], struct in_addr ip,
			const struct net_policy *p)
{
	struct net_filter__rodata *ro = skel->rodata;

	memcpy(ro->vm_mac, mac, 6);
	ro->vm_ip = ip.s_addr;
	ro->policy_mode = !p || p->mode == NET_POLICY_ALLOW_ALL ? NET_BPF_ALLOW_ALL
			  : p->mode == NET_POLICY_DENY_ALL ? NET_BPF_DENY_ALL : NET_BPF_ALLOW_LIST;
	ro->nrules = 0;
	for (unsigned i = 0; p && p->mode == NET_POLICY_ALLOW_LIST && i < p->nrules; i++) {
		const struct net_rule *r = &p->rules[i];
		uint32_t m = net_mask(r->prefix);

		ro->rules[i].net = r->net.s_addr & m;
		ro->rules[i].mask = m;
		ro->rules[i].port = r->port;
		ro->nrules = i + 1;
	}
}

static int hook_attach(int ifindex, enum bpf_tc_attach_point where, struct bpf_program *prog)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FILTER_HANDLE, .priority = FILTER_PRIO,
		    .prog_fd = bpf_program__fd(prog));
	int r = bpf_tc_hook_create(&hook);

	if (r < 0 && r != -EEXIST)
		return r;
	return bpf_tc_attach(&hook, &opts);
}

int filter_attach(int ifindex, const uint8_t mac[6], struct in_addr ip,
		  const struct net_policy *p, struct net_filter_handle **out, struct err *err)
{
	struct net_filter_handle *f;
	int r;

	libbpf_log_setup();
	f = xcalloc(1, sizeof(*f));
	f->ifindex = ifindex;
	f->skel = net_filter__open();
	if (!f->skel) {
		r = -errno;
		free(f);
		return err_setx(err, -r, "opening the network filter");
	}
	fill_rodata(f->skel, mac, ip, p);
	r = net_filter__load(f->skel);
	if (r < 0) {
		filter_detach(f);
		return err_setx(err, -r, "loading the network filter (run with --log-level debug "
				"for the verifier's output)");
	}
	r = hook_attach(ifindex, BPF_TC_INGRESS, f->skel->progs.net_from_vm);
	if (r == 0)
		r = hook_attach(ifindex, BPF_TC_EGRESS, f->skel->progs.net_to_vm);
	if (r < 0) {
		filter_detach(f);
		return err_setx(err, -r, "attaching the network filter to tc");
	}
	*out = f;
	return 0;
}

void filter_detach(struct net_filter_handle *f)
{
	if (!f)
		return;
	if (f->ifindex > 0) {
		/* Removing the clsact qdisc drops both filters; the tap itself
		 * may already be gone, which is as good. */
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = f->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		bpf_tc_hook_destroy(&hook);
	}
	net_filter__destroy(f->skel);
	free(f);
}

int filter_stats(const struct net_filter_handle *f, struct net_stats *s)
{
	return stats_from_map_fd(bpf_map__fd(f->skel->maps.stats), s);
}
#else
int filter_attach(int ifindex, const uint8_t mac[6], struct in_addr ip,
		  const struct net_policy *p, struct net_filter_handle **out, struct err *err)
{
	return err_set(err, ENOTSUP, "ucrt was built without the network filter "
		       "(modules/net/bpf/bpf.mk not included)");
}

void filter_detach(struct net_filter_handle *f)
{
	free(f);
}

int filter_stats(const struct net_filter_handle *f, struct net_stats *s)
{
	return -ENOTSUP;
}
#endif

/* The "stats" map of program prog_id, as an fd. */
static int stats_map_of_prog(__u32 prog_id)
{
	__u32 ids[8] = { 0 };
	struct bpf_prog_info pinfo;
	__u32 len = sizeof(pinfo);
	_cleanup_close_ int pfd = bpf_prog_get_fd_by_id(prog_id);

	if (pfd < 0)
		return -errno;
	memset(&pinfo, 0, sizeof(pinfo));
	pinfo.nr_map_ids = ARRAY_SIZE(ids);
	pinfo.map_ids = (__u64)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(pfd, &pinfo, &len) < 0)
		return -errno;
	for (__u32 i = 0; i < MIN(pinfo.nr_map_ids, ARRAY_SIZE(ids)); i++) {
		struct bpf_map_info minfo;
		__u32 mlen = sizeof(minfo);
		int mfd = bpf_map_get_fd_by_id(ids[i]);

		if (mfd < 0)
			continue;
		memset(&minfo, 0, sizeof(minfo));
		if (bpf_obj_get_info_by_fd(mfd, &minfo, &mlen) == 0 &&
		    strcmp(minfo.name, "stats") == 0 &&
		    minfo.value_size == sizeof(struct net_bpf_stats))
			return mfd;
		close(mfd);
	}
	return -ENOENT;
}

int net_stats_read(const char *ifname, struct net_stats *s)
{
	unsigned ifindex = if_nametoindex(ifname);
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FILTER_HANDLE, .priority = FILTER_PRIO);
	_cleanup_close_ int mfd = -1;
	int r;

	if (ifindex == 0)
		return -errno;
	libbpf_log_setup();
	hook.ifindex = (int)ifindex;
	r = bpf_tc_query(&hook, &opts);
	if (r < 0)
		return r;
	mfd = stats_map_of_prog(opts.prog_id);
	if (mfd < 0)
		return mfd;
	return stats_from_map_fd(mfd, s);
}
