/* The host side of the vsock transport: which transport a host gets, the
 * guest CID (reserved on /dev/vhost-vsock before QEMU starts, so two VMs
 * can never race for one), the AF_VSOCK listener, and an acceptor on the
 * reactor that only hands over a connection coming from this VM's CID.
 *
 * The CID is the one thing a guest cannot forge: vhost-vsock drops every
 * packet whose source CID is not the one set on its device. The port is
 * no secret (any guest on the host, and host processes, can connect to
 * it), so the acceptor closes connections from any other CID. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/vm_sockets.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

static const char *const vm_transport_names[] = {
	[VM_TRANSPORT_AUTO] = "auto", [VM_TRANSPORT_SERIAL] = "serial", [VM_TRANSPORT_VSOCK] = "vsock",
};

int vm_transport_parse(const char *s, enum vm_transport *out)
{
	int i = str_index(s, vm_transport_names, ARRAY_SIZE(vm_transport_names));
	if (i < 0)
		return -EINVAL;
	*out = (enum vm_transport)i;
	return 0;
}

const char *vm_transport_name(enum vm_transport t)
{
	return (unsigned)t < ARRAY_SIZE(vm_transport_names) ? vm_transport_names[t] : "auto";
}

/* Both halves must work: the device QEMU's vhost backend needs, and the
 * socket family our listener needs. Returns 0 or -errno with why set. */
static int vm_vsock_usable(const char *dev, char *why, size_t whylen)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC), r;

	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", dev, strerror(-r));
		return r;
	}
	close(fd);
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "AF_VSOCK sockets: %s", strerror(-r));
		return r;
	}
	close(fd);
	return 0;
}

int vm_transport_select(enum vm_transport want, const char *dev, enum vm_transport *out,
			char *why, size_t whylen, struct err *err)
{
	char reason[256];
	int r;

	if (whylen)
		why[0] = 0;
	if (want == VM_TRANSPORT_SERIAL) {
		*out = VM_TRANSPORT_SERIAL;
		return 0;
	}
	r = vm_vsock_usable(dev ? dev : VM_VHOST_VSOCK_DEV, reason, sizeof(reason));
	if (r == 0) {
		*out = VM_TRANSPORT_VSOCK;
		return 0;
	}
	if (want == VM_TRANSPORT_VSOCK)
		return err_set(err, r, "vsock transport: %s", reason);
	*out = VM_TRANSPORT_SERIAL;
	snprintf(why, whylen, "%s: agent over virtio-serial", reason);
	return 0;
}

int vm_vhost_set_cid(int vhost_fd, uint64_t cid)
{
	return ioctl(vhost_fd, VHOST_VSOCK_SET_GUEST_CID, &cid) < 0 ? -errno : 0;
}

int vm_cid_pick(int vhost_fd, uint32_t start, vm_cid_set_fn set, uint32_t *cid, struct err *err)
{
	const uint32_t span = VM_CID_MAX - VM_CID_MIN + 1;
	uint32_t c = start >= VM_CID_MIN && start <= VM_CID_MAX ? start : VM_CID_MIN + start % span;

	for (unsigned i = 0; i < VM_CID_TRIES; i++) {
		int r = set(vhost_fd, c);

		if (r == 0) {
			*cid = c;
			return 0;
		}
		if (r != -EADDRINUSE)
			return err_setx(err, r, "setting guest CID %u", c);
		c = c == VM_CID_MAX ? VM_CID_MIN : c + 1;
	}
	return err_set(err, EADDRINUSE, "no free guest CID in %u tries from %u", VM_CID_TRIES,
		       start);
}

/* A random start spreads concurrent ucrt processes (and other VMMs that
 * count up from 3) over the range, so the first try nearly always wins. */
static uint32_t vm_cid_random(void)
{
	uint32_t v;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16);
}

int vm_vhost_open(const char *dev, uint32_t *cid, struct err *err)
{
	_cleanup_close_ int fd = open(dev, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return err_setx(err, errno, "opening %s (vsock transport)", dev);
	/* QEMU sets guest-cid= on this fd again, which the kernel accepts
	 * for the CID the fd already holds: the reservation carries over. */
	if (vm_cid_pick(fd, vm_cid_random(), vm_vhost_set_cid, cid, err) < 0)
		return err_wrap(err, "%s", dev);
	return TAKE_FD(fd);
}

int vm_vsock_listen(uint32_t *port, struct err *err)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = VMADDR_PORT_ANY,
	};
	socklen_t len = sizeof(sa);
	/* Blocking on purpose: io_uring parks an accept on a blocking socket
	 * in its poll machinery, but completes one on an O_NONBLOCK socket
	 * with -EAGAIN. */
	_cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return err_setx(err, errno, "AF_VSOCK socket");
	/* A port per VM, chosen by the kernel: nothing to coordinate between
	 * ucrt processes, and a port from a previous run is never reused
	 * while still bound. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_setx(err, errno, "binding an AF_VSOCK socket");
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return err_setx(err, errno, "getsockname of the AF_VSOCK listener");
	if (listen(fd, 8) < 0)
		return err_setx(err, errno, "listening on vsock port %u", sa.svm_port);
	*port = sa.svm_port;
	return TAKE_FD(fd);
}

bool vm_vsock_peer_ok(const struct sockaddr *sa, socklen_t len, uint32_t cid)
{
	struct sockaddr_vm v;

	if (!sa || len < (socklen_t)sizeof(v) || cid < VM_CID_MIN || cid == VMADDR_CID_ANY)
		return false;
	memcpy(&v, sa, sizeof(v));	/* sa may be any sockaddr buffer */
	return v.svm_family == AF_VSOCK && v.svm_cid == cid;
}

