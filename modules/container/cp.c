/* `ucrt cp` with a running detached container: the guest side is
 * guest-init itself run as a tar tool (an exec of /proc/1/exe
 * --tar-create/--tar-extract through the supervisor, guest-init/tar.c),
 * so every path in the container is resolved inside the guest; the host
 * side is libarchive. What comes back from the guest is hostile input:
 * each entry must stay below the one top-level name asked for (no
 * absolute names, no "..", hardlinks inside it too), only regular files,
 * directories, symlinks and hardlinks are taken, and libarchive's secure
 * extraction refuses to write through a symlink. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container-internal.h"
#include "err.h"
#include "str.h"
#include "util.h"

/* The exec in a child of ours, its stdin or stdout on a pipe (the exec
 * client relays fds 0-2). */
static pid_t cp_exec(const char *root, const char *id, char **argv, bool to_guest, int *fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct ctr_spec s = { .argv = argv, .cwd = "/", .user = "", .stdin_open = to_guest };
		struct err e = { 0 };
		int st;
		if (to_guest) {
			dup2(p[0], STDIN_FILENO);
		} else {
			dup2(p[1], STDOUT_FILENO);
			int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
			dup2(null, STDIN_FILENO);
		}
		st = ctr_ctl_exec(root, id, &s, &e);
		if (e.code)
			fprintf(stderr, "ucrt: %s\n", err_msg(&e));
		_exit(st > 255 ? 125 : st);
	}
	close(to_guest ? p[0] : p[1]);
	*fd = to_guest ? p[1] : p[0];
	return pid;
}

static int cp_wait(pid_t pid, const char *what, struct err *err)
{
	int ws;

	if (waitpid(pid, &ws, 0) < 0)
		return err_setx(err, errno, "%s", what);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return err_set(err, EIO, "%s failed in the container (status %d)", what,
			       WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
	return 0;
}

bool ctr_cp_entry_name(const char *name, const char *top, const char *newtop, char *out, size_t cap)
{
	size_t tl = strlen(top);

	while (str_startswith(name, "./") && name[2])
		name += 2;
	if (!name[0] || name[0] == '/' || strncmp(name, top, tl) != 0 || (name[tl] && name[tl] != '/'))
		return false;
	for (const char *p = name; *p;) {
		size_t l = strcspn(p, "/");
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += l;
		while (*p == '/')
			p++;
	}
	return (size_t)snprintf(out, cap, "%s%s", newtop, name + tl) < cap;
}

/* Extract the tar on fd below the current directory, entries under top
 * renamed to newtop; what names fails its check stops it. */
static int cp_read_tar(int fd, const char *top, const char *newtop, const char *what, struct err *err)
{
	struct archive *a = archive_read_new(), *w = archive_write_disk_new();
	struct archive_entry *e;
	int flags = ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		    ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
		    ARCHIVE_EXTRACT_UNLINK;
	int r;

	if (geteuid() == 0)
		flags |= ARCHIVE_EXTRACT_OWNER;
	archive_read_support_format_tar(a);
	archive_write_disk_set_options(w, flags);
	r = archive_read_open_fd(a, fd, 65536);
	while (r == ARCHIVE_OK && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		char name[4096], link[4096];
		const char *hl = archive_entry_hardlink(e);
		mode_t t = archive_entry_filetype(e);
		if (!ctr_cp_entry_name(archive_entry_pathname(e), top, newtop, name, sizeof(name)) ||
		    (hl && !ctr_cp_entry_name(hl, top, newtop, link, sizeof(link))) ||
		    !(t == AE_IFREG || t == AE_IFDIR || t == AE_IFLNK || (hl && t == 0))) {
			err_set(err, EBADMSG, "copying from %s: refusing entry '%.200s'", what,
				archive_entry_pathname(e));
			r = ARCHIVE_FATAL;
			break;
		}
		archive_entry_set_pathname(e, name);
		if (hl)
			archive_entry_set_hardlink(e, link);
		r = archive_write_header(w, e);
		if (r == ARCHIVE_OK && archive_entry_size(e) > 0 && !hl) {
			const void *buf;
			size_t len;
			int64_t off;
			while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
				if (archive_write_data_block(w, buf, len, off) < 0) {
					r = ARCHIVE_FATAL;
					break;
				}
			if (r == ARCHIVE_EOF)
				r = ARCHIVE_OK;
		}
		if (r != ARCHIVE_OK && !err->code)
			err_set(err, EIO, "copying from %s: %s: %s", what, name,
				archive_error_string(w) ? archive_error_string(w) : archive_error_string(a));
	}
	if (r == ARCHIVE_EOF)
		r = ARCHIVE_OK;
	if (r != ARCHIVE_OK && !err->code)
		err_set(err, EIO, "copying from %s: %s", what, archive_error_string(a));
	archive_write_close(w);
	archive_write_free(w);
	archive_read_free(a);
	return r == ARCHIVE_OK ? 0 : -EIO;
}

/* docker's rule for hostdst: into it when it is a directory (the cwd
 * becomes it, names stay), else as it (the cwd its parent, the top
 * renamed). The caller's cwd is saved in *cwd. */
static int cp_enter_dest(const char *hostdst, const char *top, char **newtop, int *cwd, struct err *err)
{
	_cleanup_free_ char *d1 = xstrdup(hostdst), *d2 = xstrdup(hostdst);
	struct stat st;
	int r;

	*cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*cwd < 0)
		return err_setx(err, errno, "the current directory");
	if (stat(hostdst, &st) == 0 && S_ISDIR(st.st_mode)) {
		*newtop = xstrdup(top);
		r = chdir(hostdst);
	} else {
		*newtop = xstrdup(basename(d2));
		r = chdir(dirname(d1));
	}
	if (r < 0) {
		close(*cwd);
		free(*newtop);
		return err_setx(err, errno, "%s", hostdst);
	}
	return 0;
}

