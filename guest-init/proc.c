/* Processes of the container: parse a START/EXEC spec, fork and exec it
 * with pipes or a pty. Exec failures become exit status 127 (not found) or
 * 126 (cannot run) with the reason on the process's own stderr, the way
 * docker reports them. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "proc.h"

void gi_spec_free(struct gi_spec *s)
{
	free(s->arena);
	memset(s, 0, sizeof(*s));
}

/* Bytes the spec's strings and vectors need, with counts checked. */
static int gi_spec_size(const uint8_t *p, size_t len, size_t *nargs, size_t *nenv, size_t *bytes)
{
	struct proto_tlv_iter it;
	const uint8_t *v;
	uint16_t tag, l;
	int k;

	*nargs = *nenv = *bytes = 0;
	proto_tlv_init(&it, p, len);
	while ((k = proto_tlv_next(&it, &tag, &v, &l)) > 0) {
		if (tag == PROTO_A_ARG || tag == PROTO_A_ENV || tag == PROTO_A_CWD || tag == PROTO_A_ROOT) {
			if (!proto_str_ok(v, l))
				return -EINVAL;
			*bytes += (size_t)l + 1;
		}
		if (tag == PROTO_A_ARG)
			(*nargs)++;
		else if (tag == PROTO_A_ENV)
			(*nenv)++;
	}
	if (k < 0)
		return -EBADMSG;
	if (*nargs == 0 || *nargs > PROTO_MAX_ARGS || *nenv > PROTO_MAX_ARGS)
		return -EINVAL;
	return 0;
}

static int gi_spec_u32(const uint8_t *v, uint16_t l, uint32_t *out)
{
	if (l != 4)
		return -EINVAL;
	*out = proto_get32(v);
	return 0;
}

static bool str_ends_dotdot(const char *p)
{
	size_t n = strlen(p);

	return n >= 3 && strcmp(p + n - 3, "/..") == 0;
}

int gi_spec_parse(struct gi_spec *s, const uint8_t *p, size_t len, char *msg, size_t msglen)
{
	struct proto_tlv_iter it;
	const uint8_t *v;
	uint16_t tag, l;
	size_t nargs, nenv, bytes, ai = 0, ei = 0;
	char *str;
	uint32_t u;
	int r;

	memset(s, 0, sizeof(*s));
	r = gi_spec_size(p, len, &nargs, &nenv, &bytes);
	if (r < 0) {
		snprintf(msg, msglen, "process spec: %s", r == -EINVAL ? "bad argv/env" : "truncated");
		return r;
	}
	s->arena = calloc(1, (nargs + nenv + 2) * sizeof(char *) + bytes);
	if (!s->arena)
		return -ENOMEM;
	s->argv = (char **)s->arena;
	s->envp = s->argv + nargs + 1;
	str = (char *)(s->envp + nenv + 1);
	proto_tlv_init(&it, p, len);
	while (proto_tlv_next(&it, &tag, &v, &l) > 0) {
		r = 0;
		switch (tag) {
		case PROTO_A_ARG:
		case PROTO_A_ENV:
		case PROTO_A_CWD:
		case PROTO_A_ROOT:
			memcpy(str, v, l);
			str[l] = 0;
			if (tag == PROTO_A_ARG)
				s->argv[ai++] = str;
			else if (tag == PROTO_A_ENV)
				s->envp[ei++] = str;
			else if (tag == PROTO_A_ROOT)
				s->root = str;
			else
				s->cwd = str;
			str += l + 1;
			break;
		case PROTO_A_UID:
			r = gi_spec_u32(v, l, &s->uid);
			break;
		case PROTO_A_GID:
			r = gi_spec_u32(v, l, &s->gid);
			break;
		case PROTO_A_GROUP:
			r = s->ngroups < PROTO_MAX_GROUPS ? gi_spec_u32(v, l, &u) : -E2BIG;
			if (!r)
				s->groups[s->ngroups++] = u;
			break;
		case PROTO_A_TTY:
			r = gi_spec_u32(v, l, &u);
			s->tty = u != 0;
			break;
		case PROTO_A_STDIN:
			r = gi_spec_u32(v, l, &u);
			s->stdin_open = u != 0;
			break;
		case PROTO_A_WINSIZE:
			r = l == PROTO_RESIZE_SIZE ? 0 : -EINVAL;
			for (int i = 0; !r && i < 4; i++)
				s->ws[i] = proto_get16(v + 2 * i);
			s->have_ws = !r;
			break;
		default:
			break;
		}
		if (r < 0) {
			snprintf(msg, msglen, "process spec attribute %u: %s", tag, strerror(-r));
			gi_spec_free(s);
			return r;
		}
	}
	if (s->cwd && s->cwd[0] != '/') {
		snprintf(msg, msglen, "working directory %s is not absolute", s->cwd);
		gi_spec_free(s);
		return -EINVAL;
	}
	if (s->root && (s->root[0] != '/' || strstr(s->root, "/../") || str_ends_dotdot(s->root))) {
		snprintf(msg, msglen, "container root %s is not an absolute path", s->root);
		gi_spec_free(s);
		return -EINVAL;
	}
	return 0;
}

