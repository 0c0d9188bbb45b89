/* Lifecycle of kept containers, as the CLI drives it: start a created or
 * ended container again (a fresh supervisor and VM on its overlay), stop
 * one, wait for one's end. State lives in state.json (state.c); whoever
 * owns the VM (a supervisor, or a foreground `ucrt run`) writes it, these
 * functions read it and talk to the owner. Blocking by design: they run
 * in a short CLI process with nothing else to do. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container-internal.h"
#include "err.h"
#include "str.h"
#include "util.h"

#define CTR_POLL_US 50000u

/* Owned by a live process that has not written its end yet. */
static bool ctr_live(const char *root, const char *id, struct ctr_state *s)
{
	enum ctr_status st = ctr_refresh(root, id, s);

	return st == CTR_RUNNING || (st == CTR_CREATED && ctr_proc_alive(s->owner, s->owner_start));
}

static bool ctr_gone(const char *root, const char *id)
{
	_cleanup_free_ char *dir = ctr_path(root, id, NULL);
	struct stat st;

	return stat(dir, &st) < 0 && errno == ENOENT;
}

int ctr_start_detached(const char *self_exe, const char *root, const char *id, bool hold,
		       struct err *err)
{
	_cleanup_free_ char *lp = ctr_path(root, id, "start.lock");
	_cleanup_close_ int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct ctr_config cfg;
	struct ctr_state st;

	if (fd < 0)
		return err_setx(err, errno == ENOENT ? ENOENT : errno, "container %.12s", id);
	/* Two starts at once would boot two VMs on one overlay: the second
	 * waits here and then finds it running. */
	if (flock(fd, LOCK_EX) < 0)
		return err_setx(err, errno, "locking %s", lp);
	if (ctr_live(root, id, &st))
		return 1;
	if (ctr_config_read(root, id, &cfg, err) < 0)
		return -EIO;
	ctr_config_free(&cfg);
	/* A fresh state: the supervisor's first write must not be mistaken
	 * for the previous run's end (ctr_refresh already killed a QEMU a
	 * dead owner left behind). */
	st = (struct ctr_state){ .status = CTR_CREATED, .exit_code = -1 };
	if (ctr_state_write(root, id, &st) < 0)
		return err_setx(err, errno, "container %.12s: writing state.json", id);
	return ctr_spawn_supervisor(self_exe, root, id, hold, err);
}

static bool ctr_wait_not_live(const char *root, const char *id, unsigned ms)
{
	struct ctr_state s;

	for (unsigned t = 0; t < ms; t += CTR_POLL_US / 1000u) {
		if (ctr_gone(root, id) || !ctr_live(root, id, &s))
			return true;
		usleep(CTR_POLL_US);
	}
	return false;
}

int ctr_stop_wait(const char *root, const char *id, unsigned secs, struct err *err)
{
	struct ctr_state s;
	struct err e = { 0 };
	char req[32];

	if (!ctr_live(root, id, &s))
		return 0;	/* docker: stopping a stopped container is fine */
	snprintf(req, sizeof(req), "stop %u", secs);
	if (ctr_ctl_simple(root, id, req, &e) < 0) {
		if (e.code != ESRCH) {
			err_set(err, e.code, "%s", err_msg(&e));
			return -e.code;
		}
		/* No supervisor: a foreground `ucrt run` owns it, and forwards
		 * our SIGTERM to the process like docker's sig-proxy. */
		if (ctr_proc_alive(s.owner, s.owner_start) && s.owner != getpid())
			kill(s.owner, SIGTERM);
	}
	/* A supervisor ends the VM itself after the grace; a foreground ucrt
	 * only forwards signals: past the grace it is killed, and its VM
	 * with it (PR_SET_PDEATHSIG). */
	if (!ctr_wait_not_live(root, id, secs * 1000u + 2000u)) {
		_cleanup_free_ char *sock = ctr_path(root, id, "ctl.sock");
		if (ctr_live(root, id, &s) && access(sock, F_OK) < 0 && ctr_proc_alive(s.owner, s.owner_start) &&
		    s.owner != getpid()) {
			kill(s.owner, CTR_STOP_KILL_SIGNAL);
			if (!ctr_wait_not_live(root, id, 5000u) && ctr_proc_alive(s.owner, s.owner_start))
				kill(s.owner, SIGKILL);
		}
	}
	if (!ctr_wait_not_live(root, id, 10000u))
		return err_set(err, ETIMEDOUT, "container %.12s did not stop", id);
	return 0;
}

/* Ask the supervisor for the end: it answers "EXITCODE\n" when the VM is
 * gone, even for a --rm container whose state goes with it. -1 when it
 * could not say (no supervisor, or it went away without an answer). */
static int ctr_wait_ctl(const char *root, const char *id)
{
	struct err e = { 0 };
	_cleanup_close_ int fd = ctr_ctl_connect(root, id, &e);
	char line[32];
	size_t n = 0;
	uint64_t v;

	if (fd < 0 || write_all(fd, "wait\n", 5) < 0)
		return -1;
	while (n < sizeof(line) - 1) {
		ssize_t r = read(fd, line + n, sizeof(line) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(line, '\n', n))
			break;
	}
	line[n] = 0;
	if (!memchr(line, '\n', n))
		return -1;
	line[strcspn(line, "\n")] = 0;
	if (str_to_u64(line, &v) < 0 || v > 255)
		return -1;
	return (int)v;
}

int ctr_wait(const char *root, const char *id, struct err *err)
{
	for (;;) {
		struct ctr_state s;
		enum ctr_status st = ctr_refresh(root, id, &s);
		int code;

		if (ctr_gone(root, id))
			return err_set(err, ENOENT, "container %.12s was removed before its end could be read", id);
		if (st == CTR_EXITED && s.exit_code >= 0)
			return s.exit_code;
		if (st == CTR_DEAD || st == CTR_EXITED)
			return err_set(err, EIO, "container %.12s ended without an exit status%s%s", id,
				       s.error[0] ? ": " : "", s.error);
		if (ctr_live(root, id, &s) && (code = ctr_wait_ctl(root, id)) >= 0)
			return code;
		usleep(CTR_POLL_US * 2);
	}
}
