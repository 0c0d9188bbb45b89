/* One QEMU child on the reactor: spawn with a clean fd table and signal
 * state, watch it through a pidfd, drain its serial console into the log
 * and its stderr into a bounded buffer, talk QMP, and hand the agent
 * channel to the caller (a socketpair end, or an accepted vsock
 * connection). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

#define VM_STDERR_KEEP 4096u
#define VM_DRAIN_MS 500u

struct vm_stream {
	struct vm *vm;
	int fd;
	struct loop_op op;
	char buf[4096];
	bool eof;
};

struct vm {
	struct loop *loop;
	char *name;
	struct vm_events ev;
	void *data;

	pid_t pid;
	struct loop_child child;
	bool watching;		/* child not reaped yet */
	int wstatus;
	bool exit_reported;

	int agent_fd;		/* serial: until handed over by agent_timer */
	struct loop_timer agent_timer;
	struct vm_acceptor *acceptor;	/* vsock: until guest-init connects */
	int log_fd;
	struct vm_qmp qmp;
	struct vm_stream con;	/* serial console -> log_fd */
	struct loop_op log_wr;
	struct vm_stream err;	/* QEMU's stderr -> errbuf */
	char errbuf[VM_STDERR_KEEP + 1];
	size_t errlen;

	struct loop_timer kill_timer;	/* vm_quit grace */
	struct loop_timer drain_timer;	/* streams still open after exit */
	uint64_t t[VM_T_COUNT];
	unsigned ops;
	bool freeing;
};

struct loop *vm_loop(struct vm *vm) { return vm->loop; }
const char *vm_name(const struct vm *vm) { return vm->name; }
int vm_pass_fd(struct vm *vm, int fd) { return vm_qmp_pass_fd(&vm->qmp, fd); }
pid_t vm_pid(const struct vm *vm) { return vm->pid; }
bool vm_running(const struct vm *vm) { return vm->watching; }
const char *vm_qemu_stderr(const struct vm *vm) { return vm->errbuf; }

void vm_stamp(struct vm *vm, enum vm_phase p)
{
	if (p < VM_T_COUNT && vm->t[p] == 0)
		vm->t[p] = loop_now_ns();
}

uint64_t vm_time(const struct vm *vm, enum vm_phase p)
{
	return p < VM_T_COUNT ? vm->t[p] : 0;
}

void vm_log_timeline(const struct vm *vm)
{
	static const char *const names[VM_T_COUNT] = {
		"start", "spawned", "qmp", "console", "agent", "process", "exited",
	};
	struct buf b = BUF_INIT;

	if (!log_enabled(LOG_DEBUG))
		return;
	for (int p = VM_T_SPAWNED; p < VM_T_COUNT; p++) {
		if (vm->t[p])
			buf_printf(&b, " %s=+%.1fms", names[p], (double)(vm->t[p] - vm->t[VM_T_START]) / 1e6);
	}
	log_debug("vm %s: timeline%s", vm->name, b.data ? b.data : " (empty)");
	buf_free(&b);
}

static void vm_finalize(struct vm *vm)
{
	int fds[] = { vm->qmp.fd, vm->con.fd, vm->err.fd, vm->agent_fd, vm->log_fd };

	vm_qmp_free(&vm->qmp);
	vm_acceptor_free(vm->acceptor);
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(vm->name);
	free(vm);
}

/* The memory goes once vm_free was called, QEMU is reaped and no op
 * still points into the struct. */
static void vm_maybe_finalize(struct vm *vm)
{
	if (vm->freeing && !vm->watching && vm->ops == 0) {
		loop_timer_stop(vm->loop, &vm->kill_timer);
		loop_timer_stop(vm->loop, &vm->drain_timer);
		loop_timer_stop(vm->loop, &vm->agent_timer);
		vm_finalize(vm);
	}
}

void vm_op_ref(struct vm *vm) { vm->ops++; }

void vm_op_unref(struct vm *vm)
{
	vm->ops--;
	vm_maybe_finalize(vm);
}

/* Report the exit once QEMU is reaped and its console and stderr are
 * drained, so the caller sees the complete log and error text. */
static void vm_maybe_report_exit(struct vm *vm)
{
	if (vm->watching || vm->exit_reported || vm->freeing)
		return;
	if (!(vm->con.eof && vm->err.eof))
		return;
	vm->exit_reported = true;
	loop_timer_stop(vm->loop, &vm->drain_timer);
	vm_log_timeline(vm);
	if (vm->ev.exited)
		vm->ev.exited(vm, vm->wstatus, vm->data);
}

static void vm_stream_read(struct vm_stream *s);

