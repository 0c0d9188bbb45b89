/* `ucrt system check`, the network's part: leases whose owner died (kill
 * -9 of a run), the taps those leases named if they are still there, and
 * nftables NAT tables ("ucrt_<bridge>") whose bridge is gone. Only what
 * this root's dead leases name is judged: other ucrt roots on the host
 * (tests, other users) share the bridge and its subnet, and their taps
 * are not ours to delete. With repair: the dead leases are dropped and
 * their taps deleted (under the lease lock, as net_gc does), and the
 * orphaned tables deleted. */
#include "net-internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/socket.h>

#include "buf.h"
#include "check.h"
#include "err.h"
#include "str.h"
#include "util.h"

struct ncheck {
	bool repair;
	struct check_report *rep;
	struct net_check_stats *st;
};

static bool link_exists(const char *name)
{
	char p[64 + NET_IFNAMSIZ];
	struct stat sb;
	snprintf(p, sizeof(p), "/sys/class/net/%s", name);
	return stat(p, &sb) == 0;
}

static void check_leases(struct ncheck *c, const char *root)
{
	_cleanup_free_ char *dir = xasprintf("%s/net", root);
	_cleanup_close_ int sfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return;
	/* Held across judging and acting: a lease taken meanwhile is seen. */
	_cleanup_close_ int lock = ipam_lock(sfd);
	_cleanup_free_ struct net_lease *v = NULL;
	size_t n = 0;
	if (lock < 0 || ipam_load(sfd, &v, &n) < 0) {
		check_problem(c->rep, "net/leases", false, "cannot be read");
		return;
	}
	struct nl_sock *nl = NULL;
	unsigned dead = 0;
	for (size_t i = 0; i < n; i++) {
		c->st->leases++;
		if (net_lease_alive(&v[i]))
			continue;
		dead++;
		char ip[INET_ADDRSTRLEN], what[64];
		inet_ntop(AF_INET, &v[i].addr, ip, sizeof(ip));
		snprintf(what, sizeof(what), "lease %s", ip);
		bool tap = v[i].ifname[0] && link_exists(v[i].ifname);
		if (tap) {
			bool ok = false;
			if (c->repair && (nl || netl_open(&nl) == 0)) {
				int r = netl_link_del(nl, v[i].ifname);
				ok = r == 0 || r == -ENODEV;
			}
			_cleanup_free_ char *tw = xasprintf("tap %s", v[i].ifname);
			check_problem(c->rep, tw, ok, "left by container %.12s (pid %d is gone)%s", v[i].owner,
				(int)v[i].pid, ok ? ": deleted" : "");
		}
		check_problem(c->rep, what, c->repair, "held by container %.12s, whose ucrt (pid %d) is gone%s",
			v[i].owner, (int)v[i].pid, c->repair ? ": dropped" : "");
	}
	if (nl)
		nl_socket_free(nl);
	if (c->repair && dead) {
		struct net_host h = { .state_fd = sfd };
		unsigned removed = 0;
		_cleanup_strv_ char **live = NULL;
		if (ipam_gc(&h, &removed, &live) < 0 || removed != dead) {
			c->rep->repaired -= dead;	/* the file was not rewritten */
			check_problem(c->rep, "net/leases", false, "could not drop the dead leases");
		}
	}
}

/* Run argv, its stdout into *out (when given). Exit status, or -errno. */
static int run(char *const argv[], struct buf *out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	extern char **environ;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		return -r;
	}
	char b[4096];
	ssize_t k;
	while ((k = read(p[0], b, sizeof(b))) > 0 || (k < 0 && errno == EINTR))
		if (k > 0 && out && out->len < (1u << 20))
			buf_append(out, b, (size_t)k);
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static bool table_has_bridge(const char *table)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;
	bool found = false;
	if (!d)
		return true;	/* cannot tell: not stale */
	while (!found && (de = readdir(d))) {
		char p[300], t[64];
		struct stat sb;
		snprintf(p, sizeof(p), "/sys/class/net/%s/bridge", de->d_name);
		if (stat(p, &sb) < 0)
			continue;
		nat_table_name(de->d_name, t, sizeof(t));
		found = strcmp(t, table) == 0;
	}
	closedir(d);
	return found;
}

static void check_nft(struct ncheck *c)
{
	char *ls[] = { "nft", "list", "tables", "ip", NULL };
	_cleanup_buf_ struct buf out = BUF_INIT;
	if (run(ls, &out) != 0)
		return;	/* no nft, or no permission: nothing to judge */
	buf_putc(&out, 0);
	_cleanup_strv_ char **lines = str_split(out.data, '\n');
	for (char **l = lines; l && *l; l++) {
		char t[64];
		if (sscanf(*l, "table ip %63s", t) != 1 || !str_startswith(t, "ucrt_"))
			continue;
		c->st->tables++;
		if (table_has_bridge(t))
			continue;
		char *del[] = { "nft", "delete", "table", "ip", t, NULL };
		bool ok = c->repair && run(del, NULL) == 0;
		_cleanup_free_ char *what = xasprintf("nft table ip %s", t);
		check_problem(c->rep, what, ok, "NAT rules of a bridge that no longer exists%s", ok ? ": deleted" : "");
	}
}

int net_check(const char *root, bool repair, struct check_report *rep, struct net_check_stats *st, struct err *err)
{
	memset(st, 0, sizeof(*st));
	struct ncheck c = { .repair = repair, .rep = rep, .st = st };
	check_leases(&c, root);
	check_nft(&c);
	return 0;
}