int ctr_cp_from(const char *root, const char *id, const char *cpath, const char *hostdst, struct err *err)
{
	_cleanup_free_ char *c1 = xstrdup(cpath), *newtop = NULL;
	char *argv[] = { "/proc/1/exe", "--tar-create", (char *)cpath, NULL };
	const char *top = basename(c1);
	int fd, r, cwd;
	pid_t pid;

	if (cp_enter_dest(hostdst, top, &newtop, &cwd, err) < 0)
		return -EIO;
	pid = cp_exec(root, id, argv, false, &fd);
	if (pid < 0) {
		r = fchdir(cwd);
		close(cwd);
		return err_setx(err, (int)-pid, "copying from %.12s", id);
	}
	r = cp_read_tar(fd, top, newtop, cpath, err);
	close(fd);
	if (r < 0)
		kill(pid, SIGTERM);
	int wr = cp_wait(pid, cpath, r == 0 ? err : &(struct err){ 0 });
	if (fchdir(cwd) < 0)
		r = -EIO;
	close(cwd);
	return r < 0 || wr < 0 ? -EIO : 0;
}

/* top (relative to the cwd) as a pax tar on fd: regular files,
 * directories, symlinks, hardlinks; nothing followed. */
int ctr_cp_write_tar(int fd, const char *top, struct err *err)
{
	struct archive *d = archive_read_disk_new(), *w = archive_write_new();
	struct archive_entry_linkresolver *lr = archive_entry_linkresolver_new();
	struct archive_entry *e, *sparse;
	int r;

	archive_read_disk_set_standard_lookup(d);
	archive_read_disk_set_symlink_physical(d);
	archive_write_set_format_pax_restricted(w);
	archive_entry_linkresolver_set_strategy(lr, archive_format(w));
	archive_write_open_fd(w, fd);
	r = archive_read_disk_open(d, top);
	for (;;) {
		e = archive_entry_new();
		if (r != ARCHIVE_OK || (r = archive_read_next_header2(d, e)) != ARCHIVE_OK) {
			archive_entry_free(e);
			break;
		}
		archive_read_disk_descend(d);
		mode_t t = archive_entry_filetype(e);
		if (!(t == AE_IFREG || t == AE_IFDIR || t == AE_IFLNK)) {
			archive_entry_free(e);
			continue;	/* devices, fifos, sockets: not copied */
		}
		sparse = NULL;
		archive_entry_linkify(lr, &e, &sparse);
		if (!e)
			continue;
		r = archive_write_header(w, e);
		if (r == ARCHIVE_OK && t == AE_IFREG && !archive_entry_hardlink(e) && archive_entry_size(e) > 0) {
			int in = open(archive_entry_sourcepath(e), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			char buf[65536];
			ssize_t n;
			int64_t left = archive_entry_size(e);
			while (in >= 0 && left > 0 && (n = read(in, buf, sizeof(buf))) > 0) {
				if (n > left)
					n = (ssize_t)left;
				if (archive_write_data(w, buf, (size_t)n) < 0)
					break;
				left -= n;
			}
			if (in >= 0)
				close(in);
		}
		archive_entry_free(e);
		if (r != ARCHIVE_OK)
			break;
	}
	if (r == ARCHIVE_EOF)
		r = ARCHIVE_OK;
	if (r != ARCHIVE_OK)
		err_set(err, EIO, "copying %s: %s", top,
			archive_error_string(d) ? archive_error_string(d) : archive_error_string(w));
	archive_write_close(w);
	archive_write_free(w);
	archive_read_free(d);
	archive_entry_linkresolver_free(lr);
	return r == ARCHIVE_OK ? 0 : -EIO;
}

int ctr_cp_to(const char *root, const char *id, const char *hostsrc, const char *cpath, struct err *err)
{
	_cleanup_free_ char *s1 = xstrdup(hostsrc), *s2 = xstrdup(hostsrc);
	char *argv[] = { "/proc/1/exe", "--tar-extract", (char *)cpath, NULL };
	const char *top = basename(s2);
	struct stat st;
	int fd, r, cwd;
	pid_t pid;

	if (lstat(hostsrc, &st) < 0)
		return err_setx(err, errno, "%s", hostsrc);
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0 || chdir(dirname(s1)) < 0) {
		if (cwd >= 0)
			close(cwd);
		return err_setx(err, errno, "%s", hostsrc);
	}
	pid = cp_exec(root, id, argv, true, &fd);
	if (pid < 0) {
		r = fchdir(cwd);
		close(cwd);
		return err_setx(err, (int)-pid, "copying to %.12s", id);
	}
	r = ctr_cp_write_tar(fd, top, err);
	close(fd);
	int wr = cp_wait(pid, cpath, r == 0 ? err : &(struct err){ 0 });
	if (fchdir(cwd) < 0)
		r = -EIO;
	close(cwd);
	return r < 0 || wr < 0 ? -EIO : 0;
}

