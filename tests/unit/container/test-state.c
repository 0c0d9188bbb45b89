/* Container state on disk: create with unique names, config round trip,
 * lookup by name / id prefix, liveness by pid + start time (a dead owner
 * makes the container "dead" and its lingering QEMU is killed), remove,
 * a removal killed at every step; reading /etc/passwd out of an ext4
 * image (through a symlink). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static char root[64];

/* Fault injection: with a budget set, the process dies by SIGKILL right
 * before its budget+1'th unlinkat (every file and the directory of a
 * container go through unlinkat), so each step of a removal can be
 * interrupted the way `kill -9` would. */
static int t_unlink_budget = -1;

int unlinkat(int dirfd, const char *path, int flags)
{
	if (t_unlink_budget >= 0 && t_unlink_budget-- == 0)
		raise(SIGKILL);
	return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}

static void t_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", root);
}

static void t_new(struct ctr_config *c, const char *name)
{
	char *argv[] = { "sh", "-c", "echo \"quoted\"", NULL }, *env[] = { "A=1", NULL };

	memset(c, 0, sizeof(*c));
	c->name = name ? xstrdup(name) : NULL;
	c->image = xstrdup("127.0.0.1:5000/x:1");
	c->disk = xstrdup("/nonexistent.ext4");
	c->cpus = 2;
	c->mem_mib = 512;
	c->spec.argv = strv_dup(argv);
	c->spec.env = strv_dup(env);
	c->spec.cwd = xstrdup("/srv");
	c->spec.uid = 1000;
	c->spec.tty = true;
}

static pid_t t_sleeper(void)
{
	pid_t p = fork();

	if (p == 0) {
		execl("/bin/sleep", "sleep", "100", (char *)NULL);
		_exit(127);
	}
	usleep(50000);
	return p;
}

static void t_lifecycle(void)
{
	struct ctr_config a, b, r;
	struct err e = { 0 };
	char id[CTR_ID_LEN + 1];

	t_new(&a, "alpha");
	t_ok(ctr_create(root, &a, &e) == 0, "create alpha");
	t_is(strlen(a.id), CTR_ID_LEN, "64-hex id");
	t_new(&b, "alpha");
	t_ok(ctr_create(root, &b, &e) == -EEXIST && strstr(e.msg, "already in use"), "name taken: %s", e.msg);
	ctr_config_free(&b);
	t_new(&b, "bad/name");
	t_ok(ctr_create(root, &b, &e) == -EINVAL, "invalid name refused");
	ctr_config_free(&b);
	t_new(&b, NULL);
	t_ok(ctr_create(root, &b, &e) == 0 && strlen(b.name) == CTR_SHORT_ID && str_startswith(b.id, b.name),
	     "default name is the short id");

	t_ok(ctr_config_read(root, a.id, &r, &e) == 0, "config read back");
	t_streq(r.name, "alpha", "name");
	t_streq(r.spec.argv[2], "echo \"quoted\"", "argv with quotes");
	t_streq(r.spec.cwd, "/srv", "cwd");
	t_ok(r.cpus == 2 && r.mem_mib == 512 && r.spec.uid == 1000 && r.spec.tty, "numbers and flags");
	ctr_config_free(&r);

	t_ok(ctr_find(root, "alpha", id, &e) == 0 && strcmp(id, a.id) == 0, "find by name");
	char prefix[8];
	snprintf(prefix, sizeof(prefix), "%.6s", a.id);
	t_ok(ctr_find(root, prefix, id, &e) == 0 && strcmp(id, a.id) == 0, "find by id prefix");
	t_ok(ctr_find(root, "nope", id, &e) == -ENOENT, "unknown name: %s", e.msg);

	char **ids = NULL;
	t_ok(ctr_list(root, &ids) == 0 && strv_len(ids) == 2, "list has both");
	strv_free(ids);

	/* A running container whose owner died: dead, and its QEMU (here a
	 * sleep standing in) is killed. */
	pid_t owner = t_sleeper(), qemu = t_sleeper();
	struct ctr_state s = { .status = CTR_RUNNING, .owner = owner, .qemu = qemu, .exit_code = -1 };
	s.owner_start = ctr_proc_start_time(owner);
	s.qemu_start = ctr_proc_start_time(qemu);
	t_ok(s.owner_start && s.qemu_start, "start times read");
	t_ok(ctr_state_write(root, a.id, &s) == 0, "state written");
	t_is(ctr_refresh(root, a.id, &s), CTR_RUNNING, "owner alive: running");
	t_ok(ctr_remove(root, a.id, false, &e) == -EBUSY, "rm of a running one refused");
	kill(owner, SIGKILL);
	waitpid(owner, NULL, 0);
	t_is(ctr_refresh(root, a.id, &s), CTR_DEAD, "owner gone: dead");
	t_ok(strstr(s.error, "died") != NULL, "state says why: %s", s.error);
	int wst = 0;
	t_ok(waitpid(qemu, &wst, 0) == qemu && WIFSIGNALED(wst), "lingering QEMU killed");
	t_is(ctr_refresh(root, a.id, &s), CTR_DEAD, "dead stays dead");

	/* A recycled pid (same pid, other start time) is not the owner. */
	pid_t me = getpid();
	s = (struct ctr_state){ .status = CTR_RUNNING, .owner = me, .owner_start = ctr_proc_start_time(me) + 1,
				.exit_code = 0 };
	ctr_state_write(root, b.id, &s);
	t_is(ctr_refresh(root, b.id, &s), CTR_EXITED, "pid reused by another process: not running");

	t_ok(ctr_remove(root, a.id, false, &e) == 0, "rm dead one");
	t_ok(ctr_remove(root, b.id, true, &e) == 0, "rm -f");
	ids = NULL;
	t_ok(ctr_list(root, &ids) == 0 && strv_len(ids) == 0, "nothing left");
	strv_free(ids);
	ctr_config_free(&a);
	ctr_config_free(&b);
}

