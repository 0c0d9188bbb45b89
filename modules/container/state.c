/* Container state on disk: <root>/containers/<id>/{config.json,state.json}
 * plus the logs and the overlay disk. Every writer replaces a file
 * atomically (temp + rename), so a reader never sees half a file, and a
 * ucrt killed at any point leaves files that still parse. Liveness is
 * judged by pid AND process start time, so a recycled pid is not taken for
 * a running container. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "container/container.h"
#include "container-internal.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"

const char *ctr_status_name(enum ctr_status s)
{
	static const char *const names[] = { "created", "running", "exited", "dead" };

	return s <= CTR_DEAD ? names[s] : "unknown";
}

char *ctr_path(const char *root, const char *id, const char *file)
{
	return xasprintf("%s/containers/%s%s%s", root, id, file ? "/" : "", file ? file : "");
}

void ctr_config_free(struct ctr_config *c)
{
	free(c->name);
	free(c->image);
	free(c->image_id);
	free(c->disk);
	free(c->overlay);
	free(c->hostname);
	free(c->kernel);
	free(c->accel);
	ctr_spec_free(&c->spec);
	ctr_mounts_free(c->mounts, c->nmounts);
	strv_free(c->labels);
	memset(c, 0, sizeof(*c));
}

uint64_t ctr_proc_start_time(pid_t pid)
{
	char path[64], *text = NULL, *p, *comm_end;
	size_t len;
	uint64_t start = 0;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file_at(AT_FDCWD, path, 4096, &text, &len) < 0)
		return 0;
	/* comm may hold spaces and parentheses: count from the last ')'. */
	p = comm_end = strrchr(text, ')');
	for (int field = 2; p && field < 22; field++) {
		p = strchr(p + 1, ' ');
	}
	if (p)
		start = strtoull(p + 1, NULL, 10);
	/* A zombie is as good as gone for us. */
	if (comm_end && comm_end[1] && comm_end[2] == 'Z')
		start = 0;
	free(text);
	return start;
}

bool ctr_proc_alive(pid_t pid, uint64_t start)
{
	return pid > 0 && start && ctr_proc_start_time(pid) == start;
}

static void ctr_json_spec(struct json_writer *w, const struct ctr_spec *s)
{
	jw_key(w, "process");
	jw_obj_begin(w);
	jw_key(w, "args");
	jw_arr_begin(w);
	for (char **a = s->argv; a && *a; a++)
		jw_str(w, *a);
	jw_arr_end(w);
	jw_key(w, "env");
	jw_arr_begin(w);
	for (char **a = s->env; a && *a; a++)
		jw_str(w, *a);
	jw_arr_end(w);
	jw_key(w, "cwd");
	jw_str(w, s->cwd ? s->cwd : "/");
	jw_key(w, "user");
	jw_str(w, s->user ? s->user : "");
	jw_key(w, "uid");
	jw_uint(w, s->uid);
	jw_key(w, "gid");
	jw_uint(w, s->gid);
	jw_key(w, "tty");
	jw_bool(w, s->tty);
	jw_key(w, "stdin");
	jw_bool(w, s->stdin_open);
	jw_obj_end(w);
}

void ctr_jw_kstr(struct json_writer *w, const char *k, const char *v)
{
	jw_key(w, k);
	if (v)
		jw_str(w, v);
	else
		jw_null(w);
}

