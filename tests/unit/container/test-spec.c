/* Docker's override rules for the container process, env files, user
 * resolution against passwd/group text, and the percentile helper. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "oci/oci.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static char *t_join(char **v)
{
	static char out[512];
	size_t n = 0;

	out[0] = 0;
	for (; v && *v; v++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", n ? "|" : "", *v);
	return out;
}

static const char *t_lookup(const char *k)
{
	return strcmp(k, "HOSTVAR") == 0 ? "from-host" : NULL;
}

static void t_argv_rules(void)
{
	char *ep[] = { "/entry", "-x", NULL }, *cmd[] = { "default", "cmd", NULL };
	char *env[] = { "PATH=/img/bin", "A=1", "B=2", NULL };
	struct oci_image_config img = { .entrypoint = ep, .cmd = cmd, .env = env, .working_dir = "/w" };
	char *args[] = { "run", "this", NULL };
	struct ctr_overrides o = { 0 };
	struct ctr_spec s;
	struct err e = { 0 };

	t_ok(ctr_spec_build(&img, &o, &s, &e) == 0, "image only");
	t_streq(t_join(s.argv), "/entry|-x|default|cmd", "entrypoint + cmd");
	t_streq(s.cwd, "/w", "image working dir");
	t_streq(t_join(s.env), "PATH=/img/bin|A=1|B=2", "image env kept, PATH not replaced");
	ctr_spec_free(&s);

	o.cmd = args;
	t_ok(ctr_spec_build(&img, &o, &s, &e) == 0, "CMD args");
	t_streq(t_join(s.argv), "/entry|-x|run|this", "CMD args replace the image cmd only");
	ctr_spec_free(&s);

	o.entrypoint = "/other";
	o.entrypoint_set = true;
	o.cmd = NULL;
	t_ok(ctr_spec_build(&img, &o, &s, &e) == 0, "--entrypoint");
	t_streq(t_join(s.argv), "/other", "--entrypoint drops the image cmd");
	ctr_spec_free(&s);

	o.entrypoint = "";
	o.cmd = args;
	t_ok(ctr_spec_build(&img, &o, &s, &e) == 0, "--entrypoint '' with CMD");
	t_streq(t_join(s.argv), "run|this", "--entrypoint '' leaves only CMD");
	ctr_spec_free(&s);

	o.cmd = NULL;
	t_ok(ctr_spec_build(&img, &o, &s, &e) == -EINVAL && strstr(e.msg, "no command"),
	     "empty command refused: %s", e.msg);

	struct oci_image_config empty = { 0 };
	char *envo[] = { "B=override", "C=3", NULL };
	struct ctr_overrides o2 = { .cmd = args, .env = envo, .workdir = "/x", .user = "1:2" };
	t_ok(ctr_spec_build(&empty, &o2, &s, &e) == 0, "no image config");
	t_streq(t_join(s.env), "B=override|C=3|PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"default PATH added");
	t_streq(s.cwd, "/x", "-w");
	t_streq(s.user, "1:2", "-u kept for resolution");
	ctr_spec_free(&s);

	o2.workdir = "rel";
	t_ok(ctr_spec_build(&empty, &o2, &s, &e) == -EINVAL, "relative workdir refused");

	t_ok(ctr_spec_build(&img, &(struct ctr_overrides){ .env = envo }, &s, &e) == 0, "-e over image env");
	t_streq(t_join(s.env), "PATH=/img/bin|A=1|B=override|C=3", "-e overrides image env by key, in place");
	ctr_spec_free(&s);
}

static void t_env_args(void)
{
	char **env = NULL;
	struct err e = { 0 };
	char path[] = "/tmp/ucrt-envfile-XXXXXX";
	int fd = mkstemp(path);

	t_ok(fd >= 0, "env file created");
	t_ok(ctr_env_arg(&env, "K=V=W", t_lookup, &e) == 0, "K=V=W");
	t_ok(ctr_env_arg(&env, "HOSTVAR", t_lookup, &e) == 0, "K from the host");
	t_ok(ctr_env_arg(&env, "UNSET", t_lookup, &e) == 0, "K unset on the host: dropped");
	t_ok(ctr_env_arg(&env, "=x", t_lookup, &e) == -EINVAL, "empty key refused");
	t_ok(ctr_env_arg(&env, "A B=1", t_lookup, &e) == -EINVAL, "key with a space refused");
	t_streq(t_join(env), "K=V=W|HOSTVAR=from-host", "vector");
	strv_free(env);
	env = NULL;

	const char *text = "# comment\n\n  X=1\r\nHOSTVAR\nY=with spaces \n";
	t_ok(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "env file written");
	close(fd);
	t_ok(ctr_env_file(&env, path, t_lookup, &e) == 0, "env file read");
	t_streq(t_join(env), "X=1|HOSTVAR=from-host|Y=with spaces ", "comments, blanks, CRLF, host lookups");
	strv_free(env);
	unlink(path);
	env = NULL;
	t_ok(ctr_env_file(&env, "/nonexistent/env", t_lookup, &e) < 0 && strstr(e.msg, "/nonexistent/env"),
	     "missing env file named: %s", e.msg);
}

static void t_users(void)
{
	const char *pw = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1001::/home/user:/bin/sh\n"
			 "# odd\nshort:x\n";
	const char *gr = "root:x:0:\nstaff:x:50:user\n";
	uint32_t uid, gid;
	char *home;
	struct err e = { 0 };

	t_ok(ctr_user_resolve("", pw, gr, &uid, &gid, &home, &e) == 0 && uid == 0 && gid == 0 &&
	     home && strcmp(home, "/root") == 0, "default: root with its home");
	free(home);
	t_ok(ctr_user_resolve("user", pw, gr, &uid, &gid, &home, &e) == 0 && uid == 1000 && gid == 1001 &&
	     home && strcmp(home, "/home/user") == 0, "name -> uid, passwd gid, home");
	free(home);
	t_ok(ctr_user_resolve("user:staff", pw, gr, &uid, &gid, NULL, &e) == 0 && uid == 1000 && gid == 50,
	     "user:group by names");
	t_ok(ctr_user_resolve("1000", pw, gr, &uid, &gid, NULL, &e) == 0 && uid == 1000 && gid == 1001,
	     "numeric uid finds its passwd gid");
	t_ok(ctr_user_resolve("4242:77", NULL, NULL, &uid, &gid, &home, &e) == 0 && uid == 4242 && gid == 77 &&
	     !home, "numbers need no entry");
	t_ok(ctr_user_resolve("nobody", pw, gr, &uid, &gid, NULL, &e) == -ENOENT && strstr(e.msg, "nobody"),
	     "unknown user: %s", e.msg);
	t_ok(ctr_user_resolve("user:nogroup", pw, gr, &uid, &gid, NULL, &e) == -ENOENT, "unknown group");
}

static void t_percentiles(void)
{
	uint64_t v[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

	t_is(ctr_percentile(v, 10, 50), 5, "p50 of 1..10");
	t_is(ctr_percentile(v, 10, 90), 9, "p90 of 1..10");
	t_is(ctr_percentile(v, 10, 99), 10, "p99 of 1..10");
	t_is(ctr_percentile(v, 1, 50), 1, "one value");
	t_is(ctr_percentile(v, 0, 50), 0, "no values");
}

static void t_parallel_max(void)
{
	t_is(ctr_parallel_max(64, 2, 24576, 256, false), 8, "2 CPUs under TCG: 8 at once");
	t_is(ctr_parallel_max(64, 2, 24576, 256, true), 32, "with KVM: 16 per CPU");
	t_is(ctr_parallel_max(64, 64, 2000, 256, true), 5, "memory bounds it: 80% of 2000 MiB / 320 MiB");
	t_is(ctr_parallel_max(3, 2, 24576, 256, false), 3, "never more than n");
	t_is(ctr_parallel_max(64, 2, 100, 4096, false), 1, "at least one");
	t_is(ctr_parallel_max(64, 0, 24576, 0, false), 4, "unknown CPUs count as one, default memory 256M");
	unsigned m = ctr_parallel_default_max(1000, 256, false);
	t_ok(m >= 1 && m <= 1000, "this host's default: %u", m);
}

int main(void)
{
	t_argv_rules();
	t_env_args();
	t_users();
	t_percentiles();
	t_parallel_max();
	return t_done();
}
