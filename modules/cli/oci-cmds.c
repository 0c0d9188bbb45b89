/* `ucrt-oci` lifecycle commands. The container's state lives in
 * <root>/containers/<id>/ (the container module's layout): oci.json
 * (bundle, creation time, annotations), state.json (written by the
 * per-container process, atomically), start.fifo, ctl.sock. Every
 * command reads it afresh, so a crashed per-container process (kill -9)
 * shows as "stopped" and `delete` cleans up after it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "oci-cli.h"
#include "str.h"
#include "util.h"

#define OCI_START_WAIT_S 180u

bool oci_id_valid(const char *id)
{
	size_t n = strlen(id);

	/* containerd's and podman's ids; a directory name under --root. */
	if (!n || n > CTR_ID_LEN || id[0] == '.')
		return false;
	for (const char *p = id; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return false;
	}
	return true;
}

int oci_write_pid_file(const char *path, int pid)
{
	char s[32];
	int n = snprintf(s, sizeof(s), "%d", pid);

	return write_file_atomic_at(AT_FDCWD, path, s, (size_t)n, 0644);
}

int oci_send_console(const char *path, int fd, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	_cleanup_close_ int s = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(s, &mh, 0) < 0 ? -errno : 0;
}

/* ---- reading a container ---- */

enum oci_status { OCI_GONE, OCI_CREATED, OCI_RUNNING, OCI_STOPPED };
static const char *const oci_status_names[] = { "gone", "created", "running", "stopped" };

struct oci_info {
	enum oci_status status;
	struct ctr_state st;
	bool owner_alive;
	char *bundle, *created, *rootfs;
	char **annotations;		/* key, value pairs */
};

static void oci_info_free(struct oci_info *i)
{
	free(i->bundle);
	free(i->created);
	free(i->rootfs);
	strv_free(i->annotations);
}

/* Alive and not a zombie: a killed per-container process stays in
 * /proc until its parent (conmon, the shim) reaps it. */
static bool oci_alive(pid_t pid, uint64_t start)
{
	char path[64], *text = NULL, *p;
	size_t len;
	bool alive;

	if (!ctr_proc_alive(pid, start))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file_at(AT_FDCWD, path, 4096, &text, &len) < 0)
		return false;
	p = strrchr(text, ')');
	alive = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(text);
	return alive;
}

static int oci_read(const struct oci_ctx *o, const char *id, struct oci_info *i)
{
	_cleanup_free_ char *path = ctr_path(o->root, id, "oci.json");
	_cleanup_free_ char *text = NULL;
	struct json_doc d;
	size_t len;
	int an;

	memset(i, 0, sizeof(*i));
	if (!oci_id_valid(id) || read_file_at(AT_FDCWD, path, 1 << 22, &text, &len) < 0)
		return -ENOENT;
	if (json_parse(&d, text, len, 1 << 16) < 0)
		return -EINVAL;
	i->bundle = json_str(&d, json_get(&d, 0, "bundle"));
	i->created = json_str(&d, json_get(&d, 0, "created"));
	i->rootfs = json_str(&d, json_get(&d, 0, "rootfs"));
	an = json_get(&d, 0, "annotations");
	for (int k = json_obj_first(&d, an); an >= 0 && k >= 0; k = json_obj_next(&d, k)) {
		_cleanup_free_ char *key = json_str(&d, k), *val = json_str(&d, k + 1);
		if (key && val) {
			strv_push(&i->annotations, key);
			strv_push(&i->annotations, val);
		}
	}
	json_free(&d);
	if (ctr_state_read(o->root, id, &i->st) < 0) {
		/* create is still at work, or died before its child wrote it */
		i->status = OCI_STOPPED;
		return 0;
	}
	i->owner_alive = oci_alive(i->st.owner, i->st.owner_start);
	if (!i->owner_alive || i->st.status == CTR_EXITED || i->st.status == CTR_DEAD)
		i->status = OCI_STOPPED;
	else
		i->status = i->st.status == CTR_CREATED ? OCI_CREATED : OCI_RUNNING;
	return 0;
}