int ctr_config_write(const char *root, const struct ctr_config *c, struct err *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	_cleanup_free_ char *dir = ctr_path(root, c->id, NULL);
	struct json_writer w;

	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	ctr_jw_kstr(&w, "id", c->id);
	ctr_jw_kstr(&w, "name", c->name);
	ctr_jw_kstr(&w, "image", c->image);
	ctr_jw_kstr(&w, "image_id", c->image_id);
	ctr_jw_kstr(&w, "disk", c->disk);
	ctr_jw_kstr(&w, "overlay", c->overlay);
	ctr_jw_kstr(&w, "hostname", c->hostname);
	jw_key(&w, "rm");
	jw_bool(&w, c->rm);
	jw_key(&w, "detach");
	jw_bool(&w, c->detach);
	jw_key(&w, "cpus");
	jw_uint(&w, c->cpus);
	jw_key(&w, "memory_mib");
	jw_uint(&w, c->mem_mib);
	ctr_jw_kstr(&w, "kernel", c->kernel);
	ctr_jw_kstr(&w, "accel", c->accel);
	jw_key(&w, "created");
	jw_int(&w, c->created);
	ctr_json_spec(&w, &c->spec);
	jw_key(&w, "read_only");
	jw_bool(&w, c->read_only);
	jw_key(&w, "mounts");
	ctr_mounts_json(&w, c->mounts, c->nmounts, false);
	jw_key(&w, "labels");
	jw_obj_begin(&w);
	for (char **l = c->labels; l && *l; l++) {
		const char *eq = strchr(*l, '=');
		_cleanup_free_ char *k = xstrndup(*l, eq ? (size_t)(eq - *l) : strlen(*l));
		jw_key(&w, k);
		jw_str(&w, eq ? eq + 1 : "");
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	_cleanup_free_ char *path = xasprintf("%s/config.json", dir);
	/* A --rm container's files die with its run: their fsyncs (and the
	 * journal commits they force under the unlinks at its end) would
	 * only add to its start and end. */
	int r = write_file_at(AT_FDCWD, path, b.data, b.len, 0600, !c->rm);
	if (r < 0)
		return err_setx(err, r, "writing %s", path);
	return 0;
}

static char *ctr_jstr(const struct json_doc *d, int obj, const char *key)
{
	int t = json_get(d, obj, key);

	return t >= 0 && json_type(d, t) == JSON_STRING ? json_str(d, t) : NULL;
}

static int64_t ctr_jint(const struct json_doc *d, int obj, const char *key, int64_t dflt)
{
	int64_t v;

	return json_int(d, json_get(d, obj, key), &v) == 0 ? v : dflt;
}

static bool ctr_jbool(const struct json_doc *d, int obj, const char *key)
{
	bool v = false;

	json_bool(d, json_get(d, obj, key), &v);
	return v;
}

static int ctr_read_json(const char *root, const char *id, const char *file, char **text,
			 struct json_doc *d)
{
	_cleanup_free_ char *path = ctr_path(root, id, file);
	size_t len;
	int r = read_file_at(AT_FDCWD, path, 4u << 20, text, &len);

	if (r < 0)
		return r;
	r = json_parse(d, *text, len, 1 << 16);
	if (r < 0 || json_type(d, 0) != JSON_OBJECT) {
		json_free(d);
		free(*text);
		*text = NULL;
		return -EBADMSG;
	}
	return 0;
}

int ctr_config_read(const char *root, const char *id, struct ctr_config *c, struct err *err)
{
	_cleanup_free_ char *text = NULL;
	struct json_doc d;
	int r = ctr_read_json(root, id, "config.json", &text, &d);

	memset(c, 0, sizeof(*c));
	if (r < 0)
		return err_setx(err, r, "container %.12s: config.json", id);
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->name = ctr_jstr(&d, 0, "name");
	c->image = ctr_jstr(&d, 0, "image");
	c->image_id = ctr_jstr(&d, 0, "image_id");
	c->disk = ctr_jstr(&d, 0, "disk");
	c->overlay = ctr_jstr(&d, 0, "overlay");
	c->hostname = ctr_jstr(&d, 0, "hostname");
	c->kernel = ctr_jstr(&d, 0, "kernel");
	c->accel = ctr_jstr(&d, 0, "accel");
	c->rm = ctr_jbool(&d, 0, "rm");
	c->detach = ctr_jbool(&d, 0, "detach");
	c->cpus = (unsigned)ctr_jint(&d, 0, "cpus", 1);
	c->mem_mib = (unsigned)ctr_jint(&d, 0, "memory_mib", 0);
	c->created = ctr_jint(&d, 0, "created", 0);
	int p = json_get(&d, 0, "process");
	struct ctr_spec *s = &c->spec;
	if (json_strv(&d, json_get(&d, p, "args"), &s->argv) < 0 ||
	    json_strv(&d, json_get(&d, p, "env"), &s->env) < 0 || !s->argv || !s->argv[0]) {
		json_free(&d);
		ctr_config_free(c);
		return err_set(err, EBADMSG, "container %.12s: config.json: bad process", id);
	}
	s->cwd = ctr_jstr(&d, p, "cwd");
	s->user = ctr_jstr(&d, p, "user");
	s->uid = (uint32_t)ctr_jint(&d, p, "uid", 0);
	s->gid = (uint32_t)ctr_jint(&d, p, "gid", 0);
	s->tty = ctr_jbool(&d, p, "tty");
	s->stdin_open = ctr_jbool(&d, p, "stdin");
	c->read_only = ctr_jbool(&d, 0, "read_only");
	if (ctr_mounts_from_json(&d, json_get(&d, 0, "mounts"), &c->mounts, &c->nmounts) < 0) {
		json_free(&d);
		ctr_config_free(c);
		return err_set(err, EBADMSG, "container %.12s: config.json: bad mounts", id);
	}
	int lt = json_get(&d, 0, "labels");
	for (int k = json_obj_first(&d, lt); k >= 0; k = json_obj_next(&d, k)) {
		_cleanup_free_ char *key = json_str(&d, k);
		_cleanup_free_ char *val = json_str(&d, k + 1);
		if (key && val) {
			_cleanup_free_ char *kv = xasprintf("%s=%s", key, val);
			strv_push(&c->labels, kv);
		}
	}
	json_free(&d);
	if (!c->disk || !c->name) {
		ctr_config_free(c);
		return err_set(err, EBADMSG, "container %.12s: config.json: no disk or name", id);
	}
	return 0;
}

int ctr_state_write(const char *root, const char *id, const struct ctr_state *s)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	_cleanup_free_ char *path = ctr_path(root, id, "state.json");
	struct json_writer w;

	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	ctr_jw_kstr(&w, "status", ctr_status_name(s->status));
	jw_key(&w, "owner_pid");
	jw_int(&w, s->owner);
	jw_key(&w, "owner_start");
	jw_uint(&w, s->owner_start);
	jw_key(&w, "qemu_pid");
	jw_int(&w, s->qemu);
	jw_key(&w, "qemu_start");
	jw_uint(&w, s->qemu_start);
	jw_key(&w, "exit_code");
	jw_int(&w, s->exit_code);
	jw_key(&w, "started");
	jw_int(&w, s->started);
	jw_key(&w, "finished");
	jw_int(&w, s->finished);
	ctr_jw_kstr(&w, "error", s->error);
	jw_key(&w, "restart_count");
	jw_uint(&w, s->restart_count);
	jw_key(&w, "restarting");
	jw_bool(&w, s->restarting);
	jw_key(&w, "user_stop");
	jw_bool(&w, s->user_stop);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	/* Atomic for concurrent readers; not fsync'd: after a host crash a
	 * state file is stale whatever it says (its owner pid is gone), and
	 * it is rewritten at every status change, on the start path. */
	return write_file_replace_at(AT_FDCWD, path, b.data, b.len, 0600);
}

