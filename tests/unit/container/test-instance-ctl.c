/* stop/kill of one --parallel instance (instance-ctl.c): the request
 * line's parser (valid lines, every kind of bad one), its format round
 * trip, the socket's name; a run's socket on a reactor answering a
 * client in another process (ok, the handler's refusal, a wait for the
 * record to go), ctr_instance_find by name and id prefix; a dead run's
 * socket swept like its records, a live one kept; ctr_ictl_close
 * unlinks. */
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/container-internal.h"
#include "err.h"
#include "loop.h"
#include "str.h"
#include "util.h"

static char root[] = "/tmp/ucrt-ictl-XXXXXX";

static void t_parse_ok(const char *line, enum ctr_ireq_op op, unsigned idx, unsigned arg)
{
	struct ctr_ireq rq;
	int r = ctr_ireq_parse(line, strlen(line), &rq);

	t_ok(r == 0 && rq.op == op && rq.index == idx && rq.arg == arg, "parse '%s'", line);
}

static void t_parse_bad(const char *line, size_t len, int want)
{
	struct ctr_ireq rq;

	int r = ctr_ireq_parse(line, len, &rq);

	t_ok(r == want, "refused: '%.*s' (%d)", (int)MIN(len, 40), line, r);
}

static void t_parser(void)
{
	t_parse_ok("stop 0 10", CTR_IREQ_STOP, 0, 10);
	t_parse_ok("stop 4294967295 0", CTR_IREQ_STOP, 4294967295u, 0);
	t_parse_ok("stop 3 3600", CTR_IREQ_STOP, 3, 3600);
	t_parse_ok("kill 2 9", CTR_IREQ_KILL, 2, 9);
	t_parse_ok("kill 7 64", CTR_IREQ_KILL, 7, 64);
	t_parse_ok("kill 0007 01", CTR_IREQ_KILL, 7, 1);

	static const char *bad[] = { "", "stop", "stop ", "stop 1", "stop 1 ", "stop  1 2", "stop 1  2",
				     "stop 1 2 ", " stop 1 2", "stop -1 2", "stop +1 2", "stop 1 -2", "stop a 2",
				     "stop 1 2x", "STOP 1 2", "halt 1 2", "kill 1 KILL", "stop 1\t2",
				     "kill 1 9\n", "stop 12345678901 2", "kill 1 12345678901" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		t_parse_bad(bad[i], strlen(bad[i]), -EINVAL);
	t_parse_bad("kill 1\0 9", 9, -EINVAL);
	t_parse_bad("stop 4294967296 1", 17, -ERANGE);
	t_parse_bad("stop 1 3601", 11, -ERANGE);
	t_parse_bad("kill 1 0", 8, -ERANGE);
	t_parse_bad("kill 1 65", 9, -ERANGE);
	char longl[CTR_IREQ_MAX + 2];
	memset(longl, '0', sizeof(longl));
	memcpy(longl, "stop 1 ", 7);
	t_parse_bad(longl, sizeof(longl), -EINVAL);

	struct ctr_ireq rq = { .op = CTR_IREQ_KILL, .index = 4294967295u, .arg = 64 }, back;
	char line[CTR_IREQ_MAX + 1];
	int n = ctr_ireq_format(&rq, line, sizeof(line));
	t_ok(n > 0 && line[n - 1] == '\n' && ctr_ireq_parse(line, (size_t)n - 1, &back) == 0 && back.op == rq.op &&
	     back.index == rq.index && back.arg == rq.arg, "format -> parse round trip (%.*s)", n - 1, line);
	t_is(ctr_ireq_format(&rq, line, 8), -ENOBUFS, "format: too small a buffer");

	char name[64];
	ctr_ictl_sock_name("0123456789abcdef", 4242, name, sizeof(name));
	t_streq(name, "0123456789ab-4242.sock", "socket name: the group's short id and the pid");
}

/* ---- a run's socket, and a client in another process ---- */

struct t_run {
	int dfd;
	unsigned calls;
	struct ctr_ireq last;
	const char *remove_id;		/* the record the "run" removes on a request */
	bool child_done;
	int child_status;
};

static int t_handler(void *ud, const struct ctr_ireq *rq, char *why, size_t cap)
{
	struct t_run *r = ud;

	r->calls++;
	r->last = *rq;
	if (rq->index == 5) {
		snprintf(why, cap, "no running instance %u in this run", rq->index);
		return -ESRCH;
	}
	if (r->remove_id)
		ctr_instance_remove(r->dfd, r->remove_id);
	return 0;
}

static void t_child_done(struct loop_child *c, int wstatus)
{
	struct t_run *r = c->data;

	r->child_done = true;
	r->child_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 100;
}

/* In a child: find what, send rq (index from the record), exit 0 on
 * success, 1 on refusal, 2 when not found, 3 with a message mismatch. */
static int t_client(struct loop *l, struct t_run *run, const char *what, enum ctr_ireq_op op, unsigned arg,
		    unsigned wait_ms, const char *want_msg)
{
	struct loop_child c;
	pid_t pid = fork();

	if (pid == 0) {
		struct ctr_instance in;
		struct err e = { 0 };
		if (ctr_instance_find(root, what, &in) < 0)
			_exit(2);
		struct ctr_ireq rq = { .op = op, .index = in.index, .arg = arg };
		int r = ctr_instance_request(root, &in, &rq, wait_ms, &e);
		if (r < 0 && want_msg && !strstr(err_msg(&e), want_msg)) {
			fprintf(stderr, "# got: %s\n", err_msg(&e));
			_exit(3);
		}
		_exit(r < 0 ? 1 : 0);
	}
	run->child_done = false;
	loop_child_watch(l, &c, pid, t_child_done, run);
	while (!run->child_done)
		loop_run_once(l, true);
	return run->child_status;
}

static void t_server(void)
{
	struct loop *l;
	struct err e = { 0 };
	struct ctr_instance r0 = { 0 }, r5 = { 0 };
	char *argv[] = { "sh", NULL };

	if (loop_new(&l, 64, &e) < 0) {
		t_diag("no io_uring: %s", err_msg(&e));
		return;
	}
	int dfd = ctr_instances_open(root, true);
	t_ok(dfd >= 0, "the instances directory");
	struct t_run run = { .dfd = dfd };
	pid_t self = getpid();
	uint64_t start = ctr_proc_start_time(self);
	r0 = (struct ctr_instance){ .name = "job-0", .group = "fedcba987654", .index = 0, .count = 6,
				    .image = "x", .argv = argv, .created = 1, .owner = self, .owner_start = start };
	ctr_instance_new_id(r0.id);
	r5 = r0;
	r5.name = "job-5";
	r5.index = 5;
	ctr_instance_new_id(r5.id);
	t_ok(ctr_instance_write(dfd, &r0) == 0 && ctr_instance_write(dfd, &r5) == 0, "two records");

	/* Before the run listens: the client says it is not running. */
	t_is(t_client(l, &run, "job-0", CTR_IREQ_KILL, 9, 0, "is not running"), 1, "no socket: not running");

	struct ctr_ictl *s;
	t_is(ctr_ictl_open(l, dfd, "fedcba9876543210", t_handler, &run, &s), 0, "the run listens");
	char sock[64];
	ctr_ictl_sock_name("fedcba987654", self, sock, sizeof(sock));
	t_ok(faccessat(dfd, sock, F_OK, AT_SYMLINK_NOFOLLOW) == 0, "its socket: %s", sock);

	t_is(t_client(l, &run, "job-0", CTR_IREQ_KILL, 15, 0, NULL), 0, "kill job-0 -s 15: ok");
	t_ok(run.calls == 1 && run.last.op == CTR_IREQ_KILL && run.last.index == 0 && run.last.arg == 15,
	     "... the run got kill 0 15");
	char prefix[9];
	snprintf(prefix, sizeof(prefix), "%.8s", r0.id);
	t_is(t_client(l, &run, prefix, CTR_IREQ_STOP, 30, 0, NULL), 0, "stop by id prefix: ok");
	t_ok(run.calls == 2 && run.last.op == CTR_IREQ_STOP && run.last.arg == 30, "... the run got stop 0 30");
	t_is(t_client(l, &run, "job-5", CTR_IREQ_KILL, 9, 0, "job-5: no running instance 5 in this run"), 1,
	     "the run's refusal reaches the client, naming why");
	t_is(t_client(l, &run, "job-7", CTR_IREQ_KILL, 9, 0, NULL), 2, "ctr_instance_find: no such instance");
	t_is(t_client(l, &run, "", CTR_IREQ_KILL, 9, 0, NULL), 2, "... an empty name is none");

	/* Waiting: the run removes the record when the VM is gone. */
	run.remove_id = r0.id;
	t_is(t_client(l, &run, "job-0", CTR_IREQ_KILL, 9, 20000, NULL), 0, "kill with a wait: returns once the record went");
	char f[CTR_ID_LEN + 8];
	snprintf(f, sizeof(f), "%s.json", r0.id);
	t_ok(faccessat(dfd, f, F_OK, 0) < 0, "... it went");

	/* A dead run's socket (another pid) is swept, the live one kept. */
	int fd = openat(dfd, "0123456789ab-999999999.sock", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	struct ctr_instance *v;
	size_t n;
	t_is(ctr_instances_list(root, &v, &n), 0, "list");
	ctr_instances_free(v, n);
	t_ok(faccessat(dfd, "0123456789ab-999999999.sock", F_OK, 0) < 0, "a dead run's socket swept");
	t_ok(faccessat(dfd, sock, F_OK, AT_SYMLINK_NOFOLLOW) == 0, "the live run's socket kept");

	/* A client in the middle of its line when the run ends: hung up on,
	 * its memory freed once the cancelled recv completed (ASan says). */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%.40s", dfd, sock);
	int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t_ok(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(cfd, "stop 1", 6) == 6,
	     "a client sends half a line");
	for (int i = 0; i < 3; i++)
		loop_run_once(l, false);
	ctr_ictl_close(s);
	loop_drain(l);
	char c;
	t_ok(read(cfd, &c, 1) == 0, "... and is hung up on when the run ends");
	close(cfd);
	t_ok(faccessat(dfd, sock, F_OK, AT_SYMLINK_NOFOLLOW) < 0, "ctr_ictl_close unlinks it");
	t_is(t_client(l, &run, "job-5", CTR_IREQ_KILL, 9, 0, "is not running"), 1, "then: not running");
	ctr_instance_remove(dfd, r5.id);
	close(dfd);
	loop_free(l);
	_cleanup_free_ char *dir = ctr_instances_dir(root);
	t_ok(rmdir(dir) == 0, "nothing else was left in the directory");
}

int main(void)
{
	if (!mkdtemp(root))
		t_skip_all("mkdtemp");
	t_parser();
	t_server();
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", root);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
