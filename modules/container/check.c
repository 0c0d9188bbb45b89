/* `ucrt system check`, the containers' part: state files that do not
 * parse, containers recorded as running whose ucrt died (kill -9, OOM),
 * --rm containers that ended without being removed, half-created
 * directories, and temp files of state writes that died before their
 * rename; records of `run --parallel` instances whose run died. With
 * repair: the dead are marked dead (their QEMU killed if it lingers), --rm
 * leftovers, half-created directories and stale records removed, temp
 * files deleted. A directory younger than a minute without state may be a
 * `run` still creating it: it is left alone (ctr_refresh's rule). */
#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "err.h"
#include "util.h"

struct ccheck {
	const char *root;
	bool repair;
	struct check_report *rep;
	struct ctr_check_stats *st;
};

/* A problem of container id, reported as "container <short id>". */
static void problem(struct ccheck *c, const char *id, bool repaired, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void problem(struct ccheck *c, const char *id, bool repaired, const char *fmt, ...)
{
	char what[32];
	va_list ap;
	snprintf(what, sizeof(what), "container %.12s", id);
	va_start(ap, fmt);
	check_vproblem(c->rep, what, repaired, fmt, ap);
	va_end(ap);
}

/* "<file>.tmp.<pid>" of write_file_atomic_at in the container's directory,
 * judged only when nobody owns the container any more. */
static void check_temps(struct ccheck *c, const char *id)
{
	_cleanup_free_ char *dir = ctr_path(c->root, id, NULL);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, ".tmp."))
			continue;
		bool ok = c->repair && unlinkat(dfd, de->d_name, 0) == 0;
		problem(c, id, ok, "temp file %s of a state write that died%s", de->d_name, ok ? ": removed" : "");
	}
	closedir(d);
}

static void check_one(struct ccheck *c, const char *id)
{
	struct ctr_config cfg;
	struct ctr_state s;
	struct err e = { 0 };
	c->st->containers++;
	int rc = ctr_config_read(c->root, id, &cfg, &e);
	int rs = ctr_state_read(c->root, id, &s);
	_cleanup_free_ char *dir = ctr_path(c->root, id, NULL);
	struct stat sb;
	bool young = stat(dir, &sb) == 0 && time(NULL) - sb.st_mtime <= 60;
	bool owner_alive = rs == 0 && ctr_proc_alive(s.owner, s.owner_start);
	if (rc < 0 || (rs < 0 && rs != -ENOENT)) {
		if (young && rs == -ENOENT)
			goto out;	/* a run may be creating it */
		if (owner_alive)
			goto out;
		bool ok = false;
		if (c->repair) {
			struct err re = { 0 };
			ok = ctr_remove(c->root, id, true, &re) == 0;
		}
		problem(c, id, ok, "%s%s", rc < 0 ? "config.json missing or unreadable (half-created)"
						  : "state.json does not parse",
			ok ? ": removed" : "");
		goto out;
	}
	if (s.status == CTR_RUNNING && !owner_alive) {
		bool ok = false;
		if (c->repair) {
			struct ctr_state now;
			ok = ctr_refresh(c->root, id, &now) == CTR_DEAD;
		}
		problem(c, id, ok, "recorded as running, but the ucrt that ran it (pid %d) is gone%s", (int)s.owner,
			ok ? ": marked dead" : "");
		if (ok)
			s.status = CTR_DEAD;
	}
	if (cfg.rm && (s.status == CTR_EXITED || s.status == CTR_DEAD) && !owner_alive) {
		bool ok = false;
		if (c->repair) {
			struct err re = { 0 };
			ok = ctr_remove(c->root, id, true, &re) == 0;
		}
		problem(c, id, ok, "a --rm container that ended and was not removed%s", ok ? ": removed" : "");
		ctr_config_free(&cfg);
		return;
	}
	if (!owner_alive)
		check_temps(c, id);
out:
	if (rc == 0)
		ctr_config_free(&cfg);
}

static void check_instance(void *arg, const struct ctr_instance *in, const char *file, pid_t owner, bool removed)
{
	problem(arg, in ? in->id : file, removed, "record of a --parallel instance%s%s whose ucrt (pid %d) is gone%s",
		in ? " " : "", in ? in->name : "", (int)owner, removed ? ": removed" : "");
}

int ctr_check(const char *root, bool repair, struct check_report *rep, struct ctr_check_stats *st,
	      struct err *err)
{
	memset(st, 0, sizeof(*st));
	struct ccheck c = { .root = root, .repair = repair, .rep = rep, .st = st };
	_cleanup_strv_ char **ids = NULL;
	int r = ctr_list(root, &ids);
	if (r < 0)
		return err_setx(err, r, "listing containers");
	for (char **id = ids; *id; id++)
		check_one(&c, *id);
	/* Records of --parallel instances whose run died (instances.c). */
	ctr_instances_scan(root, repair, check_instance, &c, NULL, NULL);
	return 0;
}
