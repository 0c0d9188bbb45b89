/* net_check on a root's lease file: a lease whose owner process is gone is
 * reported, and dropped with repair; a live one (this process) is kept.
 * No tap or bridge is made here (tests/integration/system-check.sh and
 * the kill -9 test see real ones). */
#include "tests/lib/tap.h"
#include "tests/lib/check-report.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "net/net-internal.h"
#include "util.h"

static char root[] = "/tmp/ucrt-net-check-XXXXXX";

int main(void)
{
	struct err e = { 0 };
	struct net_check_stats st;
	if (!mkdtemp(root))
		t_skip_all("mkdtemp");
	t_is(net_check(root, false, t_report(), &st, &e), 0, "no net/ at all");
	t_ok(st.leases == 0 && t_rep.problems == 0, "nothing to report");

	struct net_lease l[2] = { 0 };
	inet_pton(AF_INET, "10.250.0.2", &l[0].addr);
	snprintf(l[0].owner, sizeof(l[0].owner), "%064d", 1);
	l[0].pid = 999999999;
	l[0].pid_start = 1;
	snprintf(l[0].ifname, sizeof(l[0].ifname), "ucrt-0afa0002");
	inet_pton(AF_INET, "10.250.0.3", &l[1].addr);
	snprintf(l[1].owner, sizeof(l[1].owner), "%064d", 2);
	l[1].pid = getpid();
	l[1].pid_start = ctr_proc_start_time(getpid());
	snprintf(l[1].ifname, sizeof(l[1].ifname), "ucrt-0afa0003");
	_cleanup_free_ char *text = ipam_format(l, 2);
	_cleanup_free_ char *dir = xasprintf("%s/net", root);
	mkdir(dir, 0700);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	t_is(write_file_atomic_at(dfd, "leases", text, strlen(text), 0600), 0, "a lease file: one dead, one live");
	close(dfd);

	t_is(net_check(root, false, t_report(), &st, &e), 0, "check");
	t_ok(st.leases == 2 && t_rep.problems == 1 && t_rep.repaired == 0, "the dead lease is reported (%u)",
	     t_rep.problems);
	t_is(net_check(root, true, t_report(), &st, &e), 0, "repair");
	t_is(t_rep.repaired, 1, "dropped");
	struct net_lease *v = NULL;
	size_t n = 0;
	t_ok(net_lease_list(root, &v, &n) == 0 && n == 1 && v[0].pid == getpid(), "the live lease stays");
	free(v);
	t_is(net_check(root, false, t_report(), &st, &e), 0, "check again");
	t_is(t_rep.problems, 0, "clean");
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", root);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
