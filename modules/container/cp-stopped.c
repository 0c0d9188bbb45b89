/* `ucrt cp HOST CONTAINER:PATH` with a stopped (exited or created)
 * container: its VM boots on the kept overlay with the main process held
 * (never started), the same guest-init --tar-extract exec as for a
 * running one (cp.c) unpacks the host's tar, then guest-init is told to
 * power off, which syncs the overlay. state.json is never written, so
 * the container stays exactly as it was; start.lock keeps a `start` out
 * meanwhile. No network: the tar comes over the agent channel. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container-internal.h"
#include "err.h"
#include "loop.h"
#include "store/store.h"
#include "util.h"
#include "vm/vm.h"

struct cps {
	struct loop *l;
	struct ctr *c;
	struct ctr_proc *p;
	const char *cpath;
	int in;				/* the host's tar, from the writer child */
	struct loop_op in_op;
	char inbuf[65536];
	size_t in_off, in_len;
	bool in_eof, in_dead, exec_done, done;
	int status;			/* the exec's, -1 until it ended */
	char msg[512];			/* its stderr (the guest's reason), or ours */
	size_t msg_len;
	struct err e;
};

static void cps_end(struct cps *s)
{
	if (s->c)
		ctr_power_off(s->c);
}

static void cps_read(struct cps *s);

static void cps_pump(struct cps *s)
{
	while (s->in_off < s->in_len) {
		ssize_t n = ctr_stdin(s->p, s->inbuf + s->in_off, s->in_len - s->in_off);
		if (n < 0) {
			s->in_dead = true;
			return;
		}
		if (n == 0)
			return;	/* out of credit: stdin_ready resumes */
		s->in_off += (size_t)n;
	}
	s->in_off = s->in_len = 0;
	if (s->in_eof) {
		ctr_stdin_eof(s->p);
		s->in_dead = true;
		return;
	}
	cps_read(s);
}

static void cps_read_done(struct loop_op *op, int res, uint32_t flags)
{
	struct cps *s = container_of(op, struct cps, in_op);

	if (res == -ECANCELED || s->in_dead)
		return;
	if (res <= 0)
		s->in_eof = true;
	else
		s->in_len = (size_t)res;
	cps_pump(s);
}

static void cps_read(struct cps *s)
{
	s->in_op.cb = cps_read_done;
	if (loop_read(s->l, &s->in_op, s->in, s->inbuf, sizeof(s->inbuf), (uint64_t)-1) < 0) {
		ctr_stdin_eof(s->p);
		s->in_dead = true;
	}
}

static void cps_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct cps *s = ud;

	if (err) {
		err_set(&s->e, err, "copying to %s: starting the copy in the guest: %s", s->cpath, msg);
		s->exec_done = true;
		cps_end(s);
		return;
	}
	cps_read(s);
}

static void cps_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof, void *ud)
{
	struct cps *s = ud;
	size_t n = MIN(len, sizeof(s->msg) - 1 - s->msg_len);

	/* The guest's bytes go into our error message: printable only. */
	for (size_t i = 0; i < n; i++)
		s->msg[s->msg_len++] = data[i] == '\n' || (data[i] >= 0x20 && data[i] < 0x7f) ? (char)data[i] : '?';
	s->msg[s->msg_len] = '\0';
}

static void cps_stdin_ready(struct ctr_proc *p, void *ud)
{
	struct cps *s = ud;

	if (!s->in_dead && !loop_op_active(&s->in_op))
		cps_pump(s);
}

static void cps_exit(struct ctr_proc *p, int status, void *ud)
{
	struct cps *s = ud;

	s->status = status;
	s->exec_done = true;
	s->in_dead = true;
	cps_end(s);
}

static const struct ctr_proc_ops cps_ops = {
	.started = cps_started, .output = cps_output, .stdin_ready = cps_stdin_ready, .exit = cps_exit,
};

/* The main process never starts. */
static const struct ctr_proc_ops cps_main_ops = { 0 };

static void cps_ready(struct ctr *c, void *ud)
{
	struct cps *s = ud;
	char *argv[] = { "/proc/1/exe", "--tar-extract", (char *)s->cpath, NULL };
	struct ctr_spec sp = { .argv = argv, .cwd = "/", .user = "", .stdin_open = true };
	int r = ctr_exec(c, &sp, 0, 0, &cps_ops, s, &s->p);

	if (r < 0) {
		err_setx(&s->e, -r, "copying to %s", s->cpath);
		s->exec_done = true;
		cps_end(s);
	}
}

