/* Records of running --parallel instances (instances.c): where they live
 * (per user and per root, 0700; files 0600; a directory open to others is
 * not used), a round trip, order, records of a dead or
 * recycled owner skipped and swept, temp files of a dead writer, junk;
 * ctr_find's refusal naming the run; ctr_check reports and repairs stale
 * records. */
#include "tests/lib/tap.h"
#include "tests/lib/check-report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "util.h"

static char root[] = "/tmp/ucrt-instances-XXXXXX";

static void t_record(int dfd, struct ctr_instance *in, const char *name, unsigned idx, int64_t created,
		     pid_t owner, uint64_t start)
{
	char *argv[] = { "sh", "-c", "sleep \"1\"", NULL }, *labels[] = { "team=a", "ucrt.parallel.index=0", NULL };

	memset(in, 0, sizeof(*in));
	ctr_instance_new_id(in->id);
	in->name = (char *)name;
	in->group = "0123456789ab";
	in->index = idx;
	in->count = 4;
	in->image = "reg/x:1";
	in->argv = argv;
	in->labels = labels;
	in->created = created;
	in->owner = owner;
	in->owner_start = start;
	t_ok(ctr_instance_write(dfd, in) == 0, "write %s", name);
}

struct stale {
	unsigned n, removed, unreadable;
};

static void t_stale(void *arg, const struct ctr_instance *in, const char *file, pid_t owner, bool removed)
{
	struct stale *s = arg;

	s->n++;
	s->removed += removed;
	s->unreadable += !in;
	t_diag("stale %s (owner %d)%s", file, (int)owner, removed ? " removed" : "");
}

