/* User-mode networking (--network user, the default without
 * CAP_NET_ADMIN): no bridge, no tap, no privilege. passt (Debian package
 * passt) turns the VM's Ethernet frames into ordinary sockets of the user
 * who runs it; it talks to QEMU over a socketpair (QEMU's -netdev stream
 * with an fd, passt's --fd), so there is no socket file to place or clean
 * up, and it exits when QEMU's end closes (--one-off). Without passt, QEMU's
 * built-in slirp does the same job inside QEMU. Both give the guest the
 * addressing of net.h's NET_USER_*; docs/network.md compares them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "net-internal.h"

#define NET_PASST_FD 3

static char *net_passt_find(const char *want)
{
	const char *path = getenv("PATH");
	_cleanup_strv_ char **dirs = NULL;

	if (want && strchr(want, '/'))
		return access(want, X_OK) == 0 ? xstrdup(want) : NULL;
	dirs = str_split(path && *path ? path : "/usr/bin:/bin", ':');
	for (char **d = dirs; *d; d++) {
		char *p = xasprintf("%s/%s", **d ? *d : ".", want ? want : "passt");
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	/* sbin is not on an ordinary user's PATH everywhere. */
	return access("/usr/bin/passt", X_OK) == 0 ? xstrdup("/usr/bin/passt") : NULL;
}

/* The grandchild execs passt; the child exits at once, so passt belongs
 * to init (or the subreaper) and nobody has to reap it. Only
 * async-signal-safe calls between fork and exec. */
static __attribute__((noreturn)) void net_passt_child(char **argv, int sock, int devnull, int logfd)
{
	sigset_t none;

	setsid();
	if (fork() != 0)
		_exit(0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(logfd >= 0 ? logfd : devnull, 2) < 0 ||
	    dup2(sock, NET_PASST_FD) < 0)
		_exit(127);
	syscall(SYS_close_range, NET_PASST_FD + 1, ~0u, 0);
	execv(argv[0], argv);
	_exit(127);
}

int net_passt_start(const char *passt, const char *log, char *const *extra, int *qemu_fd, struct err *err)
{
	const char *want = passt ? passt : getenv("UCRT_PASST");
	_cleanup_free_ char *bin = NULL;
	_cleanup_close_ int devnull = -1, logfd = -1;
	int sv[2], st;
	pid_t pid;

	*qemu_fd = -1;
	if (want && (strcmp(want, "none") == 0 || !*want))
		return 0;
	bin = net_passt_find(want);
	if (!bin) {
		if (want)
			return err_set(err, ENOENT, "passt '%s' not found (UCRT_PASST)", want);
		return 0;
	}
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", NET_PASST_FD);
	/* -4: the guest is configured for IPv4 only. --dns-forward: the
	 * guest's resolver address reaches the host's. -q -f: quiet, stay
	 * in the foreground (its own session; we do not wait for it). */
	char *base[] = { bin, "-q", "-f", "-1", "-4", "--fd", fdarg,
			 "-a", NET_USER_ADDR, "-n", "24", "-g", NET_USER_GATEWAY,
			 "--dns-forward", NET_USER_DNS, NULL };
	_cleanup_strv_ char **argv = NULL;

	for (char **a = base; *a; a++)
		strv_push(&argv, *a);
	for (char *const *a = extra; a && *a; a++)
		strv_push(&argv, *a);

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return err_setx(err, errno, "/dev/null");
	/* passt's errors (-q keeps only those), e.g. when it cannot set up
	 * its own sandbox: the guest would just see no network. */
	if (log && (logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return err_setx(err, errno, "opening %s", log);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_setx(err, errno, "socketpair for passt");
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return err_setx(err, e, "fork");
	}
	if (pid == 0)
		net_passt_child(argv, sv[1], devnull, logfd);
	close(sv[1]);
	/* The intermediate child exits right after its fork. */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		close(sv[0]);
		return err_set(err, ECHILD, "starting %s failed", bin);
	}
	log_debug("net: passt %s for user-mode networking", bin);
	*qemu_fd = sv[0];
	return 1;
}

int net_user_forwards(const struct net_port *p, size_t n, char ***passt_args, char **slirp, struct err *err)
{
	struct buf b = BUF_INIT;

	*passt_args = NULL;
	*slirp = NULL;
	for (size_t i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN] = "";
		bool udp = p[i].proto == IPPROTO_UDP;

		if (!p[i].host_port) {
			strv_free(TAKE_PTR(*passt_args));
			buf_free(&b);
			return err_set(err, EINVAL, "-p %u: user-mode networking needs the host port (HOST:%u)",
				       p[i].ctr_port, p[i].ctr_port);
		}
		if (p[i].host_ip.s_addr)
			inet_ntop(AF_INET, &p[i].host_ip, ip, sizeof(ip));
		strv_push(passt_args, udp ? "-u" : "-t");
		char *spec = xasprintf("%s%s%u:%u", ip, *ip ? "/" : "", p[i].host_port, p[i].ctr_port);
		strv_push(passt_args, spec);
		free(spec);
		buf_printf(&b, ",hostfwd=%s:%s:%u-%s:%u", udp ? "udp" : "tcp", ip, p[i].host_port, NET_USER_ADDR,
			   p[i].ctr_port);
	}
	*slirp = b.data ? buf_steal(&b) : NULL;
	return 0;
}
