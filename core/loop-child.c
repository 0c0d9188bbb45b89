/* Child exit through pidfds: pidfd_open, a one-shot POLLIN poll on the
 * reactor, then waitid(P_PIDFD, WNOHANG) to reap. No SIGCHLD handler and no
 * blocking wait anywhere. */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop-internal.h"
#include "util.h"

#ifndef P_PIDFD
#define P_PIDFD 3	/* Linux 5.4; older glibc headers lack it */
#endif

static int loop_pidfd_open(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

static uint64_t child_ud(struct loop_child_req *req)
{
	return (uint64_t)(uintptr_t)req | LOOP_TAG_CHILD;
}

static void child_req_unlink(struct loop *l, struct loop_child_req *req)
{
	if (req->prev)
		req->prev->next = req->next;
	else
		l->child_reqs = req->next;
	if (req->next)
		req->next->prev = req->prev;
}

int loop_child_watch(struct loop *l, struct loop_child *c, pid_t pid, loop_child_cb cb, void *data)
{
	struct io_uring_sqe *sqe;
	struct loop_child_req *req;
	int fd;

	fd = loop_pidfd_open(pid);
	if (fd < 0)
		return fd;
	sqe = loop_get_sqe(l);
	if (!sqe) {
		close(fd);
		return -EAGAIN;
	}
	req = xcalloc(1, sizeof(*req));
	req->child = c;
	req->next = l->child_reqs;
	if (req->next)
		req->next->prev = req;
	l->child_reqs = req;

	c->cb = cb;
	c->data = data;
	c->pid = pid;
	c->pidfd = fd;
	c->req = req;
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, child_ud(req));
	l->nchildren++;
	return 0;
}

void loop_child_unwatch(struct loop *l, struct loop_child *c)
{
	struct loop_child_req *req = c->req;
	struct io_uring_sqe *sqe;

	if (!req)
		return;
	/* The request stays allocated until its CQE (-ECANCELED) comes back;
	 * only the link to c is cut, so c can go away now. */
	req->child = NULL;
	c->req = NULL;
	l->nchildren--;
	sqe = loop_get_sqe(l);
	if (sqe) {
		io_uring_prep_cancel64(sqe, child_ud(req), 0);
		io_uring_sqe_set_data64(sqe, LOOP_TAG_IGNORE);
	}
	/* The in-flight poll holds its own reference to the file. */
	close(c->pidfd);
	c->pidfd = -1;
}

/* Reap through the pidfd and encode the status as waitpid does. */
static int child_reap(int pidfd)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;	/* POLLIN promised an exit; should not happen */
	switch (si.si_code) {
	case CLD_EXITED:
		return (si.si_status & 0xff) << 8;
	case CLD_KILLED:
		return si.si_status & 0x7f;
	case CLD_DUMPED:
		return (si.si_status & 0x7f) | 0x80;
	default:
		return -EIO;
	}
}

unsigned loop_child_cqe(struct loop *l, uint64_t ud, int res)
{
	struct loop_child_req *req = (struct loop_child_req *)(uintptr_t)(ud & ~LOOP_TAG_MASK);
	struct loop_child *c = req->child;
	int status;

	child_req_unlink(l, req);
	free(req);
	if (!c)
		return 0;	/* unwatched while the poll was in flight */
	c->req = NULL;
	l->nchildren--;
	status = res < 0 ? res : child_reap(c->pidfd);
	close(c->pidfd);
	c->pidfd = -1;
	c->cb(c, status);	/* may free c */
	return 1;
}

void loop_child_free_all(struct loop *l)
{
	while (l->child_reqs) {
		struct loop_child_req *req = l->child_reqs;
		if (req->child) {
			close(req->child->pidfd);
			req->child->pidfd = -1;
			req->child->req = NULL;
		}
		child_req_unlink(l, req);
		free(req);
	}
	l->nchildren = 0;
}
