/* The agent transport: which one a host gets (auto/serial/vsock), the
 * guest CID reservation, the check that only this VM's CID may connect,
 * the acceptor on the reactor (refuse others, keep listening, time out),
 * and the one vm_events.agent path both transports share. Whatever needs
 * a real /dev/vhost-vsock is skipped on hosts without it. */
#include "tests/lib/tap.h"
#include "t-vm.h"
#include "vm/vm-internal.h"

#include <linux/vm_sockets.h>
#include <sys/un.h>

static void t_skip(const char *what, const char *why)
{
	t_ok(1, "%s # SKIP %s", what, why);
}

static bool t_have_vhost(void)
{
	int fd = open(VM_VHOST_VSOCK_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static bool t_have_af_vsock(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void t_parse(void)
{
	enum vm_transport t = VM_TRANSPORT_AUTO;

	t_ok(vm_transport_parse("vsock", &t) == 0 && t == VM_TRANSPORT_VSOCK, "parse vsock");
	t_ok(vm_transport_parse("serial", &t) == 0 && t == VM_TRANSPORT_SERIAL, "parse serial");
	t_ok(vm_transport_parse("auto", &t) == 0 && t == VM_TRANSPORT_AUTO, "parse auto");
	t_is(vm_transport_parse("virtio", &t), -EINVAL, "unknown transport refused");
	t_streq(vm_transport_name(VM_TRANSPORT_VSOCK), "vsock", "name of vsock");
	t_streq(vm_transport_name(VM_TRANSPORT_SERIAL), "serial", "name of serial");
}

static void t_select(void)
{
	const char *missing = "/nonexistent/vhost-vsock";
	enum vm_transport t = VM_TRANSPORT_AUTO;
	struct err e = { 0 };
	char why[300];
	int r;

	r = vm_transport_select(VM_TRANSPORT_SERIAL, missing, &t, why, sizeof(why), &e);
	t_ok(r == 0 && t == VM_TRANSPORT_SERIAL && !why[0], "serial asked: serial, no probing");
	r = vm_transport_select(VM_TRANSPORT_AUTO, missing, &t, why, sizeof(why), &e);
	t_ok(r == 0 && t == VM_TRANSPORT_SERIAL && strstr(why, missing),
	     "auto, device missing: serial, and why says so (%s)", why);
	r = vm_transport_select(VM_TRANSPORT_VSOCK, missing, &t, why, sizeof(why), &e);
	t_ok(r == -ENOENT && strstr(err_msg(&e), missing), "vsock forced, device missing: %s", err_msg(&e));

	/* /dev/null opens read-write like a usable device would: auto then
	 * depends on AF_VSOCK sockets only. */
	r = vm_transport_select(VM_TRANSPORT_AUTO, "/dev/null", &t, why, sizeof(why), &e);
	if (t_have_af_vsock())
		t_ok(r == 0 && t == VM_TRANSPORT_VSOCK, "auto, device opens and AF_VSOCK works: vsock");
	else
		t_ok(r == 0 && t == VM_TRANSPORT_SERIAL && strstr(why, "AF_VSOCK"),
		     "auto, no AF_VSOCK sockets: serial (%s)", why);

	/* The real default path. */
	if (t_have_vhost()) {
		r = vm_transport_select(VM_TRANSPORT_AUTO, NULL, &t, why, sizeof(why), &e);
		t_ok(r == 0 && (t == VM_TRANSPORT_VSOCK || strstr(why, "AF_VSOCK")),
		     "auto with " VM_VHOST_VSOCK_DEV ": vsock (%s)", why);
		t_skip("forced vsock without the device names " VM_VHOST_VSOCK_DEV,
		       VM_VHOST_VSOCK_DEV " exists on this host");
		return;
	}
	r = vm_transport_select(VM_TRANSPORT_AUTO, NULL, &t, why, sizeof(why), &e);
	t_ok(r == 0 && t == VM_TRANSPORT_SERIAL && strstr(why, VM_VHOST_VSOCK_DEV),
	     "auto without " VM_VHOST_VSOCK_DEV ": serial (%s)", why);
	err_clear(&e);
	r = vm_transport_select(VM_TRANSPORT_VSOCK, NULL, &t, why, sizeof(why), &e);
	t_ok(r < 0 && strstr(err_msg(&e), VM_VHOST_VSOCK_DEV), "forced vsock without the device: %s",
	     err_msg(&e));
}

/* UCRT_AGENT_TRANSPORT through the probe (it fails before the kernel
 * search, so only QEMU is needed). */
static void t_probe_env(void)
{
	struct vm_host h;
	struct vm_host_opts o = { .accel = VM_ACCEL_TCG };
	struct err e = { 0 };
	char cache[256];
	int r;

	snprintf(cache, sizeof(cache), "%s/cache", t_tmpdir());
	o.cache_dir = cache;
	setenv("UCRT_AGENT_TRANSPORT", "pipes", 1);
	r = vm_host_probe(&h, &o, &e);
	if (r < 0 && strstr(err_msg(&e), "qemu-system-x86_64 not found")) {
		t_skip("UCRT_AGENT_TRANSPORT checked by the probe", "no QEMU");
		unsetenv("UCRT_AGENT_TRANSPORT");
		return;
	}
	t_ok(r == -EINVAL && strstr(err_msg(&e), "UCRT_AGENT_TRANSPORT") && strstr(err_msg(&e), "pipes"),
	     "bad UCRT_AGENT_TRANSPORT refused: %s", err_msg(&e));
	if (!t_have_vhost()) {
		err_clear(&e);
		setenv("UCRT_AGENT_TRANSPORT", "vsock", 1);
		r = vm_host_probe(&h, &o, &e);
		t_ok(r < 0 && strstr(err_msg(&e), "UCRT_AGENT_TRANSPORT") &&
		     strstr(err_msg(&e), VM_VHOST_VSOCK_DEV), "UCRT_AGENT_TRANSPORT=vsock here: %s", err_msg(&e));
	}
	unsetenv("UCRT_AGENT_TRANSPORT");
}

/* A stand-in for the VHOST_VSOCK_SET_GUEST_CID ioctl. */
static struct {
	unsigned calls;
	uint64_t first, last;
	uint64_t busy_from, busy_to;	/* EADDRINUSE in [from, to] */
	int other;			/* answer for the rest, 0 = accept */
} t_set;

static int t_set_cid(int fd, uint64_t cid)
{
	if (t_set.calls++ == 0)
		t_set.first = cid;
	t_set.last = cid;
	if (cid >= t_set.busy_from && cid <= t_set.busy_to)
		return -EADDRINUSE;
	return t_set.other;
}

static void t_cid_reset(uint64_t from, uint64_t to, int other)
{
	memset(&t_set, 0, sizeof(t_set));
	t_set.busy_from = from;
	t_set.busy_to = to;
	t_set.other = other;
}

static void t_cid(void)
{
	struct err e = { 0 };
	uint32_t cid = 0;
	int r, fd;

	t_cid_reset(1, 0, 0);
	r = vm_cid_pick(-1, 5000, t_set_cid, &cid, &e);
	t_ok(r == 0 && cid == 5000 && t_set.calls == 1, "free CID taken at once");
	t_cid_reset(5000, 5001, 0);
	r = vm_cid_pick(-1, 5000, t_set_cid, &cid, &e);
	t_ok(r == 0 && cid == 5002 && t_set.calls == 3, "EADDRINUSE: next CID tried (got %u after %u tries)",
	     cid, t_set.calls);
	t_cid_reset(VM_CID_MAX - 1, VM_CID_MAX, 0);
	r = vm_cid_pick(-1, VM_CID_MAX - 1, t_set_cid, &cid, &e);
	t_ok(r == 0 && cid == VM_CID_MIN, "wraps past VM_CID_MAX to %u", VM_CID_MIN);
	t_cid_reset(1, 0, 0);
	vm_cid_pick(-1, 1, t_set_cid, &cid, &e);
	t_ok(cid >= VM_CID_MIN && cid <= VM_CID_MAX, "start below 3 clamped into range (%u)", cid);
	vm_cid_pick(-1, UINT32_MAX, t_set_cid, &cid, &e);
	t_ok(cid >= VM_CID_MIN && cid <= VM_CID_MAX, "start -1U (VMADDR_CID_ANY) clamped into range (%u)", cid);
	t_cid_reset(0, UINT64_MAX, 0);
	r = vm_cid_pick(-1, 7, t_set_cid, &cid, &e);
	t_ok(r == -EADDRINUSE && t_set.calls == VM_CID_TRIES && strstr(err_msg(&e), "no free guest CID"),
	     "all busy: gives up after %u tries: %s", t_set.calls, err_msg(&e));
	err_clear(&e);
	t_cid_reset(1, 0, -EPERM);
	r = vm_cid_pick(-1, 9, t_set_cid, &cid, &e);
	t_ok(r == -EPERM && t_set.calls == 1 && strstr(err_msg(&e), "guest CID 9"),
	     "other errors are not retried: %s", err_msg(&e));

	/* The real ioctl on something that is not vhost. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	t_is(vm_vhost_set_cid(fd, 42), -ENOTTY, "VHOST_VSOCK_SET_GUEST_CID on /dev/null: ENOTTY");
	close(fd);
	err_clear(&e);
	r = vm_vhost_open("/dev/null", &cid, &e);
	t_ok(r == -ENOTTY && strstr(err_msg(&e), "/dev/null") && strstr(err_msg(&e), "guest CID"),
	     "vm_vhost_open names the device and the step: %s", err_msg(&e));
	err_clear(&e);
	r = vm_vhost_open("/nonexistent/vhost-vsock", &cid, &e);
	t_ok(r == -ENOENT && strstr(err_msg(&e), "/nonexistent/vhost-vsock"), "missing device: %s", err_msg(&e));

	if (!t_have_vhost()) {
		t_skip("two vhost fds get different CIDs", "no " VM_VHOST_VSOCK_DEV " on this host");
		return;
	}
	uint32_t c1 = 0, c2 = 0;
	int f1 = vm_vhost_open(VM_VHOST_VSOCK_DEV, &c1, &e), f2;
	t_cid_reset(1, 0, 0);
	f2 = open(VM_VHOST_VSOCK_DEV, O_RDWR | O_CLOEXEC);
	/* Start on the CID f1 holds: the kernel must say EADDRINUSE. */
	r = f1 >= 0 && f2 >= 0 ? vm_cid_pick(f2, c1, vm_vhost_set_cid, &c2, &e) : -1;
	t_ok(r == 0 && c2 == (c1 == VM_CID_MAX ? VM_CID_MIN : c1 + 1),
	     "a CID held by another vhost fd is skipped (%u then %u)", c1, c2);
	if (f1 >= 0)
		close(f1);
	if (f2 >= 0)
		close(f2);
}

static void t_peer(void)
{
	struct sockaddr_vm v = { .svm_family = AF_VSOCK, .svm_cid = 4711, .svm_port = 1024 };
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	struct sockaddr_storage ss;
	const struct sockaddr *sa = (const struct sockaddr *)&v;

	t_ok(vm_vsock_peer_ok(sa, sizeof(v), 4711), "this VM's CID accepted");
	t_ok(!vm_vsock_peer_ok(sa, sizeof(v), 4712), "another VM's CID refused");
	v.svm_cid = VMADDR_CID_HOST;
	t_ok(!vm_vsock_peer_ok(sa, sizeof(v), 4711), "the host itself (CID 2) refused");
	v.svm_cid = VMADDR_CID_LOCAL;
	t_ok(!vm_vsock_peer_ok(sa, sizeof(v), 4711), "local loopback (CID 1) refused");
	t_ok(!vm_vsock_peer_ok(sa, sizeof(v), VMADDR_CID_LOCAL) && !vm_vsock_peer_ok(sa, sizeof(v), 0),
	     "reserved CIDs are never a guest's, even if asked for");
	v.svm_cid = VMADDR_CID_ANY;
	t_ok(!vm_vsock_peer_ok(sa, sizeof(v), VMADDR_CID_ANY), "VMADDR_CID_ANY never matches");
	v.svm_cid = 4711;
	t_ok(!vm_vsock_peer_ok(sa, sizeof(v) - 1, 4711), "a truncated address refused");
	t_ok(!vm_vsock_peer_ok(NULL, 0, 4711), "no address refused");
	t_ok(!vm_vsock_peer_ok((const struct sockaddr *)&u, sizeof(u), 4711), "another family refused");
	/* Same bytes at an odd offset inside a bigger buffer: no alignment
	 * assumption. */
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &v, sizeof(v));
	t_ok(vm_vsock_peer_ok((const struct sockaddr *)&ss, sizeof(ss), 4711), "sockaddr_storage accepted");
}

static void t_listen(void)
{
	struct sockaddr_vm v;
	socklen_t len = sizeof(v);
	struct err e = { 0 };
	uint32_t port = 0;
	int fd;

	if (!t_have_af_vsock()) {
		t_skip("AF_VSOCK listener on a kernel-chosen port", "no AF_VSOCK sockets on this host");
		return;
	}
	fd = vm_vsock_listen(&port, &e);
	t_ok(fd >= 0 && port != VMADDR_PORT_ANY && port != 0, "listening on vsock port %u %s", port,
	     fd < 0 ? err_msg(&e) : "");
	if (fd < 0)
		return;
	t_ok(getsockname(fd, (struct sockaddr *)&v, &len) == 0 && v.svm_cid == VMADDR_CID_ANY &&
	     v.svm_port == port, "bound to VMADDR_CID_ANY and that port");
	t_ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "close-on-exec (only QEMU's fd table is built by hand)");
	close(fd);
}

/* ---- the acceptor on the reactor ---- */

struct t_acc {
	bool called;
	int fd;
	struct err e;
	unsigned refused;
	struct vm_acceptor *a;
};

static void t_acc_cb(void *data, int fd, const struct err *e)
{
	struct t_acc *t = data;

	t->called = true;
	t->fd = fd;
	if (e)
		t->e = *e;
	t->refused = vm_acceptor_refused(t->a);
	vm_acceptor_free(TAKE_PTR(t->a));	/* inside its own callback */
}

static void t_run_until(struct loop *l, const bool *flag, unsigned ms)
{
	uint64_t end = loop_now_ns() + (uint64_t)ms * 1000000u;

	while (!*flag && loop_now_ns() < end)
		loop_run_once(l, true);
}

/* Drain the loop until no op of ours is left (cancellations complete). */
static void t_settle(struct loop *l)
{
	for (int i = 0; i < 20 && loop_pending(l); i++)
		loop_run_once(l, true);
}

static int t_unix_listener(char *path, size_t cap, struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(path, cap, "%s/acc.sock", t_tmpdir());
	unlink(path);
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 8) < 0) {
		perror("unix listener");
		exit(1);
	}
	return fd;
}