int ctr_state_read(const char *root, const char *id, struct ctr_state *s)
{
	_cleanup_free_ char *text = NULL, *status = NULL, *error = NULL;
	struct json_doc d;
	int r = ctr_read_json(root, id, "state.json", &text, &d);

	memset(s, 0, sizeof(*s));
	s->exit_code = -1;
	if (r < 0) {
		/* Created but never started (or killed before the first write). */
		s->status = CTR_CREATED;
		return r;
	}
	status = ctr_jstr(&d, 0, "status");
	s->status = CTR_DEAD;
	for (int i = CTR_CREATED; i <= CTR_DEAD; i++) {
		if (status && strcmp(status, ctr_status_name((enum ctr_status)i)) == 0)
			s->status = (enum ctr_status)i;
	}
	s->owner = (pid_t)ctr_jint(&d, 0, "owner_pid", 0);
	s->owner_start = (uint64_t)ctr_jint(&d, 0, "owner_start", 0);
	s->qemu = (pid_t)ctr_jint(&d, 0, "qemu_pid", 0);
	s->qemu_start = (uint64_t)ctr_jint(&d, 0, "qemu_start", 0);
	s->exit_code = (int)ctr_jint(&d, 0, "exit_code", -1);
	s->started = ctr_jint(&d, 0, "started", 0);
	s->finished = ctr_jint(&d, 0, "finished", 0);
	s->restart_count = (unsigned)ctr_jint(&d, 0, "restart_count", 0);
	s->restarting = ctr_jbool(&d, 0, "restarting");
	s->user_stop = ctr_jbool(&d, 0, "user_stop");
	error = ctr_jstr(&d, 0, "error");
	if (error)
		snprintf(s->error, sizeof(s->error), "%s", error);
	json_free(&d);
	return 0;
}

static bool ctr_id_valid(const char *s)
{
	return strlen(s) == CTR_ID_LEN && str_is_hex(s, CTR_ID_LEN);
}

