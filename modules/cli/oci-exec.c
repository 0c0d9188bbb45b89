/* `ucrt-oci exec`: another process in a running container. The process
 * runs in the guest; on the host a small relay process (a child of exec,
 * its pid in --pid-file) carries its stdio over the per-container
 * process's ctl.sock (ctr_ctl_exec) and exits with its status, which is
 * what conmon and containerd's shim wait for. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "oci-cli.h"
#include "str.h"
#include "util.h"

struct oci_exec_opts {
	const char *process, *pid_file, *console_socket, *cwd, *user;
	bool detach, tty;
	char **env;
};

static const struct option oci_exec_longopts[] = {
	{ "process", required_argument, NULL, 'p' },
	{ "pid-file", required_argument, NULL, 'P' },
	{ "console-socket", required_argument, NULL, 'c' },
	{ "detach", no_argument, NULL, 'd' },
	{ "tty", no_argument, NULL, 't' },
	{ "cwd", required_argument, NULL, 'w' },
	{ "env", required_argument, NULL, 'e' },
	{ "user", required_argument, NULL, 'u' },
	{ "preserve-fds", required_argument, NULL, 'F' },
	{ "no-new-privs", no_argument, NULL, 'n' },
	{ "cap", required_argument, NULL, 'C' },
	{ "process-label", required_argument, NULL, 'L' },
	{ "apparmor", required_argument, NULL, 'A' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* --process F: a runtime-spec process object, read through the bundle
 * parser (it is the same object as config.json's "process"). */
static int oci_exec_process(const char *path, struct ctr_spec *out, bool *tty, struct err *err)
{
	_cleanup_free_ char *text = NULL;
	struct ctr_bundle b;
	size_t len;
	int r = read_file_at(AT_FDCWD, path, 1 << 22, &text, &len);

	if (r < 0)
		return err_setx(err, r, "--process %s", path);
	_cleanup_free_ char *doc = xasprintf("{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"/\"},"
					     "\"process\":%.*s}", (int)len, text);
	if ((r = ctr_bundle_parse(doc, strlen(doc), NULL, &b, err)) < 0)
		return err_wrap(err, "--process %s", path);
	*out = b.cfg.spec;
	memset(&b.cfg.spec, 0, sizeof(b.cfg.spec));
	*tty = b.terminal;
	ctr_bundle_free(&b);
	return 0;
}

static int oci_exec_spec(const struct oci_exec_opts *x, char **args, struct ctr_spec *s,
			 struct err *err)
{
	uint64_t v;