static int t_unix_connect(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Peers that are not this VM's guest (here: AF_UNIX clients, which no CID
 * can match) are closed one after the other, the acceptor keeps going
 * and finally times out with a message naming CID, port and refusals. */
static void t_acceptor(struct loop *l)
{
	struct t_acc t = { .fd = -2 };
	struct sockaddr_un sa;
	char path[256], c;
	int lfd, c1, c2, fds0 = t_count_fds();
	uint64_t t0;
	int r;

	lfd = t_unix_listener(path, sizeof(path), &sa);
	t0 = loop_now_ns();
	r = vm_acceptor_start(l, lfd, 4711, 40001, 700 * 1000000ull, t_acc_cb, &t, &t.a);
	t_ok(r == 0, "acceptor armed");
	c1 = t_unix_connect(&sa);
	c2 = t_unix_connect(&sa);
	t_ok(!t.called, "nothing reported from inside the caller");
	t_run_until(l, &t.called, 5000);
	t_ok(t.called && t.fd == -ETIMEDOUT, "no connection from CID 4711: -ETIMEDOUT after %.1f s",
	     (double)(loop_now_ns() - t0) / 1e9);
	t_ok(strstr(t.e.msg, "CID 4711") && strstr(t.e.msg, "port 40001") && strstr(t.e.msg, "2 connections"),
	     "the message names CID, port and refusals: %s", t.e.msg);
	t_is(t.refused, 2, "both strangers refused");
	t_ok(c1 >= 0 && read(c1, &c, 1) == 0 && c2 >= 0 && read(c2, &c, 1) == 0, "and closed at once (EOF)");
	close(c1);
	close(c2);
	t_settle(l);
	c1 = t_unix_connect(&sa);
	t_ok(c1 < 0, "the listener is closed after the report");
	if (c1 >= 0)
		close(c1);
	t_is(t_count_fds(), fds0, "no fd left behind");

	/* Freed before anything happened: no callback, listener closed. */
	memset(&t, 0, sizeof(t));
	lfd = t_unix_listener(path, sizeof(path), &sa);
	r = vm_acceptor_start(l, lfd, 4711, 40001, 60 * 1000000000ull, t_acc_cb, &t, &t.a);
	loop_run_once(l, false);
	vm_acceptor_free(TAKE_PTR(t.a));
	t_settle(l);
	t_ok(r == 0 && !t.called, "vm_acceptor_free: no callback");
	t_is(t_count_fds(), fds0, "and no fd left behind");
	t_is(loop_pending(l), 0, "nor a timer or op");
	unlink(path);
}