struct vm_acceptor {
	struct loop *loop;
	int fd;
	uint32_t cid, port;
	unsigned refused;
	uint64_t timeout_ns;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct loop_op op;
	struct loop_timer timer;
	vm_acceptor_cb cb;	/* NULL once reported or freed */
	void *data;
	bool freed;
};

unsigned vm_acceptor_refused(const struct vm_acceptor *a) { return a->refused; }

static void vm_acceptor_maybe_destroy(struct vm_acceptor *a)
{
	if (a->freed && !loop_op_active(&a->op)) {
		close(a->fd);
		free(a);
	}
}

/* The one callback; the last touch of a (the callee may free it). */
static void vm_acceptor_report(struct vm_acceptor *a, int fd, const struct err *e)
{
	vm_acceptor_cb cb = a->cb;

	a->cb = NULL;
	loop_timer_stop(a->loop, &a->timer);
	cb(a->data, fd, e);
}

static void vm_acceptor_done(struct loop_op *op, int res, uint32_t flags);

static int vm_acceptor_arm(struct vm_acceptor *a)
{
	a->peerlen = sizeof(a->peer);
	a->op.cb = vm_acceptor_done;
	return loop_accept(a->loop, &a->op, a->fd, (struct sockaddr *)&a->peer, &a->peerlen,
			   SOCK_CLOEXEC);
}

/* Another VM (or a host process) connected: close it, keep listening. */
static void vm_acceptor_refuse(struct vm_acceptor *a, int fd)
{
	struct sockaddr_vm v = { 0 };

	memcpy(&v, &a->peer, MIN(sizeof(v), (size_t)a->peerlen));
	a->refused++;
	if (v.svm_family == AF_VSOCK)
		log_debug("vsock port %u: refused a connection from CID %u (the guest is CID %u)",
			  a->port, v.svm_cid, a->cid);
	else
		log_debug("vsock port %u: refused a connection of address family %u", a->port,
			  v.svm_family);
	close(fd);
}

/* The peer went away between connect and accept, or a signal: the
 * listener itself is fine. */
static bool vm_accept_transient(int res)
{
	return res == -ECONNABORTED || res == -EINTR || res == -EAGAIN || res == -EPROTO;
}

static void vm_acceptor_done(struct loop_op *op, int res, uint32_t flags)
{
	struct vm_acceptor *a = container_of(op, struct vm_acceptor, op);
	struct err e = { 0 };
	int r;

	if (!a->cb) {		/* timed out or freed meanwhile */
		if (res >= 0)
			close(res);
		vm_acceptor_maybe_destroy(a);
		return;
	}
	if (res >= 0 && vm_vsock_peer_ok((struct sockaddr *)&a->peer, a->peerlen, a->cid)) {
		vm_acceptor_report(a, res, NULL);
		return;
	}
	if (res >= 0)
		vm_acceptor_refuse(a, res);
	else if (!vm_accept_transient(res)) {
		err_setx(&e, res, "accepting on vsock port %u", a->port);
		vm_acceptor_report(a, res, &e);
		return;
	}
	r = vm_acceptor_arm(a);
	if (r < 0) {
		err_setx(&e, r, "accepting on vsock port %u", a->port);
		vm_acceptor_report(a, r, &e);
	}
}

static void vm_acceptor_timeout(struct loop_timer *t)
{
	struct vm_acceptor *a = t->data;
	struct err e = { 0 };

	/* The cancelled accept completes later and finds cb cleared. */
	loop_cancel(a->loop, &a->op);
	err_set(&e, ETIMEDOUT, "guest CID %u did not connect to vsock port %u within %g s "
		"(%u connections from other CIDs refused)", a->cid, a->port,
		(double)a->timeout_ns / 1e9, a->refused);
	vm_acceptor_report(a, -ETIMEDOUT, &e);
}

int vm_acceptor_start(struct loop *l, int listen_fd, uint32_t cid, uint32_t port,
		      uint64_t timeout_ns, vm_acceptor_cb cb, void *data, struct vm_acceptor **out)
{
	struct vm_acceptor *a = xcalloc(1, sizeof(*a));
	int r;

	a->loop = l;
	a->fd = listen_fd;
	a->cid = cid;
	a->port = port;
	a->timeout_ns = timeout_ns;
	a->cb = cb;
	a->data = data;
	loop_timer_init(&a->timer, vm_acceptor_timeout, a);
	r = vm_acceptor_arm(a);
	if (r < 0) {
		close(listen_fd);
		free(a);
		return r;
	}
	loop_timer_start(l, &a->timer, timeout_ns);
	*out = a;
	return 0;
}

void vm_acceptor_free(struct vm_acceptor *a)
{
	if (!a || a->freed)
		return;
	a->freed = true;
	a->cb = NULL;
	loop_timer_stop(a->loop, &a->timer);
	/* The listening fd closes once the accept is back: io_uring may
	 * still be using it. */
	if (loop_op_active(&a->op))
		loop_cancel(a->loop, &a->op);
	vm_acceptor_maybe_destroy(a);
}