	memset(s, 0, sizeof(*s));
	if (x->process) {
		if (oci_exec_process(x->process, s, &s->tty, err) < 0)
			return -EINVAL;
	} else {
		if (!args || !args[0])
			return err_set(err, EINVAL, "no command: give CMD or --process");
		s->argv = strv_dup(args);
		s->cwd = xstrdup("/");
		s->user = xstrdup("");
		s->tty = x->tty;
		s->stdin_open = true;
		ctr_env_set(&s->env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	}
	for (char **e = x->env; e && *e; e++) {
		char *eq = strchr(*e, '=');
		if (!eq || eq == *e)
			return err_set(err, EINVAL, "-e %s: want KEY=VALUE", *e);
		_cleanup_free_ char *k = xstrndup(*e, (size_t)(eq - *e));
		ctr_env_set(&s->env, k, eq + 1);
	}
	if (x->cwd) {
		if (x->cwd[0] != '/')
			return err_set(err, EINVAL, "--cwd %s is not absolute", x->cwd);
		free(s->cwd);
		s->cwd = xstrdup(x->cwd);
	}
	if (x->user) {
		_cleanup_(strv_freep) char **ug = str_split(x->user, ':');
		if (!ug || !ug[0] || str_to_u64(ug[0], &v) < 0 || v >= UINT32_MAX)
			return err_set(err, EINVAL, "--user %s: want UID[:GID]", x->user);
		s->uid = (uint32_t)v;
		if (ug[1] && (str_to_u64(ug[1], &v) < 0 || v >= UINT32_MAX))
			return err_set(err, EINVAL, "--user %s: want UID[:GID]", x->user);
		if (ug[1])
			s->gid = (uint32_t)v;
	}
	s->stdin_open = true;
	return 0;
}

/* The relay: a child so its pid outlives `exec --detach`. */
static __attribute__((noreturn)) void oci_exec_child(const struct oci_ctx *o, const char *id,
						      const struct ctr_spec *s, int tty)
{
	struct err e = { 0 };
	int status;

	setsid();
	if (tty >= 0) {
		ioctl(tty, TIOCSCTTY, 0);
		for (int fd = 0; fd < 3; fd++)
			dup2(tty, fd);
		if (tty > 2)
			close(tty);
	}
	syscall(SYS_close_range, 3u, ~0u, 0);
	status = ctr_ctl_exec(o->root, id, s, &e);
	if (e.code)
		oci_error(o, "%s", err_msg(&e));
	_exit(status);
}

int oci_exec(struct oci_ctx *o, int argc, char **argv)
{
	struct oci_exec_opts x = { 0 };
	_cleanup_free_ char *target = NULL;
	struct ctr_spec s;
	struct err e = { 0 };
	int c, master = -1, slave = -1, r, wst;
	const char *id;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "+p:dtw:e:u:", oci_exec_longopts, NULL)) != -1) {
		switch (c) {
		case 'p': x.process = optarg; break;
		case 'P': x.pid_file = optarg; break;
		case 'c': x.console_socket = optarg; break;
		case 'd': x.detach = true; break;
		case 't': x.tty = true; break;
		case 'w': x.cwd = optarg; break;
		case 'e': strv_push(&x.env, optarg); break;
		case 'u': x.user = optarg; break;
		case 'F': case 'n': case 'C': case 'L': case 'A': break;
		case 'h':
			printf("Usage: " OCI_PROG " exec [--process F] [--pid-file F] [--detach] [--tty]\n"
			       "       [--console-socket SOCK] [--cwd DIR] [-e K=V] [--user UID[:GID]] ID [CMD ARG...]\n");
			strv_free(x.env);
			return 0;
		default:
			strv_free(x.env);
			return 1;
		}
	}
	if (optind >= argc) {
		oci_error(o, "usage: exec [OPTIONS] ID [CMD ARG...]");
		strv_free(x.env);
		return 1;
	}
	id = argv[optind];
	r = oci_exec_spec(&x, argv + optind + 1, &s, &e);
	strv_free(x.env);
	if (r < 0) {
		oci_error(o, "%s", err_msg(&e));
		ctr_spec_free(&s);
		return 1;
	}
	/* A pod's container runs in its sandbox's VM: exec goes there,
	 * into the container's root (pod.c). */
	if (oci_id_valid(id) && ctr_pod_exec_target(o->root, id, &target, &s.root) == 1)
		id = target;
	/* Fail here, not in the detached relay, when nothing runs. */
	if (!oci_id_valid(id) || (r = ctr_ctl_connect(o->root, id, &e)) < 0) {
		oci_error(o, "exec in %s: %s", id, e.code ? err_msg(&e) : "no such container");
		ctr_spec_free(&s);
		return 1;
	}
	close(r);
	if (s.tty && x.console_socket) {
		if (openpty(&master, &slave, NULL, NULL, NULL) < 0 ||
		    (r = oci_send_console(x.console_socket, master, "/dev/ptmx")) < 0) {
			oci_error(o, "console for exec in %s: %s", id, strerror(errno));
			ctr_spec_free(&s);
			return 1;
		}
		close(master);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		oci_error(o, "fork: %s", strerror(errno));
		ctr_spec_free(&s);
		return 1;
	}
	if (pid == 0)
		oci_exec_child(o, id, &s, slave);
	if (slave >= 0)
		close(slave);
	ctr_spec_free(&s);
	if (x.pid_file && (r = oci_write_pid_file(x.pid_file, pid)) < 0) {
		oci_error(o, "--pid-file %s: %s", x.pid_file, strerror(-r));
		kill(pid, SIGKILL);
		return 1;
	}
	if (x.detach)
		return 0;
	signal(SIGINT, SIG_IGN);
	if (waitpid(pid, &wst, 0) < 0)
		return 1;
	return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}