/* ---- both transports through vm_start, QEMU played by a script ---- */

struct t_fake {
	bool agent, exited;
	int fd;
	struct err e;
};

static void t_fake_agent(struct vm *vm, int fd, const struct err *e, void *data)
{
	struct t_fake *f = data;

	f->agent = true;
	f->fd = fd;
	if (e)
		f->e = *e;
}

static void t_fake_exited(struct vm *vm, int wstatus, void *data)
{
	((struct t_fake *)data)->exited = true;
}

static const char *t_fake_qemu(void)
{
	static char path[256];
	static const char body[] =
		"#!/bin/sh\n"
		"for f in /proc/$$/fd/*; do n=${f##*/}; printf '%s=%s ' $n \"$(readlink $f)\"; done >&2\n"
		"for a; do case $a in *vsock*|*agent*) printf '%s ' \"$a\" >&2;; esac; done\n"
		"[ -e /proc/$$/fd/5 ] && printf hello >&5\n"
		"sleep 1\n";

	snprintf(path, sizeof(path), "%s/fake-qemu", t_tmpdir());
	if (write_file_atomic_at(AT_FDCWD, path, body, sizeof(body) - 1, 0755) < 0)
		return NULL;
	return path;
}

static void t_serial_event(struct loop *l)
{
	struct vm_host h = { .qemu = (char *)t_fake_qemu(), .kernel = { .path = (char *)t_fake_qemu() },
			     .transport = VM_TRANSPORT_SERIAL };
	struct vm_config c = { .name = "serial", .agent = true };
	struct vm_events ev = { .exited = t_fake_exited, .agent = t_fake_agent };
	struct t_fake f = { .fd = -1 };
	struct err e = { 0 };
	struct vm *vm = NULL;
	char buf[16] = { 0 };
	int r;

	r = vm_start(l, &h, &c, &ev, &f, &vm, &e);
	t_ok(r == 0, "serial: vm_start %s", r < 0 ? err_msg(&e) : "");
	if (r < 0)
		return;
	t_ok(!f.agent, "serial: the channel is not handed over inside vm_start");
	t_run_until(l, &f.agent, 5000);
	t_ok(f.agent && f.fd >= 0, "serial: vm_events.agent delivers the fd from the reactor");
	t_ok(f.fd >= 0 && read(f.fd, buf, 5) == 5 && strcmp(buf, "hello") == 0,
	     "serial: it is the other end of QEMU's fd 5 (read '%s')", buf);
	t_run_until(l, &f.exited, 5000);
	t_ok(strstr(vm_qemu_stderr(vm), " 5=socket:") && !strstr(vm_qemu_stderr(vm), " 7="),
	     "serial: fd 5 a socket, no vhost fd: %.200s", vm_qemu_stderr(vm));
	if (f.fd >= 0)
		close(f.fd);
	vm_free(vm);
	t_settle(l);
}