static bool ctr_name_valid(const char *n)
{
	/* docker: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
	if (!n[0] || strlen(n) > 128 || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z') ||
					   (n[0] >= '0' && n[0] <= '9')))
		return false;
	for (const char *p = n; *p; p++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *p))
			return false;
	}
	return true;
}

struct ctr_entry {
	char *id;
	char *name;
	int64_t created;
};

static int ctr_entry_cmp(const void *a, const void *b)
{
	const struct ctr_entry *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created ? 1 : strcmp(x->id, y->id);
}

/* containers/.rm-<id>: a container being removed (ctr_remove). */
#define CTR_TRASH ".rm-"

static int ctr_rm_tree(int dirfd, const char *name);

/* Every container with a readable config (name and creation time). */
static int ctr_scan(const char *root, struct ctr_entry **out, size_t *n)
{
	_cleanup_free_ char *dir = xasprintf("%s/containers", root);
	DIR *d = opendir(dir);
	struct dirent *de;
	struct ctr_entry *v = NULL;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct ctr_config c;
		if (str_startswith(de->d_name, CTR_TRASH) && ctr_id_valid(de->d_name + strlen(CTR_TRASH)))
			ctr_rm_tree(dirfd(d), de->d_name);	/* left by a killed rm */
		if (!ctr_id_valid(de->d_name))
			continue;
		if (ctr_config_read(root, de->d_name, &c, NULL) < 0) {
			/* Half-created (killed in ctr_create): listed by id. */
			c = (struct ctr_config){ 0 };
			c.name = xstrdup(de->d_name);
		}
		v = xrealloc(v, (cnt + 1) * sizeof(*v));
		v[cnt++] = (struct ctr_entry){ xstrdup(de->d_name), TAKE_PTR(c.name), c.created };
		ctr_config_free(&c);
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), ctr_entry_cmp);
	*out = v;
	*n = cnt;
	return 0;
}

static void ctr_entries_free(struct ctr_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].name);
	}
	free(v);
}

int ctr_list(const char *root, char ***ids)
{
	struct ctr_entry *v;
	size_t n;
	int r = ctr_scan(root, &v, &n);

	*ids = NULL;
	if (r < 0)
		return r;
	*ids = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		(*ids)[i] = TAKE_PTR(v[i].id);
	ctr_entries_free(v, n);
	return 0;
}

/* A running --parallel instance has no container directory for the
 * commands that reach one by name (logs, exec...): its run owns its VM
 * and output, so say that rather than "no such container". stop, kill
 * and rm -f take this EBUSY as their cue to ask the run
 * (ctr_instance_request). */
static int ctr_find_instance(const char *root, const char *what, struct err *err)
{
	struct ctr_instance in;

	if (ctr_instance_find(root, what, &in) < 0)
		return err_set(err, ENOENT, "no such container: %s", what);
	err_set(err, EBUSY, "%s is instance %u of the `ucrt run --parallel` with pid %d, "
		"which manages it: only stop, kill and rm -f reach it; end the whole run with kill -INT %d",
		what, in.index, (int)in.owner, (int)in.owner);
	ctr_instance_free(&in);
	return -EBUSY;
}

int ctr_find(const char *root, const char *what, char id[CTR_ID_LEN + 1], struct err *err)
{
	struct ctr_entry *v;
	size_t n, hits = 0;
	int r = ctr_scan(root, &v, &n);

	if (r < 0)
		return err_setx(err, r, "listing containers");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, what) == 0 || strcmp(v[i].id, what) == 0) {
			snprintf(id, CTR_ID_LEN + 1, "%s", v[i].id);
			ctr_entries_free(v, n);
			return 0;
		}
	}
	for (size_t i = 0; i < n && strlen(what) >= 1; i++) {
		if (str_startswith(v[i].id, what)) {
			snprintf(id, CTR_ID_LEN + 1, "%s", v[i].id);
			hits++;
		}
	}
	ctr_entries_free(v, n);
	if (hits == 1)
		return 0;
	if (hits > 1)
		return err_set(err, EINVAL, "container id prefix %s is ambiguous", what);
	return ctr_find_instance(root, what, err);
}