static void vm_stream_eof(struct vm_stream *s)
{
	s->eof = true;
	vm_maybe_report_exit(s->vm);
}

static void vm_log_write_done(struct loop_op *op, int res, uint32_t flags)
{
	struct vm *vm = container_of(op, struct vm, log_wr);

	if (res < 0 && res != -ECANCELED)
		log_debug("vm %s: console log: %s", vm->name, strerror(-res));
	if (!vm->freeing)
		vm_stream_read(&vm->con);
	vm_op_unref(vm);
}

static void vm_stream_done(struct loop_op *op, int res, uint32_t flags)
{
	struct vm_stream *s = container_of(op, struct vm_stream, op);
	struct vm *vm = s->vm;

	if (res <= 0) {
		vm_stream_eof(s);
	} else if (s == &vm->err) {
		size_t n = MIN((size_t)res, VM_STDERR_KEEP - vm->errlen);
		memcpy(vm->errbuf + vm->errlen, s->buf, n);
		vm->errlen += n;
		vm->errbuf[vm->errlen] = 0;
		log_debug("vm %s: qemu: %.*s", vm->name, res, s->buf);
		vm_stream_read(s);
	} else {
		vm_stamp(vm, VM_T_CONSOLE);
		vm->log_wr.cb = vm_log_write_done;
		/* The console read stays paused until the log has it, so a
		 * slow disk slows the guest's UART instead of using memory. */
		if (vm->log_fd >= 0 &&
		    loop_write(vm->loop, &vm->log_wr, vm->log_fd, s->buf, (unsigned)res, (uint64_t)-1) == 0)
			vm_op_ref(vm);
		else
			vm_stream_read(s);
	}
	vm_op_unref(vm);
}

static void vm_stream_read(struct vm_stream *s)
{
	if (s->eof || s->vm->freeing) {
		s->eof = true;
		return;
	}
	s->op.cb = vm_stream_done;
	if (loop_read(s->vm->loop, &s->op, s->fd, s->buf, sizeof(s->buf), (uint64_t)-1) < 0) {
		vm_stream_eof(s);
		return;
	}
	vm_op_ref(s->vm);
}

static void vm_drain_timeout(struct loop_timer *t)
{
	struct vm *vm = t->data;

	/* A descendant of QEMU holds the pipes open: stop waiting. */
	if (loop_op_active(&vm->con.op))
		loop_cancel(vm->loop, &vm->con.op);
	if (loop_op_active(&vm->err.op))
		loop_cancel(vm->loop, &vm->err.op);
	vm->con.eof = vm->err.eof = true;
	vm_maybe_report_exit(vm);
}

static void vm_child_exited(struct loop_child *c, int wstatus)
{
	struct vm *vm = c->data;

	vm->watching = false;
	vm->wstatus = wstatus;
	vm_stamp(vm, VM_T_EXITED);
	loop_timer_stop(vm->loop, &vm->kill_timer);
	if (WIFSIGNALED(wstatus))
		log_debug("vm %s: qemu killed by signal %d", vm->name, WTERMSIG(wstatus));
	else
		log_debug("vm %s: qemu exited with status %d", vm->name, WEXITSTATUS(wstatus));
	vm_qmp_shutdown(&vm->qmp);
	/* No guest left to connect: the exited event tells the caller. */
	loop_timer_stop(vm->loop, &vm->agent_timer);
	vm_acceptor_free(TAKE_PTR(vm->acceptor));
	if (vm->freeing) {
		vm_maybe_finalize(vm);
		return;
	}
	loop_timer_start(vm->loop, &vm->drain_timer, VM_DRAIN_MS * 1000000ull);
	vm_maybe_report_exit(vm);
}

/* Is ucrt gone? In its own PID namespace QEMU's getppid() is 0 whoever
 * its parent is, so there ucrt's pidfd (self_fd >= 0) tells: it polls
 * readable once ucrt has exited. */
static bool vm_parent_gone(pid_t parent, int self_fd)
{
	struct pollfd p = { .fd = self_fd, .events = POLLIN };

	if (self_fd < 0)
		return getppid() != parent;
	return poll(&p, 1, 0) != 0;
}

/* In the child between fork and exec: only async-signal-safe calls. fds[i]
 * becomes fd i (-1: closed), every other fd is closed. self_fd >= 0: the
 * child was cloned into new namespaces (vm_spawn) and this is ucrt's
 * pidfd. */