static void t_vsock_start(struct loop *l)
{
	struct vm_host h = { .qemu = (char *)t_fake_qemu(), .kernel = { .path = (char *)t_fake_qemu() },
			     .transport = VM_TRANSPORT_VSOCK };
	struct vm_config c = { .name = "vsock", .agent = true, .agent_timeout_ms = 500 };
	struct vm_events ev = { .exited = t_fake_exited, .agent = t_fake_agent };
	struct t_fake f = { .fd = -1 };
	struct err e = { 0 };
	struct vm *vm = NULL;
	int r;

	if (!t_have_vhost()) {
		r = vm_start(l, &h, &c, &ev, &f, &vm, &e);
		t_ok(r < 0 && strstr(err_msg(&e), VM_VHOST_VSOCK_DEV), "vsock VM without the device: %s",
		     err_msg(&e));
		t_skip("vsock VM: QEMU gets the vhost fd as fd 7, the guest-init timeout is reported",
		       "no " VM_VHOST_VSOCK_DEV " on this host");
		return;
	}
	r = vm_start(l, &h, &c, &ev, &f, &vm, &e);
	t_ok(r == 0, "vsock: vm_start %s", r < 0 ? err_msg(&e) : "");
	if (r < 0)
		return;
	t_run_until(l, &f.agent, 5000);
	t_ok(f.agent && f.fd == -ETIMEDOUT && strstr(f.e.msg, "did not connect"),
	     "vsock: no guest-init, agent_timeout_ms reported: %s", f.e.msg);
	t_run_until(l, &f.exited, 5000);
	t_ok(strstr(vm_qemu_stderr(vm), " 7=anon_inode:") && !strstr(vm_qemu_stderr(vm), " 5=") &&
	     strstr(vm_qemu_stderr(vm), "vhostfd=7") && strstr(vm_qemu_stderr(vm), "ucrt.vsock="),
	     "vsock: fd 7 is the vhost device, no serial socket: %.300s", vm_qemu_stderr(vm));
	vm_free(vm);
	t_settle(l);
}