/* docker creates a missing working directory (owned by root). */
static void gi_mkdir_p(const char *path)
{
	char buf[PROTO_MAX_PATH];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, 0755);
}

static __attribute__((noreturn)) void gi_child_fail(int code, const char *what, const char *arg, int err)
{
	dprintf(STDERR_FILENO, "ucrt: %s %s: %s\n", what, arg, strerror(err));
	_exit(code);
}

/* In the child: fds 0-2 are in place; drop to the user and exec. */
static __attribute__((noreturn)) void gi_child_exec(const struct gi_spec *s)
{
	extern char **environ;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);	/* exec keeps SIG_IGN otherwise */
	if (s->root)
		gi_pod_enter(s->root);
	if (s->cwd)
		gi_mkdir_p(s->cwd);
	if (setgroups(s->ngroups, s->groups) < 0)
		gi_child_fail(126, "setgroups", "", errno);
	if (setgid(s->gid) < 0)
		gi_child_fail(126, "setgid", "", errno);
	if (setuid(s->uid) < 0)
		gi_child_fail(126, "setuid", "", errno);
	if (chdir(s->cwd ? s->cwd : "/") < 0)
		gi_child_fail(126, "chdir to", s->cwd ? s->cwd : "/", errno);
	/* execvp searches the PATH of environ: make it the container's. */
	environ = s->envp;
	execvp(s->argv[0], s->argv);
	gi_child_fail(errno == ENOENT || errno == ENOTDIR ? 127 : 126, "exec", s->argv[0], errno);
}

static int gi_open_pty(int *master, char *slave, size_t cap)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, slave, cap) != 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*master = fd;
	return 0;
}

static void gi_close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void gi_child_stdio(const struct gi_spec *s, int pip[3][2], const char *slave)
{
	int fd;

	setsid();
	if (s->tty) {
		fd = open(slave, O_RDWR);
		if (fd < 0)
			_exit(126);
		ioctl(fd, TIOCSCTTY, 0);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
		return;
	}
	fd = s->stdin_open ? pip[0][0] : open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(pip[1][1], 1) < 0 || dup2(pip[2][1], 2) < 0)
		_exit(126);
}

int gi_spawn(const struct gi_spec *s, struct gi_child *c, char *msg, size_t msglen)
{
	int pip[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int master = -1, r;
	char slave[64] = "";
	pid_t pid;

	c->pid = -1;
	c->in_fd = c->out_fd[1] = c->out_fd[2] = -1;
	if (s->tty) {
		r = gi_open_pty(&master, slave, sizeof(slave));
		if (r < 0) {
			snprintf(msg, msglen, "opening a pty: %s", strerror(-r));
			return r;
		}
		if (s->have_ws) {
			struct winsize ws = { s->ws[0], s->ws[1], s->ws[2], s->ws[3] };
			ioctl(master, TIOCSWINSZ, &ws);
		}
	} else {
		for (int i = 0; i < 3; i++) {
			if ((i > 0 || s->stdin_open) && pipe2(pip[i], O_CLOEXEC) < 0) {
				r = -errno;
				snprintf(msg, msglen, "pipe: %s", strerror(errno));
				gi_close_all(&pip[0][0], 6);
				return r;
			}
		}
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		gi_close_all(&pip[0][0], 6);
		if (master >= 0)
			close(master);
		return r;
	}
	if (pid == 0) {
		gi_child_stdio(s, pip, slave);
		gi_child_exec(s);
	}
	c->pid = pid;
	if (s->tty) {
		c->out_fd[1] = master;
		c->in_fd = s->stdin_open ? fcntl(master, F_DUPFD_CLOEXEC, 3) : -1;
	} else {
		c->in_fd = pip[0][1];
		c->out_fd[1] = pip[1][0];
		c->out_fd[2] = pip[2][0];
		int ours[3] = { pip[0][0], pip[1][1], pip[2][1] };
		gi_close_all(ours, 3);
	}
	int all[3] = { c->in_fd, c->out_fd[1], c->out_fd[2] };
	for (int i = 0; i < 3; i++)
		if (all[i] >= 0)
			fcntl(all[i], F_SETFL, fcntl(all[i], F_GETFL) | O_NONBLOCK);
	return 0;
}