static __attribute__((noreturn)) void vm_child(const struct vm_host *h, char **argv, const int *fds,
					       unsigned nfds, pid_t parent, int self_fd)
{
	sigset_t none;
	int moved[VM_FD_FIRST_FREE + VM_MAX_FILES];
	int alive = -1;

	/* Die with ucrt, even by SIGKILL; if ucrt is already gone the
	 * signal will never come: give up now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || vm_parent_gone(parent, self_fd))
		_exit(127);
	/* Transparent huge pages give an idle QEMU's heap and TCG cache
	 * 2 MiB pages it mostly does not touch (measured: RSS 112 -> 98.5 MB
	 * without); the flag survives exec. */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	/* Own session: a terminal's Ctrl-C goes to ucrt, which decides. */
	setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);	/* the reactor blocks some */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);		/* ignored ones survive exec */
	/* Lift every fd above the targets first, then place them; ucrt's
	 * pidfd goes right after them until the last check. */
	if (self_fd >= 0 && (alive = fcntl(self_fd, F_DUPFD, 128)) < 0)
		_exit(127);
	for (unsigned i = 0; i < nfds; i++)
		moved[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD, 128) : -1;
	for (unsigned i = 0; i < nfds; i++) {
		if (moved[i] < 0)
			close((int)i);
		else if (dup2(moved[i], (int)i) < 0)
			_exit(127);
	}
	if (alive >= 0 && (alive = dup2(alive, (int)nfds)) < 0)
		_exit(127);
	syscall(SYS_close_range, alive >= 0 ? nfds + 1 : nfds, ~0u, 0);
	if (self_fd >= 0)
		vm_ns_proc();
	vm_confine(h);
	/* A change of credentials clears the parent-death signal: again. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || vm_parent_gone(parent, alive))
		_exit(127);
	if (alive >= 0)
		close(alive);
	execv(argv[0], argv);
	_exit(127);
}

/* Start the child as fork() would: the pid returned is the host's, the
 * child exits with SIGCHLD and is reaped as usual. When ucrt is root and
 * confines QEMU, every QEMU has the same uid: ucrt-qemu, or root with the
 * same few capabilities (ucrt-oci), which may signal any root process.
 * The child then gets its own PID and mount namespaces (vm_ns_proc mounts
 * its own /proc), so that no QEMU can see, signal, ptrace or read the
 * memory of another process. *self_fd is ucrt's pidfd in that case (the
 * child's parent-death check), -1 otherwise. A kernel or sandbox that
 * refuses the namespaces gets a plain fork, as rootless ucrt and a QEMU
 * left root (--qemu-user root: all capabilities) do. */
static pid_t vm_spawn(const struct vm_host *h, int *self_fd)
{
	pid_t pid;
	int e;

	*self_fd = -1;
	if (!h->drop && !h->root_caps)
		return fork();
	*self_fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (*self_fd >= 0) {
		/* Raw clone, flags first (as on x86-64 and arm64), no new
		 * stack: fork's semantics. glibc's clone() wants a function
		 * and a stack. */
		pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
		if (pid >= 0)
			return pid;
		e = errno;
		close(TAKE_FD(*self_fd));
		errno = e;
	}
	log_trace("qemu gets no PID and mount namespace of its own (%s): plain fork", strerror(errno));
	return fork();
}

static int vm_socketpair(int sv[2], struct err *err)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_setx(err, errno, "socketpair");
	return 0;
}

static void vm_close_pair(int sv[2])
{
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		sv[i] = -1;
	}
}

/* The host end of the agent channel, made before QEMU starts: QEMU gets
 * pair[1] (serial) or vhost_fd (vsock); the guest learns ids.port from
 * its command line. */
struct vm_chan {
	int pair[2];
	int vhost_fd;
	int listen_fd;
	struct vm_vsock_ids ids;
};

static void vm_chan_close(struct vm_chan *ch)
{
	vm_close_pair(ch->pair);
	if (ch->vhost_fd >= 0)
		close(TAKE_FD(ch->vhost_fd));
	if (ch->listen_fd >= 0)
		close(TAKE_FD(ch->listen_fd));
}

static int vm_chan_open(struct vm_chan *ch, const struct vm_host *h, const struct vm_config *c,
			struct err *err)
{
	int r;

	*ch = (struct vm_chan){ .pair = { -1, -1 }, .vhost_fd = -1, .listen_fd = -1 };
	if (!c->agent)
		return 0;
	if (h->transport != VM_TRANSPORT_VSOCK)
		return vm_socketpair(ch->pair, err);
	r = vm_vhost_open(VM_VHOST_VSOCK_DEV, &ch->ids.cid, err);
	if (r < 0)
		return r;
	ch->vhost_fd = r;
	r = vm_vsock_listen(&ch->ids.port, err);
	if (r < 0) {
		vm_chan_close(ch);
		return err_wrap(err, "vsock transport");
	}
	ch->listen_fd = r;
	return 0;
}

