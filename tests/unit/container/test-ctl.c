/* The exec and attach requests of ctl.sock as the supervisor and the OCI
 * runtime's per-container process read them: the fields, and what is
 * refused or ignored (the text crosses a socket). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "container/container-internal.h"
#include "tests/lib/tap.h"

static int parse(const char *json, struct ctr_spec *s, uint16_t *rows, uint16_t *cols)
{
	*rows = *cols = 0;
	return ctr_ctl_parse_exec(json, strlen(json), s, rows, cols);
}

int main(void)
{
	struct ctr_spec s;
	uint16_t rows, cols;

	t_is(parse("{\"args\":[\"sh\",\"-c\",\"x\"],\"env\":[\"A=1\"],\"cwd\":\"/w\",\"uid\":1000,\"gid\":50,"
		   "\"tty\":true,\"stdin\":true,\"rows\":40,\"cols\":120}", &s, &rows, &cols), 0, "a full request");
	t_ok(s.argv && strcmp(s.argv[2], "x") == 0 && !s.argv[3] && s.env && strcmp(s.env[0], "A=1") == 0,
	     "... args and env");
	t_ok(s.cwd && strcmp(s.cwd, "/w") == 0 && s.uid == 1000 && s.gid == 50 && s.tty && s.stdin_open,
	     "... cwd, user, tty, stdin");
	t_ok(rows == 40 && cols == 120, "... window size");
	ctr_spec_free(&s);
	t_is(parse("{\"args\":[\"true\"],\"uid\":-1,\"gid\":4294967296,\"rows\":70000}", &s, &rows, &cols), 0,
	     "out-of-range numbers");
	t_ok(s.uid == 0 && s.gid == 0 && rows == 0, "... are ignored, not wrapped");
	ctr_spec_free(&s);
	t_is(parse("{\"args\":[]}", &s, &rows, &cols), -EINVAL, "no command refused");
	t_ok(!s.argv && !s.env, "... and nothing is left allocated");
	t_is(parse("{\"env\":[\"A=1\"]}", &s, &rows, &cols), -EINVAL, "no args refused");
	t_is(parse("{\"args\":\"sh\"}", &s, &rows, &cols), -EINVAL, "args not an array refused");
	t_is(parse("[\"sh\"]", &s, &rows, &cols), -EINVAL, "not an object refused");
	t_is(parse("{\"args\":[\"sh\"", &s, &rows, &cols), -EINVAL, "truncated JSON refused");

	bool in = true, rel = true;
	const char *a = "{\"stdin\":true,\"release\":true,\"rows\":30,\"cols\":90}";
	rows = cols = 0;
	t_is(ctr_ctl_parse_attach(a, strlen(a), &in, &rel, &rows, &cols), 0, "attach: a full request");
	t_ok(in && rel && rows == 30 && cols == 90, "... stdin, release, window size");
	a = "{\"rows\":-1,\"cols\":65536}";
	rows = cols = 7;
	t_is(ctr_ctl_parse_attach(a, strlen(a), &in, &rel, &rows, &cols), 0, "attach: defaults, bad sizes");
	t_ok(!in && !rel && rows == 7 && cols == 7, "... no stdin, no release, sizes ignored");
	t_is(ctr_ctl_parse_attach("[true]", 6, &in, &rel, &rows, &cols), -EINVAL, "attach: not an object refused");
	t_is(ctr_ctl_parse_attach("{\"stdin\":", 9, &in, &rel, &rows, &cols), -EINVAL,
	     "attach: truncated JSON refused");
	t_is(parse("{\"args\":[\"sh\"],\"root\":\"/run/ucrt-pod/c1/rootfs\"}", &s, &rows, &cols), 0,
	     "a pod container's root");
	t_ok(s.root && strcmp(s.root, "/run/ucrt-pod/c1/rootfs") == 0, "... kept");
	ctr_spec_free(&s);
	t_is(parse("{\"args\":[\"sh\"],\"root\":\"run/x\"}", &s, &rows, &cols), -EINVAL, "a relative root refused");
	t_is(parse("{\"args\":[\"sh\"],\"root\":\"/run/../etc\"}", &s, &rows, &cols), -EINVAL, "a root with .. refused");
	t_ok(!s.argv && !s.root, "... and nothing is left allocated");

	/* The client's exchange: the line goes out whole, the reply is read
	 * until the peer hangs up, cut at the buffer. */
	int sv[2];
	char got[64] = "", reply[8];
	t_is(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0, "socketpair");
	t_is(write(sv[1], "ok and more\n", 12), 12, "the peer's reply queued");
	shutdown(sv[1], SHUT_WR);
	t_is(ctr_ctl_exchange(sv[0], "stop 1 2\n", 9, reply, sizeof(reply)), 7, "exchange: reply cut at cap - 1");
	t_streq(reply, "ok and ", "... NUL-terminated");
	t_is(read(sv[1], got, sizeof(got) - 1), 9, "... the whole line reached the peer");
	t_streq(got, "stop 1 2\n", "... unchanged");
	close(sv[1]);
	t_is(ctr_ctl_exchange(sv[0], "x\n", 2, reply, sizeof(reply)), -EPIPE, "exchange: a gone peer is -EPIPE");
	close(sv[0]);

	struct sockaddr_un sa;
	socklen_t len;
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	t_is(ctr_sock_addr(7, "ctl.sock", &sa, &len), 0, "socket address through /proc/self/fd");
	t_streq(sa.sun_path, "/proc/self/fd/7/ctl.sock", "... the path");
	t_is(len, offsetof(struct sockaddr_un, sun_path) + strlen(sa.sun_path) + 1, "... its length");
	t_is(ctr_sock_addr(7, longname, &sa, &len), -ENAMETOOLONG, "a name too long for sun_path refused");
	return t_done();
}
