/* docker credential helpers: credHelpers over credsStore over auths, the
 * helper's stdin and answer, failures falling back, bad names refused. */
#include "tests/lib/tap.h"
#include "registry/registry.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/ucrt-credhelper-XXXXXX";

static void helper(const char *name, const char *body)
{
	_cleanup_free_ char *p = xasprintf("%s/docker-credential-%s", dir, name);
	FILE *f = fopen(p, "w");
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(p, 0755);
}

static void config(const char *json)
{
	_cleanup_free_ char *p = xasprintf("%s/config.json", dir);
	FILE *f = fopen(p, "w");
	fputs(json, f);
	fclose(f);
}

int main(void)
{
	char *u = NULL, *pw = NULL;
	struct err e = { 0 };

	t_plan(12);
	/* As ucrt's main does (modules/cli/main.c): a helper that exits
	 * without reading its stdin ("none", "junk") must not kill us with
	 * SIGPIPE when it beats our write, which happens on a loaded host. */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		t_skip_all("mkdtemp");
	_cleanup_free_ char *path = xasprintf("%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	_cleanup_free_ char *cfg = xasprintf("%s/config.json", dir);
	/* the helper echoes the server it was asked for in Secret */
	helper("good", "[ \"$1\" = get ] || exit 3; read s; printf '{\"ServerURL\":\"%s\",\"Username\":\"hu\",\"Secret\":\"pw-%s\"}' \"$s\" \"$s\"");
	helper("other", "read s; echo '{\"Username\":\"ou\",\"Secret\":\"op\"}'");
	helper("none", "echo 'credentials not found in native keychain'; exit 1");
	helper("junk", "echo not-json");

	config("{\"credsStore\":\"good\",\"auths\":{\"r.example:5000\":{\"auth\":\"ZmlsZTpwYXNz\"}}}");
	t_is(reg_auth_lookup(cfg, "r.example:5000", &u, &pw), 0, "credsStore: the helper answers");
	t_ok(u && pw && strcmp(u, "hu") == 0 && strcmp(pw, "pw-r.example:5000") == 0,
	     "its Username and Secret, asked with the registry on stdin");
	free(u), free(pw), u = pw = NULL;
	t_is(reg_auth_lookup(cfg, "docker.io", &u, &pw), 0, "Docker Hub through the helper");
	t_ok(pw && strcmp(pw, "pw-https://index.docker.io/v1/") == 0, "asked as docker asks: the v1 index URL");
	free(u), free(pw), u = pw = NULL;

	config("{\"credsStore\":\"good\",\"credHelpers\":{\"r.example:5000\":\"other\"}}");
	t_is(reg_auth_lookup(cfg, "r.example:5000", &u, &pw), 0, "credHelpers entry");
	t_ok(u && strcmp(u, "ou") == 0, "credHelpers wins over credsStore for its registry");
	free(u), free(pw), u = pw = NULL;

	config("{\"credsStore\":\"none\",\"auths\":{\"r.example:5000\":{\"auth\":\"ZmlsZTpwYXNz\"}}}");
	t_is(reg_auth_lookup(cfg, "r.example:5000", &u, &pw), 0, "a helper without them: the auths entry");
	t_ok(u && strcmp(u, "file") == 0 && strcmp(pw, "pass") == 0, "... file:pass");
	free(u), free(pw), u = pw = NULL;
	t_is(reg_auth_lookup(cfg, "other.example", &u, &pw), -ENOENT, "neither: -ENOENT");

	t_is(reg_cred_helper_get("junk", "x", &u, &pw, &e), -EBADMSG, "an answer that is not JSON is refused");
	t_is(reg_cred_helper_get("../evil", "x", &u, &pw, &e), -EINVAL, "a helper name with a slash is refused");
	t_is(reg_cred_helper_get("absent", "x", &u, &pw, &e), -ENOEXEC, "a missing helper: -ENOEXEC");
	_cleanup_free_ char *rm = xasprintf("rm -rf %s", dir);
	if (system(rm) != 0)
		return 1;
	return t_failed ? 1 : 0;
}
