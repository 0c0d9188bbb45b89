/* IPAM: one lease per VM in <root>/net/leases, a text file with one line
 * per lease:
 *
 *     <ipv4> <owner> <pid> <pid-start-ticks> <tap ifname>
 *
 * Every change happens under flock(<root>/net/lock) and replaces the file
 * atomically (temp file, fsync, rename), so concurrent ucrt processes never
 * hand out one address twice and a crash never leaves half a file. The pid
 * and its start time identify the owner process: a lease whose process is
 * gone (or whose pid was reused) is garbage for net_gc. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "net/net-internal.h"

#define LEASES "leases"
#define LOCK "lock"
#define LEASES_MAX (1u << 20)

void net_tap_name(struct in_addr a, char out[NET_IFNAMSIZ])
{
	snprintf(out, NET_IFNAMSIZ, NET_TAP_PREFIX "%08x", ntohl(a.s_addr));
}

/* Locally administered unicast 02:75:<ipv4>: stable per address, so the
 * neighbours' ARP caches stay right when an address is reused. */
void net_mac_for(struct in_addr a, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x75;
	memcpy(mac + 2, &a.s_addr, 4);
}

static bool owner_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("_.-", s[i])))
			return false;
	return true;
}

static int parse_line(const char *line, struct net_lease *l)
{
	char ip[20], owner[80], ifname[24];
	unsigned long long pid, start;
	int end = 0;

	memset(l, 0, sizeof(*l));
	if (sscanf(line, "%19s %79s %llu %llu %23s%n", ip, owner, &pid, &start, ifname, &end) != 5 ||
	    line[end] != 0)
		return -EINVAL;
	if (net_parse_ip4(ip, &l->addr) < 0 || !owner_ok(owner) || pid == 0 ||
	    pid > 0x7fffffffULL || strlen(ifname) >= NET_IFNAMSIZ)
		return -EINVAL;
	strcpy(l->owner, owner);
	strcpy(l->ifname, ifname);
	l->pid = (pid_t)pid;
	l->pid_start = start;
	return 0;
}

int ipam_parse(const char *text, struct net_lease **out, size_t *n)
{
	_cleanup_strv_ char **lines = str_split(text, '\n');
	size_t cnt = strv_len(lines), k = 0;
	struct net_lease *v = xcalloc(cnt + 1, sizeof(*v));

	for (size_t i = 0; i < cnt; i++) {
		if (!lines[i][0])
			continue;
		/* The file is only ever replaced whole; a bad line means someone
		 * edited it. Skip it rather than block every container. */
		if (parse_line(lines[i], &v[k]) < 0) {
			log_warn("net: ignoring malformed lease line %zu", i + 1);
			continue;
		}
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

char *ipam_format(const struct net_lease *l, size_t n)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &l[i].addr, ip, sizeof(ip));
		buf_printf(&b, "%s %s %d %llu %s\n", ip, l[i].owner, (int)l[i].pid,
			   (unsigned long long)l[i].pid_start, l[i].ifname);
	}
	return buf_steal(&b);
}

/* Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
static int pid_start_time(pid_t pid, uint64_t *out)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int)pid);
	_cleanup_free_ char *s = NULL;
	unsigned long long v;
	char *p;
	int r;

	r = read_file_at(AT_FDCWD, path, 4096, &s, NULL);
	if (r < 0)
		return r;
	/* comm may hold spaces and parentheses: fields restart after the last ')'. */
	p = strrchr(s, ')');
	/* A zombie holds no fds (tap, port sockets): as good as gone. Its
	 * parent may be slow to reap it (a detached supervisor's is init). */
	if (p && p[1] == ' ' && p[2] == 'Z')
		return -ESRCH;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
			 "%*d %*d %*d %*d %*d %*d %llu", &v) != 1)
		return -EINVAL;
	*out = v;
	return 0;
}

bool net_lease_alive(const struct net_lease *l)
{
	uint64_t start;

	return pid_start_time(l->pid, &start) == 0 && start == l->pid_start;
}

/* Lock the state directory; returns the lock fd (close to unlock). The
 * wait is bounded by other ucrt processes' short critical sections. */
int ipam_lock(int state_fd)
{
	int fd = openat(state_fd, LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;

			close(fd);
			return r;
		}
	}
	return fd;
}

int ipam_load(int state_fd, struct net_lease **v, size_t *n)
{
	_cleanup_free_ char *text = NULL;
	int r = read_file_at(state_fd, LEASES, LEASES_MAX, &text, NULL);

	if (r == -ENOENT) {
		*v = xcalloc(1, sizeof(**v));
		*n = 0;
		return 0;
	}
	if (r < 0)
		return r;
	return ipam_parse(text, v, n);
}