static void vm_agent_report(struct vm *vm, int fd, const struct err *e)
{
	if (vm->ev.agent)
		vm->ev.agent(vm, fd, e, vm->data);
	else if (fd >= 0)
		close(fd);
}

/* The socketpair exists from the start, but it is handed over from the
 * reactor like an accepted vsock connection: callers have one path. */
static void vm_agent_serial_ready(struct loop_timer *t)
{
	struct vm *vm = t->data;

	vm_agent_report(vm, TAKE_FD(vm->agent_fd), NULL);
}

static void vm_agent_vsock_done(void *data, int fd, const struct err *e)
{
	struct vm *vm = data;

	vm_acceptor_free(TAKE_PTR(vm->acceptor));
	if (fd >= 0)
		log_debug("vm %s: guest-init connected over vsock", vm->name);
	vm_agent_report(vm, fd, e);
}

/* Serial: schedule the hand-over. Vsock: accept on the reactor (armed
 * before fork so that nothing can fail once QEMU runs). */
static int vm_agent_arm(struct vm *vm, struct vm_chan *ch, const struct vm_config *c)
{
	uint64_t ms = c->agent_timeout_ms ? c->agent_timeout_ms : VM_AGENT_TIMEOUT_MS;

	loop_timer_init(&vm->agent_timer, vm_agent_serial_ready, vm);
	vm->agent_fd = TAKE_FD(ch->pair[0]);
	if (ch->listen_fd < 0)
		return 0;
	log_debug("vm %s: vsock guest CID %u, host port %u", vm->name, ch->ids.cid, ch->ids.port);
	return vm_acceptor_start(vm->loop, TAKE_FD(ch->listen_fd), ch->ids.cid, ch->ids.port,
				 ms * 1000000u, vm_agent_vsock_done, vm, &vm->acceptor);
}

static void vm_trace_argv(const char *name, char **argv)
{
	_cleanup_free_ char *cmd = NULL;
	struct buf b = BUF_INIT;

	if (!log_enabled(LOG_TRACE))
		return;
	for (char **a = argv; *a; a++)
		buf_printf(&b, "%s%s", a == argv ? "" : " ", *a);
	cmd = buf_steal(&b);
	log_trace("vm %s: %s", name, cmd);
}

