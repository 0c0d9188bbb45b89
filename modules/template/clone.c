/* Using templates: attach a VM configuration to its template, wake the
 * restored guest with RESUME, and start a background build when the
 * template is not there yet (the run that asks boots cold meanwhile). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "template-internal.h"
#include "util.h"

#define TMPL_SEED_BYTES 64u

int tmpl_attach(const char *root, const struct vm_host *h, struct vm_config *c, struct tmpl_files *f,
		int *fd_out, const char **why, char key[TMPL_KEY_LEN + 1])
{
	struct tmpl_shape s;
	struct err e = { 0 };
	int fd;

	*f = (struct tmpl_files){ 0 };
	*fd_out = -1;
	if (!tmpl_shape_of(h, c, &s, why))
		return 0;
	if (tmpl_key(h, &s, key, &e) < 0) {
		*why = "no key";
		log_debug("template: %s", err_msg(&e));
		return 0;
	}
	if (tmpl_find(root, key, f) < 0) {
		*why = "none built yet";
		return 0;
	}
	fd = open(f->state, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = "its state is unreadable";
		tmpl_files_release(f);
		return 0;
	}
	c->mem_path = f->ram;
	c->mem_shared = false;
	c->incoming = true;
	c->migrate_fd = fd;
	*fd_out = fd;
	return 1;
}

int tmpl_resume_encode(const char *cmdline, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t seed[TMPL_SEED_BYTES], t[8];
	struct proto_hdr h = { .type = PROTO_T_TEMPLATE_RESUME };
	struct timespec ts;
	size_t off = PROTO_HDR_SIZE;
	int r = 0;

	if (cap < PROTO_HDR_SIZE)
		return -ENOBUFS;
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return -errno ? -errno : -EIO;
	clock_gettime(CLOCK_REALTIME, &ts);
	proto_put64(t, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	if (proto_tlv_put(buf, cap, &off, PROTO_A_SEED, seed, sizeof(seed)) < 0 ||
	    proto_tlv_put(buf, cap, &off, PROTO_A_TIME, t, sizeof(t)) < 0 ||
	    (cmdline && *cmdline && proto_tlv_putstr(buf, cap, &off, PROTO_A_CMDLINE, cmdline) < 0))
		r = -ENOBUFS;
	explicit_bzero(seed, sizeof(seed));
	if (r < 0)
		return r;
	h.len = (uint32_t)(off - PROTO_HDR_SIZE);
	proto_hdr_put(buf, &h);
	*len = off;
	return 0;
}

int tmpl_resume_send(int fd, const char *cmdline)
{
	uint8_t buf[PROTO_HDR_SIZE + 1200];
	size_t len;
	int r;

	if (cmdline && strlen(cmdline) > 1000)
		return -E2BIG;
	r = tmpl_resume_encode(cmdline, buf, sizeof(buf), &len);
	if (r == 0)
		r = write_all(fd, buf, len);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

/* Keys this process started a build for: one background builder each. */
static char tmpl_bg_started[8][TMPL_KEY_LEN + 1];

void tmpl_build_background(const char *exe, const char *root, const struct vm_host *h,
			   const struct tmpl_shape *s)
{
	char key[TMPL_KEY_LEN + 1], cpus[16], mem[16], shares[16];
	_cleanup_free_ char *lockname = NULL;
	_cleanup_strv_ char **argv = NULL;
	struct err e = { 0 };
	int tfd, lk;
	unsigned i;
	pid_t pid;

	if (tmpl_key(h, s, key, &e) < 0)
		return;
	for (i = 0; i < ARRAY_SIZE(tmpl_bg_started) && tmpl_bg_started[i][0]; i++) {
		if (strcmp(tmpl_bg_started[i], key) == 0)
			return;
	}
	if (i == ARRAY_SIZE(tmpl_bg_started))
		return;
	memcpy(tmpl_bg_started[i], key, sizeof(key));
	/* Someone is building it: nothing to start. */
	tfd = tmpl_dir_open(root, true);
	if (tfd < 0)
		return;
	lockname = xasprintf("%s.lock", key);
	lk = openat(tfd, lockname, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	close(tfd);
	if (lk < 0)
		return;
	if (flock(lk, LOCK_EX | LOCK_NB) < 0) {
		close(lk);
		return;
	}
	close(lk);
	snprintf(cpus, sizeof(cpus), "%u", s->cpus ? s->cpus : 1);
	snprintf(mem, sizeof(mem), "%u", s->mem_mib ? s->mem_mib : 256);
	snprintf(shares, sizeof(shares), "%u", s->nshares);
	strv_push(&argv, "ucrt");
	strv_push(&argv, "--root");
	strv_push(&argv, root);
	strv_push(&argv, "template");
	strv_push(&argv, "create");
	strv_push(&argv, "--background");
	strv_push(&argv, "--cpus");
	strv_push(&argv, cpus);
	strv_push(&argv, "--memory");
	strv_push(&argv, mem);
	strv_push(&argv, "--shares");
	strv_push(&argv, shares);
	if (s->net)
		strv_push(&argv, "--net");
	strv_push(&argv, "--accel");
	strv_push(&argv, vm_accel_name(h->accel));
	strv_push(&argv, "--kernel");
	strv_push(&argv, h->kernel.path);
	strv_push(&argv, "--qemu");
	strv_push(&argv, h->qemu);
	strv_push(&argv, "--init");
	strv_push(&argv, h->init);
	/* Double fork: the builder is nobody's child to wait for, outlives
	 * this run, and a terminal's signals do not reach it. */
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		int nul;
		sigset_t none;

		if (setsid() < 0 || fork() != 0)
			_exit(0);
		/* Behind the run that asked for it: the run's own cold boot
		 * gets the CPU first (QEMU inherits the nice value). */
		if (setpriority(PRIO_PROCESS, 0, 19) < 0) {
			/* still build, at normal priority */
		}
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		/* No lock or socket of this run goes with it. */
		syscall(SYS_close_range, 3, ~0u, 0);
		execv(exe, argv);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	log_debug("template %.12s: building in the background", key);
}