static int oci_need(const struct oci_ctx *o, const char *id, struct oci_info *i)
{
	if (oci_read(o, id, i) < 0) {
		oci_error(o, "container %s does not exist", id);
		return -ENOENT;
	}
	return 0;
}

static void oci_state_json(struct json_writer *w, const char *id, const struct oci_info *i)
{
	jw_obj_begin(w);
	jw_key(w, "ociVersion");
	jw_str(w, "1.1.0");
	jw_key(w, "id");
	jw_str(w, id);
	jw_key(w, "status");
	jw_str(w, oci_status_names[i->status]);
	jw_key(w, "pid");
	jw_int(w, i->status == OCI_STOPPED ? 0 : i->st.owner);
	jw_key(w, "bundle");
	jw_str(w, i->bundle ? i->bundle : "");
	jw_key(w, "rootfs");
	jw_str(w, i->rootfs ? i->rootfs : "");
	jw_key(w, "created");
	jw_str(w, i->created ? i->created : "1970-01-01T00:00:00Z");
	jw_key(w, "annotations");
	jw_obj_begin(w);
	for (char **a = i->annotations; a && a[0] && a[1]; a += 2) {
		jw_key(w, a[0]);
		jw_str(w, a[1]);
	}
	jw_obj_end(w);
	jw_obj_end(w);
}

/* Remove a container's state, and first what a pod's sandbox or
 * container has mounted on the host (pod.c). */
static int oci_remove(const struct oci_ctx *o, const char *id, struct err *err)
{
	_cleanup_free_ char *target = NULL, *groot = NULL;
	_cleanup_free_ char *pods = ctr_pod_dir(o->root, id, NULL);
	struct stat st;

	if (ctr_pod_exec_target(o->root, id, &target, &groot) == 1)
		ctr_pod_member_teardown(o->root, target, id);
	else if (stat(pods, &st) == 0)
		ctr_pod_sandbox_teardown(o->root, id);
	return ctr_remove(o->root, id, true, err);
}

/* ---- create ---- */

struct oci_create_opts {
	const char *bundle, *pid_file, *console_socket;
	bool keep;			/* run --keep: not deleted when it ends */
};

