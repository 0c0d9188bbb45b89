/* ucrt cp's check of the entry names a guest sends back: only below the
 * top-level name asked for, relative, no "..", renamed as docker's
 * destination rule says. The lock of a stopped container's disk: held
 * (a second flock fails), refused while it runs or without an overlay.
 * (The copies themselves: run-cp.sh.) */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "container/container-internal.h"
#include "err.h"
#include "tests/lib/tap.h"
#include "util.h"

static char root[] = "/tmp/ucrt-cp-XXXXXX";

static const char *t_name(const char *name, const char *top, const char *newtop)
{
	static char out[256];

	return ctr_cp_entry_name(name, top, newtop, out, sizeof(out)) ? out : NULL;
}

/* A stopped container, with an overlay or without; its id in c->id. */
static void make_ctr(struct ctr_config *c, const char *overlay)
{
	struct err e = { 0 };
	*c = (struct ctr_config){ 0 };
	c->image = xstrdup("img");
	c->spec.argv = xcalloc(2, sizeof(char *));
	c->spec.argv[0] = xstrdup("true");
	c->spec.env = xcalloc(1, sizeof(char *));
	c->spec.cwd = xstrdup("/");
	c->disk = xstrdup("/nonexistent.ext4");
	c->overlay = overlay ? xstrdup(overlay) : NULL;
	struct ctr_state s = { .status = CTR_EXITED, .exit_code = 0 };
	if (ctr_create(root, c, &e) < 0 || ctr_config_write(root, c, &e) < 0 || ctr_state_write(root, c->id, &s) < 0)
		t_diag("making a container: %s", err_msg(&e));
}

static void test_lock_stopped(void)
{
	struct ctr_config disk, nodisk, cfg;
	struct err e = { 0 };
	if (!mkdtemp(root))
		return (void)t_ok(0, "mkdtemp");
	make_ctr(&disk, "/nonexistent.qcow2");
	make_ctr(&nodisk, NULL);

	int fd = ctr_cp_lock_stopped(root, disk.id, &cfg, &e);
	if (!t_ok(fd >= 0, "a stopped container with an overlay: locked"))
		t_diag("%s", err_msg(&e));
	t_streq(cfg.overlay, "/nonexistent.qcow2", "its config read");
	_cleanup_free_ char *lp = xasprintf("%s/containers/%s/start.lock", root, disk.id);
	int other = open(lp, O_RDWR | O_CLOEXEC);
	t_ok(other >= 0 && flock(other, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "start.lock is held");
	if (fd >= 0) {
		ctr_config_free(&cfg);
		close(fd);
	}
	t_ok(flock(other, LOCK_EX | LOCK_NB) == 0, "and free once the fd is closed");
	close(other);

	t_is(ctr_cp_lock_stopped(root, nodisk.id, &cfg, &e), -ENOENT, "no overlay: refused");
	t_ok(strstr(e.msg, "keeps no disk") != NULL, "and says so: %s", e.msg);

	struct ctr_state s = { .status = CTR_RUNNING, .owner = getpid(), .owner_start = ctr_proc_start_time(getpid()),
			       .exit_code = -1 };
	ctr_state_write(root, disk.id, &s);
	err_clear(&e);
	t_is(ctr_cp_lock_stopped(root, disk.id, &cfg, &e), -EBUSY, "running with a live owner: refused");
	t_ok(strstr(e.msg, "started meanwhile") != NULL, "and says so: %s", e.msg);

	err_clear(&e);
	t_ok(ctr_cp_lock_stopped(root, "0123456789ab", &cfg, &e) < 0 && strstr(e.msg, "locking"),
	     "no such container: the lock cannot be taken (%s)", e.msg);
	ctr_config_free(&disk);
	ctr_config_free(&nodisk);
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", root);
	if (system(rm) != 0)
		t_diag("cleanup failed");
}

int main(void)
{
	t_streq(t_name("tree", "tree", "tree"), "tree", "the top entry");
	t_streq(t_name("tree/sub/x", "tree", "copy"), "copy/sub/x", "below it, renamed");
	t_streq(t_name("./tree/f", "tree", "tree"), "tree/f", "a leading ./ dropped");
	t_ok(!t_name("/etc/passwd", "tree", "tree"), "an absolute name refused");
	t_ok(!t_name("tree/../../etc/passwd", "tree", "tree"), "\"..\" refused");
	t_ok(!t_name("tree/a/..", "tree", "tree"), "a trailing \"..\" refused");
	t_ok(!t_name("other/f", "tree", "tree"), "another top-level name refused");
	t_ok(!t_name("treehouse/f", "tree", "tree"), "a name that only starts like top refused");
	t_ok(!t_name("", "tree", "tree"), "empty refused");
	t_ok(t_name("tree/..x", "tree", "tree") != NULL, "\"..x\" is a name like any other");
	char small[8];
	t_ok(!ctr_cp_entry_name("tree/long/name", "tree", "tree", small, sizeof(small)), "too long for out refused");
	test_lock_stopped();
	return t_done();
}