int ipam_lock_load(int state_fd, int *lock, struct net_lease **v, size_t *n, struct err *err)
{
	int r;

	*lock = ipam_lock(state_fd);
	if (*lock < 0)
		return err_setx(err, -*lock, "locking the lease file");
	r = ipam_load(state_fd, v, n);
	if (r < 0)
		return err_setx(err, -r, "reading the lease file");
	return 0;
}

static int leases_store(int state_fd, const struct net_lease *v, size_t n)
{
	_cleanup_free_ char *text = ipam_format(v, n);

	return write_file_atomic_at(state_fd, LEASES, text, strlen(text), 0644);
}

static bool addr_taken(const struct net_lease *v, size_t n, uint32_t a)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].addr.s_addr == a)
			return true;
	return false;
}

/* Usable host addresses: .2 .. broadcast-1 (.1 is the gateway). */
static int pick_addr(const struct net_host *h, const struct net_lease *v, size_t n,
		     struct in_addr want, struct in_addr *out, struct err *err)
{
	uint32_t base = ntohl(h->subnet.s_addr);
	uint32_t size = h->prefix == 0 ? 0 : (uint32_t)1 << (32 - h->prefix);
	char s[INET_ADDRSTRLEN];

	if (want.s_addr) {
		uint32_t w = ntohl(want.s_addr);

		inet_ntop(AF_INET, &want, s, sizeof(s));
		if (w - base < 2 || w - base >= size - 1)
			return err_set(err, EINVAL, "address %s is not a usable address of %s's subnet",
				       s, h->bridge);
		if (addr_taken(v, n, want.s_addr) || want.s_addr == h->gateway.s_addr)
			return err_set(err, EADDRINUSE, "address %s is already leased", s);
		*out = want;
		return 0;
	}
	for (uint32_t off = 2; off < size - 1; off++) {
		uint32_t a = htonl(base + off);

		if (!addr_taken(v, n, a) && a != h->gateway.s_addr) {
			out->s_addr = a;
			return 0;
		}
	}
	return err_set(err, ENOSPC, "no free address left in %s's subnet", h->bridge);
}

int ipam_acquire(struct net_host *h, const char *owner, struct in_addr want,
		 struct net_lease *out, struct err *err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	_cleanup_close_ int lock = -1;
	size_t n;
	int r;

	if (!owner_ok(owner))
		return err_set(err, EINVAL, "network owner \"%.80s\": use 1-64 of [A-Za-z0-9_.-]", owner);
	memset(out, 0, sizeof(*out));
	r = pid_start_time(getpid(), &out->pid_start);
	if (r < 0)
		return err_setx(err, -r, "reading /proc/self/stat");
	r = ipam_lock_load(h->state_fd, &lock, &v, &n, err);
	if (r < 0)
		return r;
	r = pick_addr(h, v, n, want, &out->addr, err);
	if (r < 0)
		return r;
	snprintf(out->owner, sizeof(out->owner), "%s", owner);
	out->pid = getpid();
	net_tap_name(out->addr, out->ifname);
	v = xrealloc(v, (n + 1) * sizeof(*v));
	v[n++] = *out;
	r = leases_store(h->state_fd, v, n);
	if (r < 0)
		return err_setx(err, -r, "writing the lease file");
	return 0;
}

int ipam_release(struct net_host *h, struct in_addr addr)
{
	_cleanup_free_ struct net_lease *v = NULL;
	_cleanup_close_ int lock = ipam_lock(h->state_fd);
	size_t n, k = 0;
	int r;

	if (lock < 0)
		return lock;
	r = ipam_load(h->state_fd, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (v[i].addr.s_addr != addr.s_addr)
			v[k++] = v[i];
	return k == n ? 0 : leases_store(h->state_fd, v, k);
}

int ipam_gc(struct net_host *h, unsigned *removed, char ***live)
{
	_cleanup_free_ struct net_lease *v = NULL;
	size_t n, k = 0;
	int r;

	*live = NULL;
	r = ipam_load(h->state_fd, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (net_lease_alive(&v[i])) {
			strv_push(live, v[i].ifname);
			v[k++] = v[i];
		} else {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &v[i].addr, ip, sizeof(ip));
			log_debug("net: dropping lease %s of %s (pid %d is gone)", ip, v[i].owner,
				  (int)v[i].pid);
		}
	}
	*removed += (unsigned)(n - k);
	return k == n ? 0 : leases_store(h->state_fd, v, k);
}

int net_lease_list(const char *root, struct net_lease **out, size_t *n)
{
	_cleanup_free_ char *dir = xasprintf("%s/net", root);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*out = xcalloc(1, sizeof(**out));
		*n = 0;
		return 0;
	}
	/* Readers need no lock: the file is only ever replaced whole. */
	return ipam_load(fd, out, n);
}
