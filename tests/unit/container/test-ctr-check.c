/* ctr_check: a half-created container directory older than a minute is
 * reported and removed with repair; a younger one is left alone (a run may
 * be creating it); a container recorded as running whose owner is gone is
 * reported and marked dead; a clean root reports nothing. */
#include "tests/lib/tap.h"
#include "tests/lib/check-report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "util.h"

static char root[] = "/tmp/ucrt-ctr-check-XXXXXX";

int main(void)
{
	struct err e = { 0 };
	struct ctr_check_stats st;
	if (!mkdtemp(root))
		t_skip_all("mkdtemp");
	t_is(ctr_check(root, false, t_report(), &st, &e), 0, "an empty root");
	t_ok(st.containers == 0 && t_rep.problems == 0, "nothing to report");

	_cleanup_free_ char *old = xasprintf("%s/containers/%064d", root, 1);
	_cleanup_free_ char *young = xasprintf("%s/containers/%064d", root, 2);
	_cleanup_free_ char *cdir = xasprintf("%s/containers", root);
	mkdir(cdir, 0700);
	mkdir(old, 0700);
	mkdir(young, 0700);
	struct timeval tv[2] = { { time(NULL) - 300, 0 }, { time(NULL) - 300, 0 } };
	utimes(old, tv);
	t_is(ctr_check(root, false, t_report(), &st, &e), 0, "two half-created directories");
	t_ok(st.containers == 2 && t_rep.problems == 1, "only the old one is a problem (%u)", t_rep.problems);
	t_is(ctr_check(root, true, t_report(), &st, &e), 0, "repair");
	t_ok(t_rep.repaired == 1 && access(old, F_OK) < 0 && access(young, F_OK) == 0,
	     "the old one is gone, the young kept");

	/* A real container, recorded as running by a pid that is gone. */
	struct ctr_config c = { 0 };
	c.image = xstrdup("img");
	c.spec.argv = xcalloc(2, sizeof(char *));
	c.spec.argv[0] = xstrdup("true");
	c.spec.env = xcalloc(2, sizeof(char *));
	c.spec.env[0] = xstrdup("PATH=/bin");
	c.spec.cwd = xstrdup("/");
	c.disk = xstrdup("/nonexistent.ext4");
	t_is(ctr_create(root, &c, &e), 0, "create a container");
	t_is(ctr_config_write(root, &c, &e), 0, "its config.json");
	struct ctr_state s = { .status = CTR_RUNNING, .owner = 999999999, .owner_start = 1, .exit_code = -1 };
	t_is(ctr_state_write(root, c.id, &s), 0, "state: running, owner gone");
	t_is(ctr_check(root, false, t_report(), &st, &e), 0, "check");
	t_is(t_rep.problems, 1, "reported");
	struct ctr_state now;
	t_is(ctr_state_read(root, c.id, &now), 0, "state read");
	t_is(now.status, CTR_RUNNING, "check alone changes nothing");
	t_is(ctr_check(root, true, t_report(), &st, &e), 0, "repair");
	t_ok(ctr_state_read(root, c.id, &now) == 0 && now.status == CTR_DEAD, "marked dead");
	t_is(ctr_check(root, false, t_report(), &st, &e), 0, "check again");
	t_is(t_rep.problems, 0, "clean");
	ctr_config_free(&c);
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", root);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