int ctr_create(const char *root, struct ctr_config *c, struct err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/containers", root);
	_cleanup_close_ int lock = -1;
	uint8_t rnd[CTR_ID_LEN / 2];
	struct ctr_entry *v;
	size_t n;
	int r;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return err_setx(err, errno, "getrandom");
	hex_encode(rnd, sizeof(rnd), c->id);
	if (!c->name)
		c->name = xstrndup(c->id, CTR_SHORT_ID);
	if (!ctr_name_valid(c->name))
		return err_set(err, EINVAL, "invalid container name '%s' (want [a-zA-Z0-9][a-zA-Z0-9_.-]*)",
			       c->name);
	r = mkdir_p_at(AT_FDCWD, dir, 0700);
	if (r < 0)
		return err_setx(err, r, "creating %s", dir);
	/* Names are unique: check and claim under one lock. */
	_cleanup_free_ char *lpath = xasprintf("%s/lock", dir);
	lock = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return err_setx(err, errno, "locking %s", lpath);
	r = ctr_scan(root, &v, &n);
	if (r < 0)
		return err_setx(err, r, "listing containers");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, c->name) == 0) {
			ctr_entries_free(v, n);
			return err_set(err, EEXIST, "the container name \"%s\" is already in use", c->name);
		}
	}
	ctr_entries_free(v, n);
	_cleanup_free_ char *cdir = ctr_path(root, c->id, NULL);
	if (mkdir(cdir, 0700) < 0)
		return err_setx(err, errno, "creating %s", cdir);
	if (!c->created)
		c->created = (int64_t)time(NULL);
	return ctr_config_write(root, c, err);
}

static void ctr_mark_dead(const char *root, const char *id, struct ctr_state *s, const char *why)
{
	if (s->qemu && ctr_proc_alive(s->qemu, s->qemu_start))
		kill(s->qemu, SIGKILL);
	s->status = s->exit_code >= 0 ? CTR_EXITED : CTR_DEAD;
	if (!s->error[0])
		snprintf(s->error, sizeof(s->error), "%s", why);
	if (!s->finished)
		s->finished = (int64_t)time(NULL);
	ctr_state_write(root, id, s);
}

enum ctr_status ctr_refresh(const char *root, const char *id, struct ctr_state *s)
{
	int r = ctr_state_read(root, id, s);

	if (s->status == CTR_EXITED || s->status == CTR_DEAD)
		return s->status;
	if (r < 0) {
		/* No state at all: creation was interrupted; a creator still
		 * at work writes its state within a moment, so only call it
		 * dead when the directory is older than a minute. */
		_cleanup_free_ char *dir = ctr_path(root, id, NULL);
		struct stat st;
		if (stat(dir, &st) == 0 && time(NULL) - st.st_mtime > 60)
			s->status = CTR_DEAD;
		return s->status;
	}
	/* `ucrt create`: made, never started, nobody owns it yet. */
	if (s->status == CTR_CREATED && s->owner == 0)
		return s->status;
	/* A live owner writes the final state itself, even once QEMU is gone. */
	if (!ctr_proc_alive(s->owner, s->owner_start)) {
		char why[96];
		snprintf(why, sizeof(why), "ucrt (pid %d) that ran it died", (int)s->owner);
		ctr_mark_dead(root, id, s, why);
	}
	return s->status;
}

/* rm -rf of one container directory, fd-relative, no symlink followed. */
static int ctr_rm_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			ctr_rm_tree(fd, de->d_name);
		else
			unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int ctr_remove(const char *root, const char *id, bool force, struct err *err)
{
	struct ctr_state s;
	enum ctr_status st = ctr_refresh(root, id, &s);

	if (st == CTR_RUNNING || st == CTR_CREATED) {
		/* A created container with a live owner is booting (start -a
		 * holds it until attached): as busy as a running one. */
		if (!force && (st == CTR_RUNNING || ctr_proc_alive(s.owner, s.owner_start)))
			return err_set(err, EBUSY, "container %.12s is running: stop it first or use rm -f", id);
		if (force) {
			/* The owner's QEMU has PR_SET_PDEATHSIG: killing the
			 * owner ends it; kill QEMU too in case it lingers. */
			if (s.owner != getpid() && ctr_proc_alive(s.owner, s.owner_start))
				kill(s.owner, SIGKILL);
			if (ctr_proc_alive(s.qemu, s.qemu_start))
				kill(s.qemu, SIGKILL);
		}
	}
	_cleanup_free_ char *dir = xasprintf("%s/containers", root);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char trash[sizeof(CTR_TRASH) + CTR_ID_LEN];
	if (dfd < 0)
		return err_setx(err, errno, "%s", dir);
	/* One rename takes the container out of every listing at once: a
	 * removal killed half-way (its state.json gone, its config.json
	 * not) must not leave a container that looks merely "created". The
	 * next listing sweeps what a killed rm left in the trash name. */
	snprintf(trash, sizeof(trash), CTR_TRASH "%s", id);
	ctr_rm_tree(dfd, trash);
	if (renameat(dfd, id, dfd, trash) < 0)
		return errno == ENOENT ? 0 : err_setx(err, errno, "removing container %.12s", id);
	int r = ctr_rm_tree(dfd, trash);
	if (r < 0)
		return err_setx(err, r, "removing container %.12s", id);
	return 0;
}
