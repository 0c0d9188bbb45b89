/* docker credential helpers: `docker-credential-NAME get` with the
 * registry on stdin answers {"ServerURL","Username","Secret"} on stdout.
 * config.json names them: credHelpers maps a registry to NAME, credsStore
 * is the NAME for every registry. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "registry/registry.h"
#include "util.h"

#define HELPER_TIMEOUT_MS 10000
#define HELPER_MAX_OUT (64u << 10)

int reg_cred_helper_parse(const char *out, size_t len, char **user, char **pass)
{
	struct json_doc d;
	if (json_parse(&d, out, len, 64) < 0)
		return -EINVAL;
	char *u = json_str(&d, json_get(&d, 0, "Username"));
	char *p = json_str(&d, json_get(&d, 0, "Secret"));
	json_free(&d);
	if (!u || !p) {
		free(u);
		free(p);
		return -EINVAL;
	}
	*user = u;
	*pass = p;
	return 0;
}

static bool helper_name_ok(const char *n)
{
	if (!*n || strlen(n) > 64)
		return false;
	for (const char *p = n; *p; p++)
		if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Deliberately blocking (credentials are looked up once per registry, in
 * the pull's setup): a helper gets HELPER_TIMEOUT_MS, then is killed.
 * SIGPIPE must be ignored (ucrt's main does): a helper may exit without
 * reading the server name we write to it. */
int reg_cred_helper_get(const char *helper, const char *server, char **user, char **pass, struct err *err)
{
	int in[2], out[2];

	if (!helper_name_ok(helper))
		return err_set(err, EINVAL, "credential helper '%s': not a helper name", helper);
	if (pipe2(in, O_CLOEXEC) < 0)
		return err_setx(err, errno, "credential helper");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return err_setx(err, errno, "credential helper");
	}
	_cleanup_free_ char *prog = xasprintf("docker-credential-%s", helper);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execlp(prog, prog, "get", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return err_setx(err, errno, "starting %s", prog);
	}
	/* the server name and a newline, as docker writes it */
	if (write_all(in[1], server, strlen(server)) < 0 || write_all(in[1], "\n", 1) < 0)
		log_debug("%s did not read its input", prog);
	close(in[1]);
	_cleanup_buf_ struct buf b = BUF_INIT;
	uint64_t end = now_ms() + HELPER_TIMEOUT_MS;
	bool timed_out = false;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= end) {
			timed_out = true;
			break;
		}
		struct pollfd p = { .fd = out[0], .events = POLLIN };
		int r = poll(&p, 1, (int)(end - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			timed_out = r == 0;
			break;
		}
		char chunk[4096];
		ssize_t n = read(out[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len + (size_t)n > HELPER_MAX_OUT) {
			timed_out = true;	/* treated alike: killed, refused */
			break;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	close(out[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return err_set(err, ETIMEDOUT, "%s get: no answer within %d s (or too long)", prog,
			       HELPER_TIMEOUT_MS / 1000);
	if (!WIFEXITED(st) || WEXITSTATUS(st) == 127)
		return err_set(err, ENOEXEC, "%s get: not found on PATH or failed to start", prog);
	if (WEXITSTATUS(st) != 0) {
		/* helpers say "credentials not found in native keychain" */
		size_t k = b.len;
		while (k && (b.data[k - 1] == '\n' || b.data[k - 1] == '\r'))
			k--;
		return err_set(err, ENOENT, "%s get: exit %d%s%.*s", prog, WEXITSTATUS(st), k ? ": " : "",
			       (int)MIN(k, (size_t)200), b.data ? b.data : "");
	}
	if (reg_cred_helper_parse(b.data ? b.data : "", b.len, user, pass) < 0)
		return err_set(err, EBADMSG, "%s get: answer is not {\"Username\",\"Secret\"} JSON", prog);
	return 0;
}
