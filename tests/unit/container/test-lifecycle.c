/* The CLI-side lifecycle calls without a VM: ctr_wait reads an ended
 * container's exit code from state.json (and says when it was removed or
 * died without one), ctr_stop_wait of a container that is not running
 * succeeds without doing anything, ctr_start_detached leaves a running
 * container alone. The real starts, stops and waits are in
 * tests/integration/run-lifecycle.sh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static char root[64];

static void t_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", root);
}

static void t_make(struct ctr_config *c, const char *name)
{
	char *argv[] = { "true", NULL };
	struct err e = { 0 };

	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->image = xstrdup("x");
	c->disk = xstrdup("/nonexistent.ext4");
	c->spec.argv = strv_dup(argv);
	c->spec.cwd = xstrdup("/");
	if (ctr_create(root, c, &e) < 0)
		{ t_diag("ctr_create: %s", err_msg(&e)); exit(1); }
}

int main(void)
{
	struct ctr_config c;
	struct ctr_state st;
	struct err e = { 0 };
	char id[CTR_ID_LEN + 1];

	snprintf(root, sizeof(root), "/tmp/ucrt-t-lc.%d", (int)getpid());
	atexit(t_cleanup);

	t_make(&c, "ended");
	snprintf(id, sizeof(id), "%s", c.id);
	st = (struct ctr_state){ .status = CTR_EXITED, .exit_code = 7, .finished = (int64_t)time(NULL) };
	ctr_state_write(root, id, &st);
	t_is(ctr_wait(root, id, &e), 7, "wait: an exited container's code");
	t_is(ctr_stop_wait(root, id, 1, &e), 0, "stop of an exited container succeeds");
	ctr_state_read(root, id, &st);
	t_ok(st.status == CTR_EXITED && st.exit_code == 7, "... and changes nothing");

	st = (struct ctr_state){ .status = CTR_RUNNING, .owner = getpid(), .exit_code = -1 };
	st.owner_start = ctr_proc_start_time(getpid());
	ctr_state_write(root, id, &st);
	t_is(ctr_start_detached("/nonexistent", root, id, false, &e), 1, "start of a running container: nothing to do");

	st = (struct ctr_state){ .status = CTR_DEAD, .exit_code = -1 };
	snprintf(st.error, sizeof(st.error), "its ucrt died");
	ctr_state_write(root, id, &st);
	e = (struct err){ 0 };
	t_ok(ctr_wait(root, id, &e) < 0 && strstr(err_msg(&e), "its ucrt died"), "wait: a dead one has no code");

	st = (struct ctr_state){ .status = CTR_CREATED, .exit_code = -1 };
	ctr_state_write(root, id, &st);
	t_is(ctr_refresh(root, id, &st), CTR_CREATED, "created without owner stays created");
	t_is(ctr_stop_wait(root, id, 1, &e), 0, "stop of a created container succeeds");
	ctr_remove(root, id, false, &e);
	e = (struct err){ 0 };
	t_ok(ctr_wait(root, id, &e) < 0 && e.code == ENOENT, "wait: a removed container is an error");
	e = (struct err){ 0 };
	t_ok(ctr_start_detached("/nonexistent", root, id, false, &e) < 0 && e.code, "start of a removed one fails");
	ctr_config_free(&c);
	return t_done();
}