/* QEMU itself parses our device string and uses the inherited fd instead
 * of opening /dev/vhost-vsock: given /dev/null as fd 7 it fails in the
 * first vhost ioctl, not on a property or a missing device node. */
static void t_qemu_device(void)
{
	const char *q = getenv("UCRT_QEMU") ? getenv("UCRT_QEMU") : "qemu-system-x86_64";
	struct vm_host h = { .qemu = "q", .kernel = { .path = (char *)t_fake_qemu() }, .transport = VM_TRANSPORT_VSOCK };
	struct vm_config c = { .agent = true };
	struct vm_vsock_ids ids = { .cid = 4711, .port = 1 };
	_cleanup_strv_ char **v = vm_argv(&h, &c, &ids);
	_cleanup_free_ char *out = NULL;
	const char *dev = NULL;
	char cmd[1024], errf[256];
	size_t len;

	for (char **a = v; *a; a++) {
		if (strstr(*a, "vhost-vsock-device"))
			dev = *a;
	}
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", q);
	if (!dev || t_run(cmd) != 0) {
		t_skip("QEMU accepts the vhost-vsock-device option", "no QEMU");
		return;
	}
	snprintf(errf, sizeof(errf), "%s/qemu-vsock.err", t_tmpdir());
	snprintf(cmd, sizeof(cmd), "timeout 20 %s -M microvm,accel=tcg -nodefaults -no-user-config -display none "
		 "-device '%s' 7</dev/null 2>%s", q, dev, errf);
	t_run(cmd);
	read_file_at(AT_FDCWD, errf, 1 << 16, &out, &len);
	t_ok(out && strstr(out, "vhost") && strstr(out, "Inappropriate ioctl"),
	     "QEMU takes '%s' and uses fd 7: %s", dev, out ? strtok(out, "\n") : "(no output)");
}

int main(void)
{
	struct loop *l;
	struct err e = { 0 };

	log_init_from_env();
	if (loop_new(&l, 64, &e) < 0)
		t_skip_all(err_msg(&e));
	t_parse();
	t_select();
	t_probe_env();
	t_cid();
	t_peer();
	t_listen();
	t_acceptor(l);
	t_serial_event(l);
	t_vsock_start(l);
	t_qemu_device();
	loop_free(l);
	return t_done();
}
