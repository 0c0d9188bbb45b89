/* The credential file (docker's config.json): default location, store /
 * lookup / remove with mode 0600, other keys and other registries kept,
 * docker.io's legacy key, passwords with awkward characters, and a file
 * that is not ours to rewrite. Also the client option defaults and their
 * environment overrides. */
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "json.h"
#include "registry/registry.h"
#include "util.h"

static char dir[] = "/tmp/ucrt-auth-XXXXXX";

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static bool lookup_is(const char *file, const char *domain, const char *user, const char *pass)
{
	char *u = NULL, *p = NULL;
	bool ok = reg_auth_lookup(file, domain, &u, &p) == 0 && strcmp(u, user) == 0 && strcmp(p, pass) == 0;
	free(u);
	free(p);
	return ok;
}

static void defaults(void)
{
	struct reg_opts o;
	reg_opts_default(&o);
	t_ok(o.tls_verify && o.jobs >= 4 && o.retries > 1 && o.retry_delay_ms > 0 && o.chunk_size > 0 &&
	     !o.creds && !o.auth_file && !o.cert_dir, "option defaults: TLS on, 4+ jobs, retries, no credentials");
	/* A stalled registry used to take 5 tries x 60 s to give up. */
	t_ok(o.stall_timeout_s > 0 && o.retries * o.stall_timeout_s <= 90,
	     "a stalled registry fails within 90 s by default (%u tries x %u s)", o.retries, o.stall_timeout_s);
	setenv("UCRT_REGISTRY_RETRIES", "7", 1);
	setenv("UCRT_REGISTRY_STALL_TIMEOUT", "2", 1);
	reg_opts_default(&o);
	t_ok(o.retries == 7 && o.stall_timeout_s == 2, "UCRT_REGISTRY_RETRIES and UCRT_REGISTRY_STALL_TIMEOUT set them");
	struct reg_opts d;
	setenv("UCRT_REGISTRY_RETRIES", "0", 1);
	setenv("UCRT_REGISTRY_STALL_TIMEOUT", "5s", 1);
	reg_opts_default(&o);
	unsetenv("UCRT_REGISTRY_RETRIES");
	unsetenv("UCRT_REGISTRY_STALL_TIMEOUT");
	reg_opts_default(&d);
	t_ok(o.retries == d.retries && o.stall_timeout_s == d.stall_timeout_s,
	     "invalid values (0, \"5s\") are ignored, not taken as 0");

	setenv("REGISTRY_AUTH_FILE", "/x/auth.json", 1);
	char *f = reg_auth_file_default();
	t_streq(f, "/x/auth.json", "REGISTRY_AUTH_FILE wins");
	free(f);
	unsetenv("REGISTRY_AUTH_FILE");
	setenv("HOME", "/home/someone", 1);
	f = reg_auth_file_default();
	t_streq(f, "/home/someone/.docker/config.json", "else ~/.docker/config.json");
	free(f);
}

int main(void)
{
	struct err e = { 0 };
	struct stat st;

	defaults();
	if (!mkdtemp(dir))
		t_skip_all("mkdtemp failed");
	_cleanup_free_ char *file = xasprintf("%s/new/sub/config.json", dir);

	t_is(reg_auth_lookup(file, "r.example", &(char *){ NULL }, &(char *){ NULL }), -ENOENT,
	     "lookup in a missing file: ENOENT");
	t_is(reg_auth_store(file, "r.example:5000", "alice", "p:a\"ss\\w é", &e), 0,
	     "store creates the file and its directories");
	t_ok(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600, "file mode is 0600");
	t_ok(lookup_is(file, "r.example:5000", "alice", "p:a\"ss\\w é"), "lookup returns user and awkward password");
	t_is(reg_auth_lookup(file, "r.example", &(char *){ NULL }, &(char *){ NULL }), -ENOENT,
	     "another port is another registry");
	t_is(reg_auth_store(file, "other.example", "bob", "pw2", &e), 0, "store a second registry");
	t_is(reg_auth_store(file, "r.example:5000", "alice", "new", &e), 0, "replace the first");
	t_ok(lookup_is(file, "r.example:5000", "alice", "new") && lookup_is(file, "other.example", "bob", "pw2"),
	     "both registries, the first with its new password");

	/* A file written by docker: other keys, URL-style and legacy keys. */
	_cleanup_free_ char *dk = xasprintf("%s/docker.json", dir);
	/* "alice:pw" and "carol:pw3" in base64 */
	write_text(dk, "{\"credsStore\":\"desktop\",\"HttpHeaders\":{\"X-A\":\"1\"},\"auths\":{"
		       "\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6cHc=\"},"
		       "\"https://q.example/v2/\":{\"auth\":\"Y2Fyb2w6cHcz\"},"
		       "\"t.example\":{\"identitytoken\":\"x\"}}}\n");
	t_ok(lookup_is(dk, "docker.io", "alice", "pw"), "docker.io matches docker's index.docker.io/v1/ key");
	t_ok(lookup_is(dk, "q.example", "carol", "pw3"), "https://host/v2/ key matches host");
	t_is(reg_auth_lookup(dk, "t.example", &(char *){ NULL }, &(char *){ NULL }), -ENOENT,
	     "an entry without auth gives no credentials");
	t_is(reg_auth_store(dk, "new.example", "dave", "pw4", &e), 0, "store into docker's file");
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	struct json_doc d;
	t_ok(read_file_at(AT_FDCWD, dk, 1 << 20, &data, &len) == 0 && json_parse(&d, data, len, 4096) == 0,
	     "rewritten file is valid JSON");
	t_ok(json_str_eq(&d, json_get(&d, 0, "credsStore"), "desktop") &&
	     json_str_eq(&d, json_get(&d, json_get(&d, 0, "HttpHeaders"), "X-A"), "1"),
	     "other top-level keys are kept");
	int auths = json_get(&d, 0, "auths");
	t_ok(json_get(&d, auths, "https://q.example/v2/") >= 0 && json_get(&d, auths, "t.example") >= 0 &&
	     json_get(&d, auths, "new.example") >= 0, "other registries' entries are kept");
	json_free(&d);
	t_is(reg_auth_remove(dk, "docker.io", &e), 0, "logout of docker.io");
	t_is(reg_auth_lookup(dk, "docker.io", &(char *){ NULL }, &(char *){ NULL }), -ENOENT,
	     "docker.io entry gone (legacy key too)");
	t_ok(lookup_is(dk, "new.example", "dave", "pw4"), "other entries survive a logout");
	t_ok(reg_auth_remove(dk, "docker.io", &e) == -ENOENT && strstr(e.msg, "not logged in"),
	     "logout twice: %s", e.msg);

	_cleanup_free_ char *bad = xasprintf("%s/bad.json", dir);
	write_text(bad, "[\"not an object\"]");
	t_ok(reg_auth_store(bad, "r.example", "u", "p", &e) == -EINVAL && strstr(e.msg, "not touching"),
	     "a file that is not a JSON object is refused: %s", e.msg);
	free(data);
	data = NULL;
	t_ok(read_file_at(AT_FDCWD, bad, 4096, &data, &len) == 0 && strcmp(data, "[\"not an object\"]") == 0,
	     "and left as it was");

	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
