/* Test helpers for modules/vm: a busybox root disk, a host probe in a
 * scratch directory, and a VM + agent session driven from a fiber so
 * tests read top to bottom ("start this, wait for that"). */
#ifndef UCRT_T_VM_H
#define UCRT_T_VM_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "buf.h"
#include "err.h"
#include "fiber.h"
#include "log.h"
#include "loop.h"
#include "util.h"
#include "vm/vm.h"

static char t_tmp[64];

static void t_tmp_cleanup(void)
{
	char cmd[128];

	if (t_tmp[0] && !getenv("T_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", t_tmp);
	}
}

static inline const char *t_tmpdir(void)
{
	if (!t_tmp[0]) {
		snprintf(t_tmp, sizeof(t_tmp), "/tmp/ucrt-vm-test.XXXXXX");
		if (!mkdtemp(t_tmp)) {
			perror("mkdtemp");
			exit(1);
		}
		/* QEMU runs as ucrt-qemu when the test is root: it may have
		 * to exec a fake QEMU here (files it gets as fds). */
		chmod(t_tmp, 0711);
		atexit(t_tmp_cleanup);
	}
	return t_tmp;
}

/* The kernel `make kernel` built, or NULL: $UCRT_KERNEL_CACHE, else
 * build/kernel in the source tree (also for SANITIZE=1 builds, whose
 * UCRT_BUILD is build/asan). */
static inline const char *t_built_kernel(void)
{
	static char path[4096];
	const char *cache = getenv("UCRT_KERNEL_CACHE"), *src = getenv("UCRT_SRC");

	if (cache)
		snprintf(path, sizeof(path), "%s/vmlinux", cache);
	else
		snprintf(path, sizeof(path), "%s/build/kernel/vmlinux", src ? src : ".");
	return access(path, R_OK) == 0 ? path : NULL;
}

static inline int t_run(const char *cmd)
{
	int r = system(cmd);
	return r == -1 ? -1 : WIFEXITED(r) ? WEXITSTATUS(r) : 128 + WTERMSIG(r);
}

static inline void t_write(const char *path, const char *text, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write_all(fd, text, strlen(text)) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* A 64 MiB ext4 holding busybox-static and the files the tests use.
 * Returns the image path (in the scratch dir) or NULL when the tools are
 * missing. */
static inline const char *t_vm_rootfs(void)
{
	static const char *const applets[] = {
		"sh", "echo", "cat", "sleep", "id", "pwd", "stty", "head", "dd", "tr", "true",
		"false", "env", "ls", "wc", "yes", "tty", "printf", "test", NULL,
	};
	static char img[128];
	char root[128], path[512], cmd[2048];

	if (img[0])
		return img;
	if (access("/bin/busybox", X_OK) < 0)
		return NULL;
	snprintf(root, sizeof(root), "%s/rootfs", t_tmpdir());
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/bin %s/etc %s/tmp %s/home/user %s/dev %s/proc %s/sys "
		 "&& cp /bin/busybox %s/bin/ && chmod 1777 %s/tmp", root, root, root, root, root, root,
		 root, root, root);
	if (t_run(cmd) != 0)
		return NULL;
	for (const char *const *a = applets; *a; a++) {
		snprintf(path, sizeof(path), "%s/bin/%s", root, *a);
		if (symlink("busybox", path) < 0)
			return NULL;
	}
	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	t_write(path, "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", 0644);
	snprintf(path, sizeof(path), "%s/etc/group", root);
	t_write(path, "root:x:0:\nuser:x:1000:\n", 0644);
	/* Exists but cannot be executed: exit status 126. */
	snprintf(path, sizeof(path), "%s/bin/not-executable", root);
	t_write(path, "#!/bin/sh\necho never\n", 0644);
	snprintf(img, sizeof(img), "%s/root.ext4", t_tmpdir());
	snprintf(cmd, sizeof(cmd), "mke2fs -q -F -t ext4 -d %s %s 64M >/dev/null 2>&1", root, img);
	if (t_run(cmd) != 0) {
		img[0] = 0;
		return NULL;
	}
	return img;
}

/* A VM with an agent session; every callback just records. */
struct t_proc {
	uint32_t stream;
	struct buf out, err;
	bool out_eof, err_eof;
	bool have_result, have_exit;
	struct agent_result res;
	struct agent_exit ex;
};

#define T_MAX_PROCS 32

struct t_vm {
	struct loop *l;
	struct vm_host host;
	struct vm *vm;
	struct agent *ag;
	bool ready, closed, exited;
	int wstatus;
	struct agent_hello hello;
	struct t_proc procs[T_MAX_PROCS];
	size_t nprocs;
	uint64_t max_unacked;	/* manual credit mode: output bytes not yet granted back */
	uint64_t unacked;
};