static void cps_done(struct ctr *c, int status, const struct err *err, void *ud)
{
	struct cps *s = ud;

	/* Ended before the copy did: the VM's own reason. */
	if (!s->exec_done && !s->e.code)
		err_set(&s->e, err && err->code ? err->code : EIO, "copying to %s: the VM ended: %s", s->cpath,
			err && err->code ? err_msg(err) : "before the copy finished");
	s->done = true;
}

/* The tar of hostsrc, written by a child into a pipe; its read end. */
static pid_t cps_writer(const char *hostsrc, int *fd, struct err *err)
{
	_cleanup_free_ char *s1 = xstrdup(hostsrc), *s2 = xstrdup(hostsrc);
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_setx(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return err_setx(err, errno, "fork");
	}
	if (pid == 0) {
		struct err e = { 0 };
		close(p[0]);
		if (chdir(dirname(s1)) < 0)
			_exit(1);
		if (ctr_cp_write_tar(p[1], basename(s2), &e) < 0) {
			fprintf(stderr, "ucrt: %s\n", err_msg(&e));
			_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

static int cps_boot_and_copy(const char *root, const struct ctr_config *cfg, struct cps *s)
{
	_cleanup_free_ char *cache = xasprintf("%s/vm", root);
	static const struct ctr_net_opts no_net = { .mode = CTR_NET_NONE };
	struct vm_host_opts ho = { .kernel = cfg->kernel, .cache_dir = cache };
	struct ctr_launch lo = { .cfg = cfg, .t0 = loop_now_ns(), .rows = 24, .cols = 80, .net_opts = &no_net,
				 .hold = true };
	struct ctr_events ev = { .done = cps_done, .ready = cps_ready };
	struct store *st = NULL;
	struct vm_host host;
	int r;

	memset(&host, 0, sizeof(host));
	if (cfg->accel)
		vm_accel_parse(cfg->accel, &ho.accel);
	/* The image disk under the overlay must stay: the store's shared
	 * lock, as for any start. */
	if (store_open(&st, root, &s->e) < 0 || store_lock(st, false, true, &s->e) < 0) {
		r = -EIO;
		goto out;
	}
	if ((r = vm_host_probe(&host, &ho, &s->e)) < 0)
		goto out;
	lo.host = &host;
	if ((r = loop_new(&s->l, 256, &s->e)) < 0)
		goto out;
	if ((r = ctr_start(s->l, &lo, &ev, &cps_main_ops, s, &s->c, &s->e)) < 0) {
		s->c = NULL;
		goto out;
	}
	while (!s->done && loop_run_once(s->l, true) >= 0)
		;
	r = s->done ? 0 : -EIO;
out:
	if (s->c)
		ctr_free(TAKE_PTR(s->c));
	if (s->l) {
		if (loop_op_active(&s->in_op))
			loop_cancel(s->l, &s->in_op);
		loop_drain(s->l);
		loop_free(TAKE_PTR(s->l));
	}
	vm_host_release(&host);
	if (st)
		store_close(st);
	return r;
}

int ctr_cp_to_stopped(const char *root, const char *id, const char *hostsrc, const char *cpath, struct err *err)
{
	struct cps s = { .cpath = cpath, .in = -1, .status = -1 };
	struct ctr_config cfg;
	struct stat sb;
	pid_t wpid;
	int ws = 0, r;

	if (lstat(hostsrc, &sb) < 0)
		return err_setx(err, errno, "%s", hostsrc);
	/* No start while its overlay is ours. */
	_cleanup_close_ int lock = ctr_cp_lock_stopped(root, id, &cfg, err);
	if (lock < 0)
		return lock;
	wpid = cps_writer(hostsrc, &s.in, err);
	if (wpid < 0) {
		ctr_config_free(&cfg);
		return -EIO;
	}
	r = cps_boot_and_copy(root, &cfg, &s);
	close(s.in);
	if (r < 0 || s.status != 0)
		kill(wpid, SIGTERM);
	waitpid(wpid, &ws, 0);
	ctr_config_free(&cfg);
	if (s.e.code) {
		err_set(err, s.e.code, "%s", err_msg(&s.e));
		return -EIO;
	}
	if (r < 0)
		return err_set(err, EIO, "copying to %s: the container's VM failed", cpath);
	if (s.status != 0) {
		size_t n = strlen(s.msg);
		while (n && s.msg[n - 1] == '\n')
			s.msg[--n] = '\0';
		return err_set(err, EIO, "%s failed in the container (status %d)%s%s", cpath, s.status,
			       n ? ": " : "", s.msg);
	}
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return err_set(err, EIO, "copying %s failed", hostsrc);
	return 0;
}