/* ---- from a stopped container: its disk, read without booting it ---- */

static int cp_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int cp_run(char *const argv[], struct err *err)
{
	pid_t pid = fork();
	int ws;

	if (pid < 0)
		return err_setx(err, errno, "fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return err_set(err, EIO, "%s %s failed", argv[0], argv[1]);
	return 0;
}

int ctr_cp_lock_stopped(const char *root, const char *id, struct ctr_config *cfg, struct err *err)
{
	_cleanup_free_ char *lp = ctr_path(root, id, "start.lock");
	_cleanup_close_ int lock = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct ctr_state st;

	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return err_setx(err, errno, "locking %s", lp);
	enum ctr_status s = ctr_refresh(root, id, &st);
	if (s == CTR_RUNNING || (s == CTR_CREATED && ctr_proc_alive(st.owner, st.owner_start)))
		return err_set(err, EBUSY, "container %.12s started meanwhile", id);
	if (ctr_config_read(root, id, cfg, err) < 0)
		return -EIO;
	if (!cfg->overlay) {
		ctr_config_free(cfg);
		return err_set(err, ENOENT, "container %.12s keeps no disk", id);
	}
	return TAKE_FD(lock);
}

int ctr_cp_from_disk(const char *root, const char *id, const char *cpath, const char *hostdst, struct err *err)
{
	_cleanup_free_ char *tmpl = ctr_path(root, id, "cp.XXXXXX");
	_cleanup_free_ char *c1 = xstrdup(cpath), *c2 = xstrdup(cpath), *newtop = NULL, *raw = NULL, *tree = NULL;
	struct ctr_config cfg;
	const char *top = basename(c2);
	char *parent = dirname(c1);
	int r = -EIO, rootfd = -1, pfd = -1, cwd = -1, p[2] = { -1, -1 };

	/* No start while we read its disk. */
	_cleanup_close_ int lock = ctr_cp_lock_stopped(root, id, &cfg, err);
	if (lock < 0)
		return lock;
	if (!mkdtemp(tmpl)) {
		ctr_config_free(&cfg);
		return err_setx(err, errno, "%s", tmpl);
	}
	raw = xasprintf("%s/disk.raw", tmpl);
	tree = xasprintf("%s/root", tmpl);
	/* The overlay is qcow2 over the image's raw ext4: QEMU's own tool
	 * flattens it, libext2fs unpacks it (disk-extract.c: nothing on the
	 * disk can make it write outside tree). */
	char *conv[] = { "qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", cfg.overlay, raw, NULL };
	if (cp_run(conv, err) < 0 || ctr_disk_extract(raw, tree, err) < 0)
		goto out;
	unlink(raw);
	/* The container's path, symlinks resolved as in the container: with
	 * tree as the root. */
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	rootfd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
	pfd = rootfd < 0 ? -1 : (int)syscall(SYS_openat2, rootfd, parent[1] ? parent + 1 : ".", &how, sizeof(how));
	if (pfd < 0) {
		err_setx(err, errno, "%s in %.12s", parent, id);
		goto out;
	}
	if (pipe2(p, O_CLOEXEC) < 0 || cp_enter_dest(hostdst, top, &newtop, &cwd, err) < 0) {
		if (!err->code)
			err_setx(err, errno, "pipe");
		goto out;
	}
	pid_t pid = fork();
	if (pid == 0) {
		struct err e = { 0 };
		close(p[0]);
		if (fchdir(pfd) < 0)
			_exit(1);
		_exit(ctr_cp_write_tar(p[1], top, &e) < 0 ? 1 : 0);
	}
	close(p[1]);
	p[1] = -1;
	r = pid < 0 ? -errno : cp_read_tar(p[0], top, newtop, cpath, err);
	close(p[0]);
	p[0] = -1;
	if (pid > 0 && cp_wait(pid, cpath, r == 0 ? err : &(struct err){ 0 }) < 0)
		r = -EIO;
out:
	if (cwd >= 0) {
		if (fchdir(cwd) < 0)
			r = -EIO;
		close(cwd);
	}
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	if (pfd >= 0)
		close(pfd);
	if (rootfd >= 0)
		close(rootfd);
	nftw(tmpl, cp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	ctr_config_free(&cfg);
	return r < 0 ? -EIO : 0;
}