static bool t_exists(int dfd, const char *file)
{
	return faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The directory another user would get (a child with their uid). */
static void t_other_user(void)
{
	int fds[2];
	char got[2][256] = { "", "" };

	if (geteuid() != 0 || pipe(fds) < 0) {
		t_ok(1, "another user's directory # SKIP needs root to take another uid");
		t_ok(1, "... without XDG_RUNTIME_DIR # SKIP needs root");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		if (setresuid(65534, 65534, 65534) < 0)
			_exit(1);
		setenv("XDG_RUNTIME_DIR", "/run/user/65534", 1);
		char *a = ctr_instances_dir("/srv/r");
		unsetenv("XDG_RUNTIME_DIR");
		char *b = ctr_instances_dir("/srv/r");
		dprintf(fds[1], "%s\n%s\n", a, b);
		_exit(0);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	if (f && fgets(got[0], sizeof(got[0]), f) && fgets(got[1], sizeof(got[1]), f)) {
		got[0][strcspn(got[0], "\n")] = 0;
		got[1][strcspn(got[1], "\n")] = 0;
	}
	if (f)
		fclose(f);
	waitpid(pid, NULL, 0);
	t_ok(str_startswith(got[0], "/run/user/65534/ucrt/instances/") && strlen(got[0]) == 31 + 16,
	     "another user: $XDG_RUNTIME_DIR/ucrt/instances/<hash> (%s)", got[0]);
	t_ok(str_startswith(got[1], "/tmp/ucrt-65534/instances/"), "... or /tmp/ucrt-<uid> without it (%s)", got[1]);
}

int main(void)
{
	struct err e = { 0 };

	if (!mkdtemp(root))
		t_skip_all("mkdtemp");
	_cleanup_free_ char *dir = ctr_instances_dir(root);
	_cleanup_free_ char *same = xasprintf("%s/.", root);
	_cleanup_free_ char *dir2 = ctr_instances_dir(same);
	_cleanup_free_ char *other = ctr_instances_dir("/nonexistent/root");
	t_streq(dir, dir2, "one root, one directory however it is spelled");
	t_ok(strcmp(dir, other) != 0, "another root, another directory");
	if (geteuid() == 0)
		t_ok(str_startswith(dir, "/run/ucrt/instances/"), "root: under /run/ucrt (%s)", dir);
	else
		t_ok(1, "root: under /run/ucrt # SKIP not root");
	t_other_user();

	t_is(ctr_instances_open(root, false), -ENOENT, "no directory before a run");
	struct ctr_instance *v;
	size_t n = 1;
	t_is(ctr_instances_list(root, &v, &n), 0, "listing without a directory");
	t_ok(n == 0 && !v, "... lists nothing");
	int dfd = ctr_instances_open(root, true);
	t_ok(dfd >= 0, "made by a run");
	struct stat st;
	t_ok(fstat(dfd, &st) == 0 && (st.st_mode & 0777) == 0700, "0700");

	char a[CTR_ID_LEN + 1], b[CTR_ID_LEN + 1];
	ctr_instance_new_id(a);
	ctr_instance_new_id(b);
	t_ok(strlen(a) == CTR_ID_LEN && str_is_hex(a, CTR_ID_LEN) && strcmp(a, b) != 0, "ids: 64 hex, distinct");

	pid_t self = getpid();
	uint64_t start = ctr_proc_start_time(self);
	struct ctr_instance r1, r0, dead, recycled;
	t_record(dfd, &r1, "job-1", 1, 2000, self, start);
	t_record(dfd, &r0, "job-0", 0, 1000, self, start);
	t_record(dfd, &dead, "job-2", 2, 1500, 999999999, 1);
	t_record(dfd, &recycled, "job-3", 3, 1500, self, start + 1);
	char tmpdead[160], tmplive[160];
	snprintf(tmpdead, sizeof(tmpdead), "%s.json.tmp.999999999.0", a);
	snprintf(tmplive, sizeof(tmplive), "%s.json.tmp.%d.0", b, (int)self);
	close(openat(dfd, tmpdead, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	close(openat(dfd, tmplive, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	write_file_atomic_at(dfd, "junk.json", "{", 1, 0600);

	struct stat fst;
	char rf[CTR_ID_LEN + 8];
	snprintf(rf, sizeof(rf), "%s.json", r0.id);
	t_ok(fstatat(dfd, rf, &fst, 0) == 0 && (fst.st_mode & 0777) == 0600, "records are 0600");
	chmod(dir, 0755);
	t_is(ctr_instances_open(root, false), -EPERM, "a directory open to others is not used");
	t_ok(ctr_instances_list(root, &v, &n) == -EPERM && n == 0, "... nor listed");
	chmod(dir, 0700);
	struct stale s = { 0 };
	t_is(ctr_instances_scan(root, false, t_stale, &s, NULL, NULL), 0, "scan without sweeping");
	t_ok(s.n == 4 && s.removed == 0 && s.unreadable == 2, "dead owner, recycled pid, dead writer's temp, junk (%u)",
	     s.n);
	t_ok(t_exists(dfd, tmpdead) && t_exists(dfd, "junk.json"), "... all kept");

	t_is(ctr_instances_list(root, &v, &n), 0, "list");
	t_is((long)n, 2L, "the live ones");
	t_ok(n == 2 && strcmp(v[0].id, r0.id) == 0 && strcmp(v[1].id, r1.id) == 0, "oldest first");
	if (n == 2) {
		t_ok(strcmp(v[0].name, "job-0") == 0 && strcmp(v[0].group, "0123456789ab") == 0 && v[0].index == 0 &&
		     v[0].count == 4 && strcmp(v[0].image, "reg/x:1") == 0 && v[0].created == 1000 &&
		     v[0].owner == self && v[0].owner_start == start, "fields round-trip");
		t_ok(strv_len(v[0].argv) == 3 && strcmp(v[0].argv[2], "sleep \"1\"") == 0, "args");
		t_ok(strv_len(v[0].labels) == 2 && strcmp(v[0].labels[0], "team=a") == 0, "labels");
	}
	ctr_instances_free(v, n);
	t_ok(!t_exists(dfd, tmpdead) && !t_exists(dfd, "junk.json"), "the dead writer's temp and the junk swept");
	char f[CTR_ID_LEN + 8];
	snprintf(f, sizeof(f), "%s.json", dead.id);
	t_ok(!t_exists(dfd, f), "the dead owner's record swept");
	snprintf(f, sizeof(f), "%s.json", recycled.id);
	t_ok(!t_exists(dfd, f), "the recycled pid's record swept");
	t_ok(t_exists(dfd, tmplive), "a live writer's temp file kept");
	unlinkat(dfd, tmplive, 0);

	char id[CTR_ID_LEN + 1];
	t_is(ctr_find(root, "job-1", id, &e), -EBUSY, "ctr_find: an instance by name");
	t_ok(strstr(err_msg(&e), "instance 1 of the `ucrt run --parallel` with pid") != NULL, "... names the run: %s",
	     err_msg(&e));
	char prefix[13];
	snprintf(prefix, sizeof(prefix), "%.12s", r0.id);
	t_is(ctr_find(root, prefix, id, &e), -EBUSY, "... by id prefix");
	t_is(ctr_find(root, "job-9", id, &e), -ENOENT, "... not an instance: no such container");

	ctr_instance_remove(dfd, r1.id);
	t_is(ctr_instances_list(root, &v, &n), 0, "list after a removal");
	t_ok(n == 1 && strcmp(v[0].id, r0.id) == 0, "the ended instance is gone");
	ctr_instances_free(v, n);

	/* system check: a dead run's records. */
	struct ctr_check_stats cs;
	t_record(dfd, &dead, "job-2", 2, 1500, 999999999, 1);
	t_is(ctr_check(root, false, t_report(), &cs, &e), 0, "check");
	t_ok(t_rep.problems == 1 && t_rep.repaired == 0, "a dead run's record is a problem (%u)", t_rep.problems);
	snprintf(f, sizeof(f), "%s.json", dead.id);
	t_ok(t_exists(dfd, f), "check alone changes nothing");
	t_is(ctr_check(root, true, t_report(), &cs, &e), 0, "repair");
	t_ok(t_rep.repaired == 1 && !t_exists(dfd, f), "removed");
	t_is(ctr_check(root, false, t_report(), &cs, &e), 0, "check again");
	t_ok(t_rep.problems == 0, "clean: a live run's record is no problem");

	ctr_instance_remove(dfd, r0.id);
	close(dfd);
	t_ok(rmdir(dir) == 0, "nothing else was left in the directory");
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", root);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
