/* Client side of a supervisor's ctl.sock (`ucrt stop/kill/exec`).
 *
 * This runs in a short-lived CLI process that only relays bytes between
 * its terminal and one socket, so it is a plain blocking poll() loop: no
 * reactor needed, nothing else to serve. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "container-internal.h"
#include "err.h"
#include "json.h"
#include "util.h"

int ctr_ctl_connect(const char *root, const char *id, struct err *err)
{
	_cleanup_free_ char *dir = ctr_path(root, id, NULL);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (dfd < 0)
		return err_setx(err, errno, "container %.12s", id);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_setx(err, errno, "socket");
	ctr_sock_addr(dfd, "ctl.sock", &sa, &len);
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return err_set(err, ESRCH, "container %.12s is not running", id);
		return err_setx(err, e, "connecting to the supervisor of %.12s", id);
	}
	return fd;
}

int ctr_ctl_exchange(int fd, const char *line, size_t len, char *reply, size_t cap)
{
	size_t n = 0;
	int r = write_all(fd, line, len);

	if (r < 0)
		return r;
	while (n < cap - 1) {
		ssize_t k = read(fd, reply + n, cap - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	reply[n] = 0;
	return (int)n;
}

int ctr_ctl_simple(const char *root, const char *id, const char *cmd, struct err *err)
{
	_cleanup_close_ int fd = ctr_ctl_connect(root, id, err);
	char reply[512];
	int n;

	if (fd < 0)
		return fd;
	_cleanup_free_ char *line = xasprintf("%s\n", cmd);
	if ((n = ctr_ctl_exchange(fd, line, strlen(line), reply, sizeof(reply))) < 0)
		return err_setx(err, n, "talking to the supervisor of %.12s", id);
	if (strncmp(reply, "ok", 2) == 0)
		return 0;
	if (n == 0)
		return err_set(err, ESRCH, "container %.12s stopped", id);
	reply[strcspn(reply, "\n")] = 0;
	return err_set(err, EIO, "supervisor: %s", reply);
}

static int ctl_frame(int fd, uint8_t type, const void *data, size_t len)
{
	uint8_t h[5] = { type, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	if (write_all(fd, h, sizeof(h)) < 0 || (len && write_all(fd, data, len) < 0))
		return -errno;
	return 0;
}

static char *ctl_spec_json(const struct ctr_spec *s, uint16_t rows, uint16_t cols)
{
	struct buf b = BUF_INIT;
	struct json_writer w;

	jw_init(&w, &b, false);
	jw_obj_begin(&w);
	jw_key(&w, "args");
	jw_arr_begin(&w);
	for (char **a = s->argv; *a; a++)
		jw_str(&w, *a);
	jw_arr_end(&w);
	jw_key(&w, "env");
	jw_arr_begin(&w);
	for (char **a = s->env; a && *a; a++)
		jw_str(&w, *a);
	jw_arr_end(&w);
	jw_key(&w, "cwd");
	jw_str(&w, s->cwd ? s->cwd : "/");
	if (s->root) {
		jw_key(&w, "root");
		jw_str(&w, s->root);
	}
	jw_key(&w, "uid");
	jw_uint(&w, s->uid);
	jw_key(&w, "gid");
	jw_uint(&w, s->gid);
	jw_key(&w, "tty");
	jw_bool(&w, s->tty);
	jw_key(&w, "stdin");
	jw_bool(&w, s->stdin_open);
	jw_key(&w, "rows");
	jw_uint(&w, rows);
	jw_key(&w, "cols");
	jw_uint(&w, cols);
	jw_obj_end(&w);
	return buf_steal(&b);
}

struct ctl_exec {
	int fd, sfd;
	bool stdin_open;
	uint8_t rbuf[CTR_CTL_MAX_FRAME + 16];
	size_t rlen;
	int status;
	char fail[512];
	bool ended;
	uint64_t alive_by;		/* ms (CLOCK_MONOTONIC): a signal awaits CTR_CTL_ALIVE; 0 none */
	int last_signal;
};

static uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Frames from the supervisor; 1 when the last one came. */
static int ctl_frames(struct ctl_exec *x)
{
	size_t off = 0;

	while (x->rlen - off >= 5) {
		uint8_t *h = x->rbuf + off;
		uint32_t len = h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
		if (len > CTR_CTL_MAX_FRAME)
			return -EBADMSG;
		if (x->rlen - off < 5 + (size_t)len)
			break;
		uint8_t *p = h + 5;
		if (h[0] == CTR_CTL_STDOUT || h[0] == CTR_CTL_STDERR) {
			write_all(h[0] == CTR_CTL_STDOUT ? STDOUT_FILENO : STDERR_FILENO, p, len);
		} else if (h[0] == CTR_CTL_EXIT && len == 4) {
			int32_t st;
			memcpy(&st, p, 4);
			x->status = st;
			x->ended = true;
		} else if (h[0] == CTR_CTL_ALIVE) {
			x->alive_by = 0;
		} else if (h[0] == CTR_CTL_FAIL) {
			snprintf(x->fail, sizeof(x->fail), "%.*s", (int)MIN(len, 500u), (char *)p);
			x->ended = true;
		} else {
			return -EBADMSG;
		}
		off += 5 + len;
	}
	memmove(x->rbuf, x->rbuf + off, x->rlen - off);
	x->rlen -= off;
	return x->ended;
}

