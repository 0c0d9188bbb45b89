/* `ucrt system check`, the store's part: what a crash, a full disk or a
 * bad actor can leave in the store, found and (with repair) put right.
 *
 * Blobs are re-hashed (the name is the digest: anything else is bit rot
 * or tampering) and a bad one is moved to quarantine/, not deleted, so it
 * can be looked at. Names whose blobs are gone are dropped (a pull brings
 * them back). Disks are checked with a spawned `e2fsck -fn` (read-only);
 * a bad one is removed, as `run` rebuilds it. Partial and temp files are
 * judged only under the store lock held exclusively: every writer holds
 * it shared, so then none of them is live. Blocking calls: this is a
 * maintenance command, not a reactor client. */
#include "store-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "err.h"
#include "log.h"
#include "sha256.h"
#include "str.h"
#include "util.h"

#define CHECK_CHUNK (1u << 20)

struct check {
	struct store *s;
	bool repair, exclusive;
	struct check_report *rep;
	struct store_check_stats *st;
};

static DIR *opendir_at(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* Move dir/name to quarantine/name.<unix time>. */
static int quarantine(struct check *c, int dfd, const char *name)
{
	int root = c->s->fds[STORE_ROOT];
	if (mkdirat(root, "quarantine", 0700) < 0 && errno != EEXIST)
		return -errno;
	_cleanup_close_ int q = openat(root, "quarantine", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (q < 0)
		return -errno;
	_cleanup_free_ char *to = xasprintf("%s.%lld", name, (long long)time(NULL));
	return renameat(dfd, name, q, to) < 0 ? -errno : 0;
}

static int hash_file(int dfd, const char *name, char hex[SHA256_HEX_LEN + 1])
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_free_ char *buf = xmalloc(CHECK_CHUNK);
	struct sha256 h;
	sha256_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, CHECK_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			sha256_abort(&h);
			return -e;
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
	}
	sha256_final_hex(&h, hex);
	return 0;
}

static void check_blobs(struct check *c)
{
	int dfd = c->s->fds[STORE_BLOBS];
	DIR *d = opendir_at(dfd);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char what[300];
		snprintf(what, sizeof(what), "blob %s", de->d_name);
		if (strstr(de->d_name, ".tmp.")) {
			/* A blob write that died before its rename. */
			if (!c->exclusive)
				continue;
			bool ok = c->repair && unlinkat(dfd, de->d_name, 0) == 0;
			check_problem(c->rep, what, ok, "temp file of an unfinished write%s", ok ? ": removed" : "");
			continue;
		}
		char dg[OCI_DIGEST_LEN + 8] = "sha256:";
		if (strlen(de->d_name) == SHA256_HEX_LEN)
			memcpy(dg + 7, de->d_name, SHA256_HEX_LEN + 1);
		struct stat sb;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* removed meanwhile */
		if (!oci_digest_valid(dg) || !S_ISREG(sb.st_mode)) {
			bool ok = c->repair && quarantine(c, dfd, de->d_name) == 0;
			check_problem(c->rep, what, ok, "not a blob (name or file type)%s",
				ok ? ": moved to quarantine/" : "");
			continue;
		}
		c->st->blobs++;
		char hex[SHA256_HEX_LEN + 1];
		int r = hash_file(dfd, de->d_name, hex);
		if (r == -ENOENT)
			continue;
		snprintf(what, sizeof(what), "blob %s", dg);
		if (r < 0) {
			check_problem(c->rep, what, false, "cannot be read: %s", strerror(-r));
		} else if (strcmp(hex, de->d_name) != 0) {
			bool ok = c->repair && quarantine(c, dfd, de->d_name) == 0;
			check_problem(c->rep, what, ok, "content hashes to sha256:%s%s", hex,
				ok ? ": moved to quarantine/" : "");
		}
	}
	closedir(d);
}