int vm_start(struct loop *l, const struct vm_host *h, const struct vm_config *c,
	     const struct vm_events *ev, void *data, struct vm **out, struct err *err)
{
	int qmp[2] = { -1, -1 }, con[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct vm_chan ch = { .pair = { -1, -1 }, .vhost_fd = -1, .listen_fd = -1 };
	int files[VM_MAX_FILES];
	unsigned nfiles = 0;
	_cleanup_strv_ char **argv = NULL;
	_cleanup_close_ int devnull = -1, log_fd = -1;
	struct vm *vm;
	pid_t pid, self = getpid();
	int r, self_fd;

	/* Before anything is opened: QEMU would refuse a device without a
	 * transport, and the guest would only be seen not to connect. */
	if ((r = vm_config_check(h, c, err)) < 0)
		return r;
	if (c->mac && c->netdev != VM_NETDEV_USER && c->tap_fd < 0 && !(c->mem_path && c->mem_shared))
		return err_set(err, EBADF, "vm %s: a network device without a tap", c->name ? c->name : "");
	if (c->console_log) {
		log_fd = open(c->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log_fd < 0)
			return err_setx(err, errno, "opening %s", c->console_log);
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return err_setx(err, errno, "/dev/null");
	if ((r = vm_socketpair(qmp, err)) < 0 || (r = vm_socketpair(con, err)) < 0 ||
	    (r = vm_chan_open(&ch, h, c, err)) < 0 || (r = vm_files_open(h, c, files, &nfiles, err)) < 0)
		goto fail;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		r = err_setx(err, errno, "pipe");
		goto fail;
	}
	argv = vm_argv(h, c, &ch.ids);
	vm_trace_argv(c->name ? c->name : "", argv);

	vm = xcalloc(1, sizeof(*vm));
	vm->loop = l;
	vm->name = xstrdup(c->name ? c->name : "vm");
	if (ev)
		vm->ev = *ev;
	vm->data = data;
	vm_stamp(vm, VM_T_START);
	r = vm_agent_arm(vm, &ch, c);
	if (r < 0) {
		err_setx(err, r, "vm %s: accepting on vsock port %u", vm->name, ch.ids.port);
		goto fail_vm;
	}
	pid = vm_spawn(h, &self_fd);
	if (pid < 0) {
		r = err_setx(err, errno, "fork");
		goto fail_vm;
	}
	if (pid == 0) {
		int fds[VM_FD_FIRST_FREE + VM_MAX_FILES] = { devnull, errp[1], errp[1], qmp[1], con[1], ch.pair[1],
							     c->mac && c->netdev != VM_NETDEV_USER ? c->tap_fd : -1,
							     ch.vhost_fd };
		memcpy(fds + VM_FD_FIRST_FREE, files, nfiles * sizeof(int));
		vm_child(h, argv, fds, VM_FD_FIRST_FREE + nfiles, self, self_fd);
	}
	if (self_fd >= 0)
		close(self_fd);
	vm_stamp(vm, VM_T_SPAWNED);
	vm->pid = pid;
	close(qmp[1]);
	close(con[1]);
	close(errp[1]);
	vm_chan_close(&ch);	/* QEMU holds its ends (and with them the CID) */
	vm_files_close(files, nfiles);
	vm->log_fd = TAKE_FD(log_fd);
	vm->con = (struct vm_stream){ .vm = vm, .fd = con[0] };
	vm->err = (struct vm_stream){ .vm = vm, .fd = errp[0] };
	loop_timer_init(&vm->kill_timer, NULL, vm);
	loop_timer_init(&vm->drain_timer, vm_drain_timeout, vm);

	r = loop_child_watch(l, &vm->child, pid, vm_child_exited, vm);
	if (r < 0) {
		/* Cannot watch it: do not leave it running unwatched. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		vm->freeing = true;
		vm->qmp.fd = qmp[0];
		vm_finalize(vm);
		return err_setx(err, r, "watching qemu pid %d", (int)pid);
	}
	vm->watching = true;
	vm_qmp_open(&vm->qmp, vm, qmp[0]);
	if (c->mem_path && c->incoming)
		vm_incoming_start(vm, vm_fd_migrate(c));
	vm_stream_read(&vm->con);
	vm_stream_read(&vm->err);
	if (vm->agent_fd >= 0)
		loop_timer_start(l, &vm->agent_timer, 0);
	log_debug("vm %s: qemu pid %d", vm->name, (int)pid);
	*out = vm;
	return 0;
fail_vm:
	vm_acceptor_free(vm->acceptor);
	if (vm->agent_fd >= 0)
		close(vm->agent_fd);
	free(vm->name);
	free(vm);
fail:
	vm_close_pair(qmp);
	vm_close_pair(con);
	vm_chan_close(&ch);
	vm_close_pair(errp);
	vm_files_close(files, nfiles);
	return r;
}

int vm_qmp(struct vm *vm, const char *execute, const char *args_json, vm_qmp_cb cb, void *data)
{
	return vm_qmp_send(&vm->qmp, execute, args_json, cb, data);
}

void vm_kill(struct vm *vm, int sig)
{
	/* The pidfd watch holds the pid: it cannot be recycled before we
	 * reap it, so signalling by pid is safe while watching. */
	if (vm->watching)
		kill(vm->pid, sig);
}

static void vm_kill_timeout(struct loop_timer *t)
{
	struct vm *vm = t->data;

	log_debug("vm %s: still running after quit: SIGKILL", vm->name);
	vm_kill(vm, SIGKILL);
}

void vm_quit(struct vm *vm, unsigned grace_ms)
{
	if (!vm->watching)
		return;
	if (vm_qmp_send(&vm->qmp, "quit", NULL, NULL, NULL) < 0 || grace_ms == 0) {
		vm_kill(vm, SIGKILL);
		return;
	}
	vm->kill_timer.cb = vm_kill_timeout;
	loop_timer_start(vm->loop, &vm->kill_timer, (uint64_t)grace_ms * 1000000u);
}

void vm_free(struct vm *vm)
{
	if (!vm || vm->freeing)
		return;
	vm->freeing = true;
	vm->ev.exited = NULL;
	vm->ev.agent = NULL;
	vm_kill(vm, SIGKILL);
	loop_timer_stop(vm->loop, &vm->agent_timer);
	vm_acceptor_free(TAKE_PTR(vm->acceptor));
	vm_qmp_shutdown(&vm->qmp);
	if (loop_op_active(&vm->con.op))
		loop_cancel(vm->loop, &vm->con.op);
	if (loop_op_active(&vm->err.op))
		loop_cancel(vm->loop, &vm->err.op);
	if (loop_op_active(&vm->log_wr))
		loop_cancel(vm->loop, &vm->log_wr);
	loop_timer_stop(vm->loop, &vm->kill_timer);
	loop_timer_stop(vm->loop, &vm->drain_timer);
	vm_maybe_finalize(vm);
}