static void ctl_winsize(uint16_t *rows, uint16_t *cols)
{
	struct winsize ws = { 0 };

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static void ctl_on_signal(struct ctl_exec *x)
{
	struct signalfd_siginfo si;

	if (read(x->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH) {
		uint16_t rc[2] = { 0, 0 };
		ctl_winsize(&rc[0], &rc[1]);
		uint8_t p[4] = { (uint8_t)rc[0], (uint8_t)(rc[0] >> 8), (uint8_t)rc[1], (uint8_t)(rc[1] >> 8) };
		ctl_frame(x->fd, CTR_CTL_RESIZE, p, 4);
	} else {
		uint32_t s = si.ssi_signo;
		ctl_frame(x->fd, CTR_CTL_SIGNAL, &s, 4);
		/* The user wants this to end: a guest (or supervisor) that
		 * cannot show it still lives must not keep us waiting. */
		if (!x->alive_by)
			x->alive_by = ctl_now_ms() + CTR_CTL_ALIVE_MS;
		x->last_signal = (int)s;
	}
}

static int ctl_loop(struct ctl_exec *x)
{
	char in[CTR_CTL_MAX_FRAME];

	while (!x->ended) {
		struct pollfd p[3] = {
			{ .fd = x->fd, .events = POLLIN },
			{ .fd = x->sfd, .events = POLLIN },
			{ .fd = x->stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		int tmo = -1;
		if (x->alive_by) {
			uint64_t now = ctl_now_ms();
			if (now >= x->alive_by)
				return -ETIMEDOUT;
			tmo = (int)(x->alive_by - now);
		}
		if (poll(p, 3, tmo) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			ctl_on_signal(x);
		if (p[2].revents) {
			ssize_t n = read(STDIN_FILENO, in, sizeof(in));
			if (n > 0) {
				ctl_frame(x->fd, CTR_CTL_STDIN, in, (size_t)n);
			} else {
				ctl_frame(x->fd, CTR_CTL_STDIN_EOF, NULL, 0);
				x->stdin_open = false;
			}
		}
		if (p[0].revents) {
			ssize_t n = read(x->fd, x->rbuf + x->rlen, sizeof(x->rbuf) - x->rlen);
			if (n <= 0)
				return -ECONNRESET;
			x->rlen += (size_t)n;
			if (ctl_frames(x) < 0)
				return -EBADMSG;
		}
	}
	return 0;
}

/* The server's side of ctl_spec_json. The client is a local process of
 * the same user (the socket is 0700 below the root), but the text is
 * still checked like any other input: values out of range are ignored. */
int ctr_ctl_parse_exec(const char *json, size_t len, struct ctr_spec *sp, uint16_t *rows, uint16_t *cols)
{
	struct json_doc d;
	int64_t v;
	bool b;

	memset(sp, 0, sizeof(*sp));
	if (json_parse(&d, json, len, 1 << 14) < 0)
		return -EINVAL;
	if (json_strv(&d, json_get(&d, 0, "args"), &sp->argv) < 0 || !sp->argv || !sp->argv[0] ||
	    json_strv(&d, json_get(&d, 0, "env"), &sp->env) < 0) {
		json_free(&d);
		ctr_spec_free(sp);
		return -EINVAL;
	}
	sp->cwd = json_str(&d, json_get(&d, 0, "cwd"));
	sp->root = json_str(&d, json_get(&d, 0, "root"));
	if (sp->root && (sp->root[0] != '/' || strstr(sp->root, ".."))) {
		json_free(&d);
		ctr_spec_free(sp);
		return -EINVAL;
	}
	if (json_int(&d, json_get(&d, 0, "uid"), &v) == 0 && v >= 0 && v < UINT32_MAX)
		sp->uid = (uint32_t)v;
	if (json_int(&d, json_get(&d, 0, "gid"), &v) == 0 && v >= 0 && v < UINT32_MAX)
		sp->gid = (uint32_t)v;
	if (json_bool(&d, json_get(&d, 0, "tty"), &b) == 0)
		sp->tty = b;
	if (json_bool(&d, json_get(&d, 0, "stdin"), &b) == 0)
		sp->stdin_open = b;
	if (json_int(&d, json_get(&d, 0, "rows"), &v) == 0 && v >= 0 && v <= UINT16_MAX)
		*rows = (uint16_t)v;
	if (json_int(&d, json_get(&d, 0, "cols"), &v) == 0 && v >= 0 && v <= UINT16_MAX)
		*cols = (uint16_t)v;
	json_free(&d);
	return 0;
}

/* The server's side of ctr_ctl_attach's request. */
int ctr_ctl_parse_attach(const char *json, size_t len, bool *stdin_open, bool *release,
			 uint16_t *rows, uint16_t *cols)
{
	struct json_doc d;
	int64_t v;
	bool b;

	*stdin_open = *release = false;
	if (json_parse(&d, json, len, 64) < 0)
		return -EINVAL;
	if (json_type(&d, 0) != JSON_OBJECT) {
		json_free(&d);
		return -EINVAL;
	}
	if (json_bool(&d, json_get(&d, 0, "stdin"), &b) == 0)
		*stdin_open = b;
	if (json_bool(&d, json_get(&d, 0, "release"), &b) == 0)
		*release = b;
	if (json_int(&d, json_get(&d, 0, "rows"), &v) == 0 && v >= 0 && v <= UINT16_MAX)
		*rows = (uint16_t)v;
	if (json_int(&d, json_get(&d, 0, "cols"), &v) == 0 && v >= 0 && v <= UINT16_MAX)
		*cols = (uint16_t)v;
	json_free(&d);
	return 0;
}

/* One exec or attach session: send the request line, then relay the
 * terminal and signals until the EXIT (or FAIL) frame. what names it in
 * errors ("exec", "attach"). */
static int ctl_session(const char *root, const char *id, const char *line, bool tty, bool stdin_open,
		       const char *what, struct err *err)
{
	struct ctl_exec *x = xcalloc(1, sizeof(*x));
	struct termios saved, raw;
	bool restore = false;
	sigset_t mask, old;
	int r, status;

	x->fd = ctr_ctl_connect(root, id, err);
	if (x->fd < 0) {
		free(x);
		return 125;
	}
	x->stdin_open = stdin_open;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	x->sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (tty && stdin_open && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
		restore = true;
	}
	if (write_all(x->fd, line, strlen(line)) < 0)
		r = -errno;
	else
		r = ctl_loop(x);
	if (restore)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(x->sfd);
	close(x->fd);
	status = x->status;
	if (r == -ETIMEDOUT) {
		err_set(err, ETIMEDOUT, "%s in %.12s: neither its guest nor its supervisor answered within "
			"%u s of SIG%s: unresponsive", what, id, CTR_CTL_ALIVE_MS / 1000u,
			sigabbrev_np(x->last_signal) ? sigabbrev_np(x->last_signal) : "?");
		status = 125;
	} else if (r < 0) {
		err_setx(err, r, "%s in %.12s: lost the supervisor", what, id);
		status = 125;
	} else if (x->fail[0]) {
		err_set(err, EIO, "%s", x->fail);
		status = 125;
	}
	free(x);
	return status;
}

int ctr_ctl_exec(const char *root, const char *id, const struct ctr_spec *s, struct err *err)
{
	uint16_t rows = 0, cols = 0;

	if (s->tty)
		ctl_winsize(&rows, &cols);
	_cleanup_free_ char *json = ctl_spec_json(s, rows, cols);
	_cleanup_free_ char *line = xasprintf("exec %s\n", json);
	return ctl_session(root, id, line, s->tty, s->stdin_open, "exec", err);
}

int ctr_ctl_attach(const char *root, const char *id, const struct ctr_attach_opts *o,
		   struct err *err)
{
	uint16_t rows = 0, cols = 0;

	if (o->tty)
		ctl_winsize(&rows, &cols);
	_cleanup_free_ char *line = xasprintf("attach {\"stdin\":%s,\"release\":%s,\"rows\":%u,\"cols\":%u}\n",
					      o->stdin_open ? "true" : "false",
					      o->release ? "true" : "false", rows, cols);
	return ctl_session(root, id, line, o->tty, o->stdin_open, "attach", err);
}

/* A one-line request whose answer ends at EOF (stats, top), bounded. */
static int ctl_query(const char *root, const char *id, const char *req, char **out, struct err *err)
{
	_cleanup_close_ int fd = ctr_ctl_connect(root, id, err);
	struct buf b = BUF_INIT;
	char tmp[4096];
	ssize_t n;

	*out = NULL;
	if (fd < 0)
		return fd;
	if (write_all(fd, req, strlen(req)) < 0)
		return err_setx(err, errno, "talking to the supervisor of %.12s", id);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		if (b.len + (size_t)n > (4u << 20)) {
			buf_free(&b);
			return err_set(err, EFBIG, "the supervisor of %.12s answered too much", id);
		}
		buf_append(&b, tmp, (size_t)n);
	}
	buf_putc(&b, 0);
	if (strncmp(b.data, "error", 5) == 0 || b.len <= 1) {
		err_set(err, ESRCH, "container %.12s is not running", id);
		buf_free(&b);
		return -ESRCH;
	}
	*out = buf_steal(&b);
	return 0;
}

int ctr_ctl_stats(const char *root, const char *id, struct ctr_usage *u, struct err *err)
{
	_cleanup_free_ char *text = NULL;
	unsigned long long v[9];
	unsigned ncpus, pids;

	memset(u, 0, sizeof(*u));
	if (ctl_query(root, id, "stats\n", &text, err) < 0)
		return -ESRCH;
	if (sscanf(text, "stats %llu %llu %llu %llu %u %llu %llu %llu %llu %u", &v[0], &v[1], &v[2], &v[3], &ncpus,
		   &v[4], &v[5], &v[6], &v[7], &pids) != 10)
		return err_set(err, EBADMSG, "container %.12s: bad stats answer", id);
	u->has_cpu = ncpus > 0 && v[1] > v[3] && v[0] >= v[2];
	u->cpu_busy_ns = v[0];
	u->cpu_total_ns = v[1];
	u->prev_busy_ns = v[2];
	u->prev_total_ns = v[3];
	u->ncpus = ncpus;
	u->mem_total = v[4];
	u->mem_available = v[5];
	u->blk_read = v[6];
	u->blk_write = v[7];
	u->pids = pids;
	return 0;
}

double ctr_usage_cpu_percent(const struct ctr_usage *u)
{
	if (!u->has_cpu)
		return -1;
	/* docker's: busy share of the interval, times the CPUs (so one CPU
	 * flat out is 100 % whatever the VM has). */
	return (double)(u->cpu_busy_ns - u->prev_busy_ns) / (double)(u->cpu_total_ns - u->prev_total_ns) *
	       u->ncpus * 100.0;
}

int ctr_ctl_top(const char *root, const char *id, struct ctr_ps **out, size_t *n, bool *trunc,
		struct err *err)
{
	_cleanup_free_ char *text = NULL;
	struct ctr_ps *ps = NULL;
	size_t cnt = 0, want;
	int t;
	char *line, *save = NULL;

	*out = NULL;
	*n = 0;
	*trunc = false;
	if (ctl_query(root, id, "top\n", &text, err) < 0)
		return -ESRCH;
	if (sscanf(text, "top %zu %d", &want, &t) != 2 || want > 100000)
		return err_set(err, EBADMSG, "container %.12s: bad top answer", id);
	*trunc = t != 0;
	line = strtok_r(text, "\n", &save);
	while ((line = strtok_r(NULL, "\n", &save)) && cnt < want) {
		struct ctr_ps e = { 0 };
		unsigned long long cpu, rss;
		int off = 0;
		if (sscanf(line, "%u\t%u\t%u\t%c\t%llu\t%llu\t%n", &e.pid, &e.ppid, &e.uid, &e.state, &cpu, &rss,
			   &off) != 6 || !off)
			continue;
		e.cpu_ms = cpu;
		e.rss = rss;
		snprintf(e.cmd, sizeof(e.cmd), "%s", line + off);
		ps = xrealloc(ps, (cnt + 1) * sizeof(*ps));
		ps[cnt++] = e;
	}
	*out = ps;
	*n = cnt;
	return 0;
}