static void check_images(struct check *c)
{
	struct store_image *v = NULL;
	size_t n = 0;
	struct err e = { 0 };
	int r = store_image_list(c->s, &v, &n, &e);
	if (r < 0) {
		int dfd = c->s->fds[STORE_IMAGES];
		bool ok = c->repair && quarantine(c, dfd, "index.json") == 0;
		check_problem(c->rep, "images/index.json", ok, "%s%s", err_msg(&e),
			ok ? ": moved to quarantine/, every image name is gone (pull again)" : "");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		c->st->images++;
		_cleanup_strv_ char **blobs = NULL;
		struct err ce = { 0 };
		_cleanup_free_ char *what = xasprintf("image %s", v[i].name);
		const char *missing = NULL;
		r = store_closure(c->s, v[i].digest, &blobs, &ce);
		const char *need[] = { v[i].digest, v[i].manifest, v[i].config };
		for (size_t k = 0; r >= 0 && k < ARRAY_SIZE(need) && !missing; k++)
			if (need[k] && store_blob_stat(c->s, need[k], NULL) < 0)
				missing = need[k];
		/* The closure lists the layers a manifest names, present or not. */
		for (char **b = blobs; r >= 0 && b && *b && !missing; b++)
			if (store_blob_stat(c->s, *b, NULL) < 0)
				missing = *b;
		if (r >= 0 && !missing)
			continue;
		bool ok = false;
		if (c->repair) {
			struct err re = { 0 };
			ok = store_image_remove(c->s, v[i].name, &re) == 0;
		}
		check_problem(c->rep, what, ok, "%s%s%s", missing ? "blob missing: " : err_msg(&ce),
			missing ? missing : "", ok ? ": name removed (pull it again)" : "");
	}
	store_images_free(v, n);
}

/* e2fsck -fn: 0 clean, 4 errors left uncorrected (-n corrects nothing),
 * 8 operational error. */
static int fsck_disk(const char *path, char *why, size_t n)
{
	char *argv[] = { "e2fsck", "-fn", (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	extern char **environ;
	int r = posix_spawnp(&pid, "e2fsck", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		snprintf(why, n, "cannot run e2fsck: %s", strerror(r));
		return -r;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(why, n, "e2fsck -fn found errors (exit %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 1;
}

static void check_disks(struct check *c)
{
	int dfd = c->s->fds[STORE_ROOTFS];
	DIR *d = opendir_at(dfd);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *what = xasprintf("rootfs/%s", de->d_name);
		struct stat sb;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (strstr(de->d_name, ".ext4.tmp-")) {
			if (!c->exclusive)
				continue;	/* may be a build in progress */
			bool ok = c->repair && unlinkat(dfd, de->d_name, 0) == 0;
			check_problem(c->rep, what, ok, "temp disk of a build that died%s", ok ? ": removed" : "");
			continue;
		}
		if (str_endswith(de->d_name, ".lock")) {
			/* Unlocked: its builder died (ctr_disk_unlock removes it). */
			_cleanup_close_ int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
				continue;
			bool ok = c->repair && unlinkat(dfd, de->d_name, 0) == 0;
			check_problem(c->rep, what, ok, "lock file of a build that died%s", ok ? ": removed" : "");
			continue;
		}
		if (!str_endswith(de->d_name, ".ext4"))
			continue;
		c->st->disks++;
		_cleanup_free_ char *path = xasprintf("%s/rootfs/%s", c->s->root, de->d_name);
		char why[128];
		int r = fsck_disk(path, why, sizeof(why));
		if (r == 0)
			continue;
		bool ok = r > 0 && c->repair && unlinkat(dfd, de->d_name, 0) == 0;
		check_problem(c->rep, what, ok, "%s%s", why, ok ? ": removed (run builds it again)" : "");
	}
	closedir(d);
}

static void check_ingest(struct check *c)
{
	int dfd = c->s->fds[STORE_INGEST];
	DIR *d = opendir_at(dfd);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_close_ int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		/* Locked: a pull is writing it. */
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		struct stat sb;
		if (fstat(fd, &sb) < 0)
			continue;
		_cleanup_free_ char *what = xasprintf("ingest/%s", de->d_name);
		bool ok = c->repair && unlinkat(dfd, de->d_name, 0) == 0;
		check_problem(c->rep, what, ok, "partial download of %lld bytes left by a pull that died%s",
			(long long)sb.st_size, ok ? ": removed" : " (a pull resumes it)");
	}
	closedir(d);
}

int store_check(struct store *s, bool repair, struct check_report *rep, struct store_check_stats *st,
		struct err *err)
{
	memset(st, 0, sizeof(*st));
	struct check c = { .s = s, .repair = repair, .rep = rep, .st = st };
	struct err le = { 0 };
	int r = store_lock(s, true, false, &le);
	if (r == -EBUSY && repair)
		return err_set(err, EBUSY, "the store is in use (a pull, a build or a container): repair needs it alone");
	if (r < 0 && r != -EBUSY) {
		*err = le;
		return r;
	}
	c.exclusive = r >= 0;
	if (!c.exclusive)
		log_info("the store is in use: temp files are not judged");
	check_blobs(&c);
	check_images(&c);
	check_ingest(&c);
	check_disks(&c);
	if (c.exclusive)
		store_unlock(s);
	return 0;
}