/* `rm -f` killed at any point: the container is either still there
 * exactly as it was, or gone; never "created", never half-listed. */
static void t_killed_rm(void)
{
	bool all_ok = true, finished = false;
	unsigned k;

	for (k = 0; k < 32 && !finished; k++) {
		struct ctr_config c;
		struct ctr_state s = { .status = CTR_EXITED, .exit_code = 3, .finished = 1 };
		struct err e = { 0 };
		char **ids = NULL;
		int wst = 0;

		t_new(&c, "victim");
		if (ctr_create(root, &c, &e) < 0 || ctr_state_write(root, c.id, &s) < 0) {
			t_ok(0, "victim created: %s", e.msg);
			return;
		}
		for (const char *f = "output.log\0console.log\0"; *f; f += strlen(f) + 1) {
			_cleanup_free_ char *p = ctr_path(root, c.id, f);
			FILE *fp = fopen(p, "w");
			if (fp)
				fclose(fp);
		}
		pid_t pid = fork();
		if (pid == 0) {
			t_unlink_budget = (int)k;
			_exit(ctr_remove(root, c.id, true, NULL) < 0 ? 1 : 0);
		}
		waitpid(pid, &wst, 0);
		finished = WIFEXITED(wst);
		ctr_list(root, &ids);
		bool listed = ids && ids[0] && strcmp(ids[0], c.id) == 0;
		enum ctr_status st = listed ? ctr_refresh(root, c.id, &s) : CTR_EXITED;
		if (strv_len(ids) > 1 || (listed && (st != CTR_EXITED || s.exit_code != 3))) {
			t_diag("killed before unlinkat #%u: listed %zu, status %s", k + 1, strv_len(ids),
			       ctr_status_name(st));
			all_ok = false;
		}
		strv_free(ids);
		if (listed)
			ctr_remove(root, c.id, true, NULL);
		ctr_config_free(&c);
	}
	t_ok(finished, "a removal needs %u unlinkat calls", k - 1);
	t_ok(all_ok, "a removal killed at any of them leaves the container as it was, or gone");
	char **ids = NULL;
	ctr_list(root, &ids);
	t_is(strv_len(ids), 0, "nothing listed");
	strv_free(ids);
	_cleanup_free_ char *cmd = xasprintf("ls -a '%s/containers' | grep -q '^\\.rm-'", root);
	t_ok(system(cmd) != 0, "listing swept what the killed removals left");
}

static void t_disk_read(void)
{
	char cmd[512], *text = NULL;
	struct err e = { 0 };

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/tree/etc/real && printf 'root:x:0:0::/root:/bin/sh\\n' > "
		 "%s/tree/etc/real/passwd && ln -s real/passwd %s/tree/etc/passwd && "
		 "mke2fs -q -F -t ext4 -d %s/tree %s/d.ext4 8M >/dev/null 2>&1", root, root, root, root, root);
	if (system(cmd) != 0) {
		t_skip_all("mke2fs -d not available");
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s/d.ext4", root);
	t_ok(ctr_disk_read_file(cmd, "/etc/passwd", 4096, &text, &e) == 0, "read through a symlink");
	t_streq(text, "root:x:0:0::/root:/bin/sh\n", "content");
	free(text);
	t_ok(ctr_disk_read_file(cmd, "/etc/group", 4096, &text, &e) == -ENOENT, "missing file: -ENOENT");
	t_ok(ctr_disk_read_file(cmd, "/etc/passwd", 4, &text, &e) == -EFBIG, "size limit");
	t_ok(ctr_disk_read_file("/nonexistent", "/etc/passwd", 4096, &text, &e) < 0, "no disk");
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/ucrt-state-test.XXXXXX");
	if (!mkdtemp(root))
		t_skip_all("mkdtemp");
	atexit(t_cleanup);
	t_lifecycle();
	t_killed_rm();
	t_disk_read();
	return t_done();
}
