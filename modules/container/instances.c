/* Records of running `ucrt run --parallel` instances, so that `ps` lists
 * them although they have no container directory.
 *
 * They are runtime state, not data: one small JSON file per running
 * instance in a directory of the runtime dir (/run/ucrt as root, else
 * $XDG_RUNTIME_DIR/ucrt or /tmp/ucrt-<uid>, as modules/cli/rundir.c
 * picks for ucrt-oci), named by a hash of the store root so that two
 * roots never see each other's instances. A reboot empties it (a tmpfs
 * on most hosts). The run writes a record once its instance's QEMU is
 * spawned and unlinks it when the VM is gone; a run killed with -9
 * leaves records behind, which carry the owner's pid and start time:
 * readers skip and delete those of a dead (or recycled) pid, so nothing
 * a user sees outlives the run. Writes are write_file_replace_at's temp +
 * rename (a reader never sees half a record) without fsync: nothing here
 * must survive a crash, and an fsync would cost start latency on a
 * disk-backed /run. A run's request socket (instance-ctl.c,
 * "<group>-<pid>.sock") carries its pid in its name, as a temp file does,
 * and goes the same way when that pid is gone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "container/container-internal.h"
#include "err.h"
#include "json.h"
#include "sha256.h"
#include "str.h"
#include "util.h"

#define INST_SUFFIX ".json"
#define INST_TMP INST_SUFFIX ".tmp."	/* "<id>.json.tmp.<pid>.<seq>": a write in flight */

static char *inst_base(void)
{
	/* Root uses the fixed system path: sudo and login shells disagree on
	 * XDG_RUNTIME_DIR, and a run and its ps must agree. */
	return geteuid() == 0 ? xstrdup("/run/ucrt") : user_runtime_dir();
}

char *ctr_instances_dir(const char *root)
{
	_cleanup_free_ char *base = inst_base();
	char *abs = realpath(root, NULL), hex[SHA256_HEX_LEN + 1];

	sha256_hex(abs ? abs : root, strlen(abs ? abs : root), hex);
	free(abs);
	return xasprintf("%s/instances/%.16s", base, hex);
}

/* A directory of ours closed to others (a /tmp/ucrt-<uid> someone else
 * made first could feed us records, or watch ours). */
static int inst_private(int dfd)
{
	struct stat st;

	if (fstat(dfd, &st) < 0)
		return -errno;
	return st.st_uid == geteuid() && !(st.st_mode & 077) ? 0 : -EPERM;
}

int ctr_instances_open(const char *root, bool create)
{
	_cleanup_free_ char *base = inst_base(), *dir = ctr_instances_dir(root);
	_cleanup_close_ int bfd = -1;
	int fd, r;

	if (create) {
		if (mkdir(base, 0700) < 0 && errno != EEXIST)
			return -errno;
		if ((r = mkdir_p_at(AT_FDCWD, dir, 0700)) < 0)
			return r;
	}
	bfd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0)
		return -errno;
	if ((r = inst_private(bfd)) < 0)
		return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((r = inst_private(fd)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}

void ctr_instance_new_id(char id[CTR_ID_LEN + 1])
{
	uint8_t rnd[CTR_ID_LEN / 2];

	/* getrandom of 32 bytes does not fail once the pool is up; a zero id
	 * would only make the record unreachable by id, never wrong. */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), id);
}

int ctr_instance_write(int dfd, const struct ctr_instance *in)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	char path[CTR_ID_LEN + sizeof(INST_SUFFIX)];

	jw_init(&w, &b, false);
	jw_obj_begin(&w);
	jw_key(&w, "id"), jw_str(&w, in->id);
	jw_key(&w, "name"), jw_str(&w, in->name ? in->name : "");
	jw_key(&w, "group"), jw_str(&w, in->group ? in->group : "");
	jw_key(&w, "index"), jw_uint(&w, in->index);
	jw_key(&w, "count"), jw_uint(&w, in->count);
	jw_key(&w, "image"), jw_str(&w, in->image ? in->image : "");
	jw_key(&w, "args");
	jw_arr_begin(&w);
	for (char **a = in->argv; a && *a; a++)
		jw_str(&w, *a);
	jw_arr_end(&w);
	jw_key(&w, "labels");
	jw_arr_begin(&w);
	for (char **l = in->labels; l && *l; l++)
		jw_str(&w, *l);
	jw_arr_end(&w);
	jw_key(&w, "created"), jw_int(&w, in->created);
	jw_key(&w, "owner_pid"), jw_int(&w, in->owner);
	jw_key(&w, "owner_start"), jw_uint(&w, in->owner_start);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	snprintf(path, sizeof(path), "%s" INST_SUFFIX, in->id);
	return write_file_replace_at(dfd, path, b.data, b.len, 0600);
}

void ctr_instance_remove(int dfd, const char *id)
{
	char path[CTR_ID_LEN + sizeof(INST_SUFFIX)];

	snprintf(path, sizeof(path), "%s" INST_SUFFIX, id);
	unlinkat(dfd, path, 0);
}

void ctr_instance_free(struct ctr_instance *in)
{
	free(in->name);
	free(in->group);
	free(in->image);
	strv_free(in->argv);
	strv_free(in->labels);
	memset(in, 0, sizeof(*in));
}

void ctr_instances_free(struct ctr_instance *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctr_instance_free(&v[i]);
	free(v);
}