static const struct option oci_create_longopts[] = {
	{ "bundle", required_argument, NULL, 'b' },
	{ "pid-file", required_argument, NULL, 'p' },
	{ "console-socket", required_argument, NULL, 'c' },
	{ "detach", no_argument, NULL, 'd' },
	{ "no-pivot", no_argument, NULL, 'N' },
	{ "no-new-keyring", no_argument, NULL, 'K' },
	{ "preserve-fds", required_argument, NULL, 'P' },
	{ "no-subreaper", no_argument, NULL, 'S' },
	{ "keep", no_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static void oci_created_time(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

static int oci_write_info(const struct oci_ctx *o, const char *id, const char *bundle,
			  const struct ctr_bundle *b)
{
	_cleanup_free_ char *path = ctr_path(o->root, id, "oci.json");
	_cleanup_buf_ struct buf out = BUF_INIT;
	struct json_writer w;
	char created[96];

	oci_created_time(created, sizeof(created));
	jw_init(&w, &out, true);
	jw_obj_begin(&w);
	jw_key(&w, "bundle");
	jw_str(&w, bundle);
	jw_key(&w, "rootfs");
	jw_str(&w, b->cfg.root_dir ? b->cfg.root_dir : b->cfg.disk);
	jw_key(&w, "created");
	jw_str(&w, created);
	jw_key(&w, "annotations");
	jw_obj_begin(&w);
	for (char **a = b->annotations; a && a[0] && a[1]; a += 2) {
		jw_key(&w, a[0]);
		jw_str(&w, a[1]);
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
	buf_putc(&out, '\n');
	return write_file_atomic_at(AT_FDCWD, path, out.data, out.len, 0600);
}

/* A writable file bind mount is shared through a hard link next to the
 * container's state: one on another filesystem than --root can only be
 * copied, so it is copied read-only rather than refused (podman's
 * /etc/hosts and friends when its run root and --root differ). */
static void oci_file_mounts(const struct oci_ctx *o, struct ctr_bundle *b)
{
	struct stat rs, fs;

	if (stat(o->root, &rs) < 0)
		return;
	for (size_t i = 0; i < b->cfg.nmounts; i++) {
		struct ctr_mount *m = &b->cfg.mounts[i];

		if (m->type == CTR_MOUNT_BIND && !m->readonly && stat(m->src, &fs) == 0 &&
		    S_ISREG(fs.st_mode) && fs.st_dev != rs.st_dev) {
			log_debug("%s on %s: another filesystem than %s, shared as a read-only copy",
				  m->src, m->dst, o->root);
			m->readonly = true;
		}
	}
}


static void oci_shim_error(const char *msg, void *ud)
{
	oci_error(ud, "%s", msg);
}

/* The per-container process: a child of create, so conmon or the shim
 * (a subreaper) inherits it when create exits. */
static __attribute__((noreturn)) void oci_child(const struct oci_ctx *o, struct ctr_bundle *b,
						 int ready, int tty, const char *sandbox)
{
	struct ctr_bundle_run ro = { .root = o->root, .ready_fd = 3, .out_fd = STDOUT_FILENO,
				     .err_fd = STDERR_FILENO, .error = oci_shim_error, .ud = (void *)o };
	sigset_t none;
	int logfd;

	setsid();
	if (tty >= 0) {
		ioctl(tty, TIOCSCTTY, 0);
		for (int fd = 0; fd < 3; fd++)
			dup2(tty, fd);
		if (tty > 2)
			close(tty);
	}
	if (ready != 3) {
		dup2(ready, 3);
		close(ready);
	}
	/* Whatever else the caller had open (conmon's sync pipes, the
	 * shim's sockets) must not be held for the container's life. */
	syscall(SYS_close_range, 4u, ~0u, 0);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	for (int fd = 0; fd < 3; fd++)
		fcntl(fd, F_SETFD, 0);
	/* ucrt's own messages (warnings from the launch, --debug) go to
	 * --log, never into the container's stderr. */
	if (o->log && (logfd = open(o->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) >= 0) {
		ro.err_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 4);
		if (ro.err_fd >= 0)
			dup2(logfd, STDERR_FILENO);
		else
			ro.err_fd = STDERR_FILENO;
		close(logfd);
		oci_quiet_stderr = ro.err_fd != STDERR_FILENO;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sandbox) {
		/* A pod's container relays its output through fds 1 and 2;
		 * ucrt's own errors then go to --log only. */
		if (ro.err_fd != STDERR_FILENO) {
			dup2(ro.err_fd, STDERR_FILENO);
			close(ro.err_fd);
			ro.err_fd = STDERR_FILENO;
			oci_quiet_stderr = true;
		}
		_exit(ctr_pod_member_run(&ro, b, sandbox));
	}
	_exit(ctr_bundle_run(&ro, b));
}

/* Everything up to a live per-container process; *child its pid. */
static int oci_do_create(const struct oci_ctx *o, const char *id, const struct oci_create_opts *co,
			 pid_t *child)
{
	_cleanup_free_ char *cdir = xasprintf("%s/containers", o->root);
	_cleanup_free_ char *dir = ctr_path(o->root, id, NULL);
	_cleanup_free_ char *fifo = ctr_path(o->root, id, "start.fifo");
	char bundle[PATH_MAX], msg[1024];
	struct ctr_bundle b;
	struct err e = { 0 };
	int ready[2] = { -1, -1 }, master = -1, slave = -1, r;
	ssize_t n = 0, k;
	const char *sandbox = NULL;
	enum ctr_pod_role role;

	if (!oci_id_valid(id)) {
		oci_error(o, "invalid container id '%.80s': letters, digits, '-', '_', '.', at most %d",
			  id, CTR_ID_LEN);
		return -EINVAL;
	}
	if (!realpath(co->bundle ? co->bundle : ".", bundle)) {
		oci_error(o, "bundle %s: %s", co->bundle ? co->bundle : ".", strerror(errno));
		return -errno;
	}
	if (ctr_bundle_load(bundle, &b, &e) < 0) {
		oci_error(o, "%s", err_msg(&e));
		return -EINVAL;
	}
	for (char **v = b.ignored; v && *v; v++)
		log_debug("%s: accepted, not applied: %s", id, *v);
	if (b.netns)
		log_debug("%s: network namespace %s: the VM gets no interface in it", id, b.netns);
	if (b.terminal && !co->console_socket) {
		oci_error(o, "process.terminal needs --console-socket");
		ctr_bundle_free(&b);
		return -EINVAL;
	}
	snprintf(b.cfg.id, sizeof(b.cfg.id), "%s", id);
	b.cfg.name = xstrdup(id);
	b.cfg.image = xstrdup(bundle);
	b.cfg.created = (int64_t)time(NULL);
	if ((r = mkdir_p_at(AT_FDCWD, cdir, 0700)) < 0 || mkdir(dir, 0700) < 0) {
		r = r < 0 ? r : -errno;
		oci_error(o, r == -EEXIST ? "container %s exists already" : "creating %s: %s",
			  r == -EEXIST ? id : dir, strerror(-r));
		ctr_bundle_free(&b);
		return r;
	}
	/* A Kubernetes pod (pod.c): the sandbox boots the pod's VM, its
	 * containers run in it. */
	role = ctr_pod_role(b.annotations, &sandbox);
	if (role == CTR_POD_MEMBER) {
		r = ctr_pod_member_prepare(o->root, id, sandbox, &b, &e);
	} else {
		r = role == CTR_POD_SANDBOX ? ctr_pod_sandbox_prepare(o->root, id, &b, &e) : 0;
		oci_file_mounts(o, &b);
		if (r == 0)
			r = ctr_mounts_resolve(o->root, id, b.cfg.mounts, b.cfg.nmounts, &e);
		if (r == 0)
			r = ctr_bundle_mountpoints(&b, &e);
	}
	if (r < 0)
		oci_error(o, "%s", err_msg(&e));
	if (r == 0 && (r = oci_write_info(o, id, bundle, &b)) < 0)
		oci_error(o, "writing %s/oci.json: %s", dir, strerror(-r));
	if (r == 0 && mkfifo(fifo, 0600) < 0)
		oci_error(o, "%s: %s", fifo, strerror(-(r = -errno)));
	if (r == 0 && b.terminal) {
		if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
			oci_error(o, "openpty: %s", strerror(-(r = -errno)));
		else if ((r = oci_send_console(co->console_socket, master, "/dev/ptmx")) < 0)
			oci_error(o, "--console-socket %s: %s", co->console_socket, strerror(-r));
		if (master >= 0)
			close(master);
	}
	if (r == 0 && pipe2(ready, O_CLOEXEC) < 0)
		oci_error(o, "pipe: %s", strerror(-(r = -errno)));
	if (r == 0) {
		fflush(NULL);
		*child = fork();
		if (*child < 0)
			oci_error(o, "fork: %s", strerror(-(r = -errno)));
		else if (*child == 0)
			oci_child(o, &b, ready[1], slave, sandbox);
	}
	if (slave >= 0)
		close(slave);
	if (ready[1] >= 0)
		close(ready[1]);
	ctr_bundle_free(&b);
	if (r == 0) {
		while ((size_t)n < sizeof(msg) - 1 && (k = read(ready[0], msg + n, sizeof(msg) - 1 - (size_t)n)) > 0)
			n += k;
		msg[n] = 0;
		if (n < 1 || msg[0] != 'R') {
			oci_error(o, "the container process failed: %s", n > 1 ? msg + 1 : "it died");
			kill(*child, SIGKILL);
			waitpid(*child, NULL, 0);
			r = -EIO;
		}
	}
	if (ready[0] >= 0)
		close(ready[0]);
	if (r < 0)
		oci_remove(o, id, NULL);
	return r;
}

static int oci_parse_create(int argc, char **argv, struct oci_create_opts *co, bool *detach)
{
	int c;

	while ((c = getopt_long(argc, argv, "+b:d", oci_create_longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			co->bundle = optarg;
			break;
		case 'p':
			co->pid_file = optarg;
			break;
		case 'c':
			co->console_socket = optarg;
			break;
		case 'd':
			if (detach)
				*detach = true;
			break;
		case 'k':
			co->keep = true;
			break;
		case 'N': case 'K': case 'P': case 'S':
			break;
		case 'h':
			printf("Usage: " OCI_PROG " %s [--bundle DIR] [--pid-file F] [--console-socket SOCK]%s ID\n",
			       argv[0], detach ? " [--detach] [--keep]" : "");
			return 1;
		default:
			return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	return 0;
}

int oci_create(struct oci_ctx *o, int argc, char **argv)
{
	struct oci_create_opts co = { 0 };
	pid_t child;
	int r = oci_parse_create(argc, argv, &co, NULL);

	if (r)
		return r > 0 ? 0 : (oci_error(o, "usage: create [--bundle DIR] [--pid-file F] "
					      "[--console-socket SOCK] ID"), 1);
	if (oci_do_create(o, argv[optind], &co, &child) < 0)
		return 1;
	if (co.pid_file && (r = oci_write_pid_file(co.pid_file, child)) < 0) {
		oci_error(o, "--pid-file %s: %s", co.pid_file, strerror(-r));
		kill(child, SIGKILL);
		oci_remove(o, argv[optind], NULL);
		return 1;
	}
	return 0;
}

/* ---- start ---- */

static int oci_do_start(const struct oci_ctx *o, const char *id)
{
	_cleanup_free_ char *fifo = ctr_path(o->root, id, "start.fifo");
	struct oci_info i;
	int fd, r = -EIO;

	if (oci_need(o, id, &i) < 0)
		return -ENOENT;
	if (i.status != OCI_CREATED) {
		oci_error(o, "container %s is %s: only a created container can start", id,
			  oci_status_names[i.status]);
		goto out;
	}
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1) {
		oci_error(o, "starting %s: %s", id, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	/* Blocking wait: the CLI has nothing else to do, and podman and
	 * containerd expect the process to run when start returns. */
	for (unsigned n = 0; n < OCI_START_WAIT_S * 50; n++) {
		oci_info_free(&i);
		if (oci_read(o, id, &i) < 0)
			break;
		if (i.status != OCI_CREATED)
			break;
		usleep(20000);
	}
	if (i.status == OCI_CREATED)
		oci_error(o, "container %s did not start within %u s", id, OCI_START_WAIT_S);
	else if (i.status == OCI_STOPPED && i.st.exit_code == 125 && i.st.error[0])
		oci_error(o, "%s", i.st.error);
	else if (i.status == OCI_STOPPED && !i.owner_alive && i.st.status != CTR_EXITED)
		oci_error(o, "the process of container %s died", id);
	else
		r = 0;
out:
	oci_info_free(&i);
	return r;
}

int oci_start(struct oci_ctx *o, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		printf("Usage: " OCI_PROG " start ID\n");
		return 0;
	}
	if (argc != 2) {
		oci_error(o, "usage: start ID");
		return 1;
	}
	return oci_do_start(o, argv[1]) < 0 ? 1 : 0;
}

int oci_run(struct oci_ctx *o, int argc, char **argv)
{
	struct oci_create_opts co = { 0 };
	bool detach = false;
	pid_t child;
	int r = oci_parse_create(argc, argv, &co, &detach), wst;
	const char *id;

	if (r)
		return r > 0 ? 0 : (oci_error(o, "usage: run [--bundle DIR] [--pid-file F] [--detach] ID"), 1);
	id = argv[optind];
	if (oci_do_create(o, id, &co, &child) < 0)
		return 1;
	if (co.pid_file && (r = oci_write_pid_file(co.pid_file, child)) < 0) {
		oci_error(o, "--pid-file %s: %s", co.pid_file, strerror(-r));
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		oci_remove(o, id, NULL);
		return 1;
	}
	if (oci_do_start(o, id) < 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		oci_remove(o, id, NULL);
		return 1;
	}
	if (detach)
		return 0;
	/* runc run: the container's status is ours, and the container goes
	 * when it ends (nobody else would delete it), unless --keep: Slurm
	 * queries the state after the task and deletes it itself. */
	signal(SIGINT, SIG_IGN);
	if (waitpid(child, &wst, 0) < 0)
		return 1;
	if (!co.keep)
		oci_remove(o, id, NULL);
	return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}

/* ---- state, kill, delete, list, ps ---- */

int oci_state(struct oci_ctx *o, int argc, char **argv)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	struct oci_info i;

	if (argc != 2) {
		oci_error(o, "usage: state ID");
		return 1;
	}
	if (strcmp(argv[1], "--help") == 0) {
		printf("Usage: " OCI_PROG " state ID\n");
		return 0;
	}
	if (oci_need(o, argv[1], &i) < 0)
		return 1;
	jw_init(&w, &b, true);
	oci_state_json(&w, argv[1], &i);
	buf_putc(&b, '\n');
	fwrite(b.data, 1, b.len, stdout);
	oci_info_free(&i);
	return 0;
}

int oci_kill(struct oci_ctx *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct oci_info i;
	int c, sig = SIGTERM, r = 0;

	while ((c = getopt_long(argc, argv, "+a", longopts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: " OCI_PROG " kill [--all] ID [SIGNAL]\n");
			return 0;
		}
		if (c != 'a')
			return 1;
	}
	if (optind >= argc || argc - optind > 2) {
		oci_error(o, "usage: kill [--all] ID [SIGNAL]");
		return 1;
	}
	if (argc - optind == 2 && (sig = ctr_signal_parse(argv[optind + 1])) < 0) {
		oci_error(o, "invalid signal '%s'", argv[optind + 1]);
		return 1;
	}
	if (oci_need(o, argv[optind], &i) < 0)
		return 1;
	/* --all: every process of the container is in its VM, and the VM
	 * ends with the per-container process; one signal covers them. */
	if (i.status == OCI_STOPPED) {
		/* runc's words: containerd's shim takes them for "already
		 * finished" (its checkKillError), not for a failure. */
		oci_error(o, "container not running: %s", argv[optind]);
		r = 1;
	} else if (kill(i.st.owner, sig) < 0) {
		oci_error(o, "kill %s: %s", argv[optind], strerror(errno));
		r = 1;
	}
	oci_info_free(&i);
	return r;
}

int oci_delete(struct oci_ctx *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct oci_info i;
	struct err e = { 0 };
	bool force = false;
	int c;

	while ((c = getopt_long(argc, argv, "+f", longopts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: " OCI_PROG " delete [--force] ID\n");
			return 0;
		}
		if (c != 'f')
			return 1;
		force = true;
	}
	if (optind != argc - 1) {
		oci_error(o, "usage: delete [--force] ID");
		return 1;
	}
	if (oci_read(o, argv[optind], &i) < 0) {
		oci_error(o, "container %s does not exist", argv[optind]);
		return 1;
	}
	if (i.status == OCI_RUNNING && !force) {
		oci_error(o, "container %s is running: stop it first or use --force", argv[optind]);
		oci_info_free(&i);
		return 1;
	}
	/* A created container goes without --force, as with runc. */
	if (i.owner_alive)
		kill(i.st.owner, SIGKILL);
	oci_info_free(&i);
	if (oci_remove(o, argv[optind], &e) < 0) {
		oci_error(o, "%s", err_msg(&e));
		return 1;
	}
	return 0;
}

int oci_list(struct oci_ctx *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	_cleanup_free_ char *cdir = xasprintf("%s/containers", o->root);
	_cleanup_buf_ struct buf b = BUF_INIT;
	bool json = false, quiet = false;
	struct json_writer w;
	struct dirent *de;
	DIR *d;
	int c;

	while ((c = getopt_long(argc, argv, "+f:q", longopts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: " OCI_PROG " list [--format table|json] [--quiet]\n");
			return 0;
		}
		if (c == 'f')
			json = strcmp(optarg, "json") == 0;
		else if (c == 'q')
			quiet = true;
		else
			return 1;
	}
	jw_init(&w, &b, false);
	if (json)
		jw_arr_begin(&w);
	else if (!quiet)
		printf("%-24s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
	d = opendir(cdir);
	while (d && (de = readdir(d))) {
		struct oci_info i;

		if (de->d_name[0] == '.' || oci_read(o, de->d_name, &i) < 0)
			continue;
		if (json)
			oci_state_json(&w, de->d_name, &i);
		else if (quiet)
			printf("%s\n", de->d_name);
		else
			printf("%-24s %-8d %-10s %-40s %s\n", de->d_name,
			       i.status == OCI_STOPPED ? 0 : (int)i.st.owner, oci_status_names[i.status],
			       i.bundle ? i.bundle : "", i.created ? i.created : "");
		oci_info_free(&i);
	}
	if (d)
		closedir(d);
	if (json) {
		jw_arr_end(&w);
		buf_putc(&b, '\n');
		fwrite(b.data, 1, b.len, stdout);
	}
	return 0;
}

int oci_ps(struct oci_ctx *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct oci_info i;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "+f:", longopts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: " OCI_PROG " ps [--format table|json] ID\n");
			return 0;
		}
		if (c != 'f')
			return 1;
		json = strcmp(optarg, "json") == 0;
	}
	if (optind != argc - 1) {
		oci_error(o, "usage: ps [--format table|json] ID");
		return 1;
	}
	if (oci_need(o, argv[optind], &i) < 0)
		return 1;
	/* The host processes of a container: its per-container process and
	 * QEMU. What runs inside the guest is not a host pid. */
	if (json) {
		printf("[");
		if (i.status != OCI_STOPPED)
			printf("%d%s", (int)i.st.owner, i.st.qemu > 0 ? "," : "");
		if (i.status != OCI_STOPPED && i.st.qemu > 0)
			printf("%d", (int)i.st.qemu);
		printf("]\n");
	} else {
		printf("PID\tCMD\n");
		if (i.status != OCI_STOPPED) {
			printf("%d\t" OCI_PROG "\n", (int)i.st.owner);
			if (i.st.qemu > 0)
				printf("%d\tqemu\n", (int)i.st.qemu);
		}
	}
	oci_info_free(&i);
	return 0;
}

int oci_features(struct oci_ctx *o, int argc, char **argv)
{
	if (argc > 1) {
		printf("Usage: " OCI_PROG " features\n");
		return strcmp(argv[1], "--help") == 0 ? 0 : 1;
	}
	/* What ucrt honours (docs/oci-runtime.md): namespaces and cgroups are
	 * accepted because the VM is the boundary; no seccomp, AppArmor or
	 * SELinux is applied on top of it. */
	printf("{\n"
	       "  \"ociVersionMin\": \"1.0.0\",\n"
	       "  \"ociVersionMax\": \"1.1.0\",\n"
	       "  \"hooks\": [],\n"
	       "  \"mountOptions\": [\"bind\", \"rbind\", \"ro\", \"rw\", \"size\", \"mode\"],\n"
	       "  \"linux\": {\n"
	       "    \"namespaces\": [\"cgroup\", \"ipc\", \"mount\", \"network\", \"pid\", \"user\", \"uts\"],\n"
	       "    \"capabilities\": [],\n"
	       "    \"cgroup\": { \"v1\": false, \"v2\": false, \"systemd\": false, \"systemdUser\": false },\n"
	       "    \"seccomp\": { \"enabled\": false },\n"
	       "    \"apparmor\": { \"enabled\": false },\n"
	       "    \"selinux\": { \"enabled\": false }\n"
	       "  },\n"
	       "  \"annotations\": {\n"
	       "    \"io.github.ucrt.isolation\": \"microvm\",\n"
	       "    \"io.github.ucrt.version\": \"%s\"\n"
	       "  }\n"
	       "}\n", UCRT_VERSION);
	return 0;
}