static inline struct t_proc *t_proc_of(struct t_vm *t, uint32_t stream)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		if (t->procs[i].stream == stream)
			return &t->procs[i];
	}
	return NULL;
}

static void t_on_ready(struct agent *a, const struct agent_hello *h, void *ud)
{
	struct t_vm *t = ud;

	t->hello = *h;
	t->ready = true;
	vm_stamp(t->vm, VM_T_AGENT);
}

static void t_on_result(struct agent *a, uint32_t stream, const struct agent_result *r, void *ud)
{
	struct t_proc *p = t_proc_of(ud, stream);

	if (p) {
		p->res = *r;
		p->have_result = true;
	}
}

static void t_on_output(struct agent *a, uint32_t stream, int chan, const uint8_t *data, size_t len,
			bool eof, void *ud)
{
	struct t_vm *t = ud;
	struct t_proc *p = t_proc_of(t, stream);

	if (!p)
		return;
	buf_append(chan == PROTO_CHAN_STDERR ? &p->err : &p->out, data, len);
	if (eof)
		*(chan == PROTO_CHAN_STDERR ? &p->err_eof : &p->out_eof) = true;
	if (chan == PROTO_CHAN_STDOUT) {
		t->unacked += len;
		if (t->unacked > t->max_unacked)
			t->max_unacked = t->unacked;
	}
}

static void t_on_exit(struct agent *a, uint32_t stream, const struct agent_exit *e, void *ud)
{
	struct t_proc *p = t_proc_of(ud, stream);

	if (p) {
		p->ex = *e;
		p->have_exit = true;
	}
}

static void t_on_log(struct agent *a, const char *line, void *ud)
{
	printf("# guest: %s\n", line);
}

static void t_on_closed(struct agent *a, int err, const char *msg, void *ud)
{
	struct t_vm *t = ud;

	t->closed = true;
	if (err)
		printf("# agent closed: %s (%s)\n", strerror(-err), msg ? msg : "");
}

static const struct agent_ops t_agent_ops = {
	.ready = t_on_ready,
	.result = t_on_result,
	.output = t_on_output,
	.exit = t_on_exit,
	.log = t_on_log,
	.closed = t_on_closed,
};

static void t_vm_exited(struct vm *vm, int wstatus, void *data)
{
	struct t_vm *t = data;

	t->exited = true;
	t->wstatus = wstatus;
}

/* The channel arrives from the reactor (both transports). */
static void t_vm_agent(struct vm *vm, int fd, const struct err *e, void *data)
{
	struct t_vm *t = data;

	if (fd < 0) {
		printf("# agent channel: %s\n", e ? e->msg : strerror(-fd));
		return;
	}
	agent_new(&t->ag, t->l, fd, &t_agent_ops, t);
}

/* From a fiber: wait until *flag or timeout. */
static inline bool t_wait(struct t_vm *t, const bool *flag, unsigned ms)
{
	uint64_t end = loop_now_ns() + (uint64_t)ms * 1000000u;

	while (!*flag && loop_now_ns() < end)
		fiber_sleep(t->l, 5 * 1000000u);
	return *flag;
}

static inline int t_vm_boot(struct t_vm *t, const char *disk, bool snapshot, const char *console)
{
	struct vm_config c = {
		.name = "test",
		.ndisks = 1,
		.disks = { { .path = disk, .snapshot = snapshot } },
		.console_log = console,
		.agent = true,
	};
	struct vm_events ev = { .exited = t_vm_exited, .agent = t_vm_agent };
	struct err e = { 0 };
	int r;

	r = vm_start(t->l, &t->host, &c, &ev, t, &t->vm, &e);
	if (r < 0)
		printf("# vm_start: %s\n", err_msg(&e));
	return r;
}

/* Start (main) or exec a process; returns its record. */
static inline struct t_proc *t_spawn(struct t_vm *t, bool main, const struct agent_proc_spec *s)
{
	struct t_proc *p;
	uint32_t stream;
	int r;

	if (t->nprocs == T_MAX_PROCS)
		return NULL;
	r = main ? agent_start(t->ag, s, &stream) : agent_exec(t->ag, s, &stream);
	if (r < 0) {
		printf("# %s: %s\n", main ? "agent_start" : "agent_exec", strerror(-r));
		return NULL;
	}
	p = &t->procs[t->nprocs++];
	memset(p, 0, sizeof(*p));
	p->stream = stream;
	return p;
}

#endif