static int inst_read(int dfd, const char *file, struct ctr_instance *in)
{
	_cleanup_free_ char *text = NULL;
	struct json_doc d;
	size_t len;
	int64_t v;
	int r = read_file_at(dfd, file, 1 << 20, &text, &len);

	memset(in, 0, sizeof(*in));
	if (r < 0)
		return r;
	if (json_parse(&d, text, len, 1 << 14) < 0 || json_type(&d, 0) != JSON_OBJECT) {
		json_free(&d);
		return -EBADMSG;
	}
	char *id = json_str(&d, json_get(&d, 0, "id"));
	if (id && strlen(id) == CTR_ID_LEN && str_is_hex(id, CTR_ID_LEN))
		memcpy(in->id, id, CTR_ID_LEN + 1);
	free(id);
	in->name = json_str(&d, json_get(&d, 0, "name"));
	in->group = json_str(&d, json_get(&d, 0, "group"));
	in->image = json_str(&d, json_get(&d, 0, "image"));
	if (json_int(&d, json_get(&d, 0, "index"), &v) == 0)
		in->index = (unsigned)v;
	if (json_int(&d, json_get(&d, 0, "count"), &v) == 0)
		in->count = (unsigned)v;
	if (json_int(&d, json_get(&d, 0, "created"), &v) == 0)
		in->created = v;
	if (json_int(&d, json_get(&d, 0, "owner_pid"), &v) == 0)
		in->owner = (pid_t)v;
	if (json_int(&d, json_get(&d, 0, "owner_start"), &v) == 0)
		in->owner_start = (uint64_t)v;
	r = json_strv(&d, json_get(&d, 0, "args"), &in->argv) < 0 ||
	    json_strv(&d, json_get(&d, 0, "labels"), &in->labels) < 0 ? -EBADMSG : 0;
	json_free(&d);
	if (r == 0 && (!in->id[0] || !in->name || !in->owner))
		r = -EBADMSG;
	if (r < 0)
		ctr_instance_free(in);
	return r;
}

/* "<id>.json.tmp.<pid>.<seq>": its writer's pid. */
static bool inst_tmp_owner(const char *name, pid_t *pid)
{
	const char *t = strstr(name, INST_TMP);
	char *end;
	unsigned long long p;

	if (!t)
		return false;
	p = strtoull(t + strlen(INST_TMP), &end, 10);
	if (*end != '.' || p == 0 || p > INT32_MAX)
		return false;
	*pid = (pid_t)p;
	return true;
}

/* "<group>-<pid>.sock": its run's pid. */
static bool inst_sock_owner(const char *name, pid_t *pid)
{
	const char *dash = strrchr(name, '-');
	char *end;
	unsigned long long p;

	if (!str_endswith(name, CTR_ICTL_SUFFIX) || !dash || dash[1] < '0' || dash[1] > '9')
		return false;
	p = strtoull(dash + 1, &end, 10);
	if (strcmp(end, CTR_ICTL_SUFFIX) != 0 || p == 0 || p > INT32_MAX)
		return false;
	*pid = (pid_t)p;
	return true;
}

/* Only the pid is in a temp file's name: a recycled pid keeps a dead
 * writer's temp until that process ends too, which hides nothing; a live
 * writer's temp is never taken. */
static bool inst_pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static int inst_cmp(const void *a, const void *b)
{
	const struct ctr_instance *x = a, *y = b;
	int g;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	if ((g = strcmp(x->group ? x->group : "", y->group ? y->group : "")))
		return g;
	return x->index < y->index ? -1 : x->index > y->index;
}

int ctr_instances_scan(const char *root, bool sweep, ctr_instance_stale_fn stale, void *arg,
		       struct ctr_instance **out, size_t *n)
{
	_cleanup_close_ int dfd = ctr_instances_open(root, false);
	struct ctr_instance *v = NULL;
	size_t cnt = 0;
	struct dirent *de;
	DIR *d;

	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	if (dfd < 0)
		return dfd == -ENOENT ? 0 : dfd;
	int fd = dup(dfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct ctr_instance in;
		pid_t pid;
		if (inst_tmp_owner(de->d_name, &pid) || inst_sock_owner(de->d_name, &pid)) {
			/* A write killed before its rename, or the socket
			 * of a run killed before it could unlink it. */
			if (!inst_pid_alive(pid)) {
				bool gone = sweep && unlinkat(dfd, de->d_name, 0) == 0;
				if (stale)
					stale(arg, NULL, de->d_name, pid, gone);
			}
			continue;
		}
		if (!str_endswith(de->d_name, INST_SUFFIX) || de->d_name[0] == '.')
			continue;
		if (inst_read(dfd, de->d_name, &in) < 0) {
			/* Not ours to judge by owner; the rename makes a
			 * half-written record impossible, so it is junk. */
			bool gone = sweep && unlinkat(dfd, de->d_name, 0) == 0;
			if (stale)
				stale(arg, NULL, de->d_name, 0, gone);
			continue;
		}
		if (!ctr_proc_alive(in.owner, in.owner_start)) {
			bool gone = sweep && unlinkat(dfd, de->d_name, 0) == 0;
			if (stale)
				stale(arg, &in, de->d_name, in.owner, gone);
			ctr_instance_free(&in);
			continue;
		}
		if (!out) {
			ctr_instance_free(&in);
			continue;
		}
		v = xrealloc(v, (cnt + 1) * sizeof(*v));
		v[cnt++] = in;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), inst_cmp);
	if (out) {
		*out = v;
		*n = cnt;
	}
	return 0;
}

int ctr_instances_list(const char *root, struct ctr_instance **out, size_t *n)
{
	return ctr_instances_scan(root, true, NULL, NULL, out, n);
}
