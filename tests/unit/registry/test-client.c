/* The client on the reactor without a registry: reg_run drives a fiber to
 * completion; pull, push and login against a loopback port nobody listens
 * on fail after the configured tries, backing off in between, with an
 * error naming the URL, and leave the store untouched. The registry
 * itself is exercised by tests/integration/image-*.sh. */
#include "tests/lib/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "loop.h"
#include "registry/registry.h"
#include "str.h"
#include "util.h"

struct job {
	struct reg_client *c;
	struct store *s;
	struct oci_ref ref;
	int r;
	struct err err;
	char digest[OCI_DIGEST_LEN + 1];
	struct reg_pull_result res;
	int events;
};

/* A loopback port with nothing listening: bind, read the port, close. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	close(fd);
	return ntohs(a.sin_port);
}

static void on_progress(void *arg, const struct reg_progress *p)
{
	((struct job *)arg)->events++;
}

static void do_pull(void *arg)
{
	struct job *j = arg;
	struct reg_pull_opts o = { .progress = on_progress, .progress_arg = j };
	j->r = reg_pull(j->c, j->s, &j->ref, &o, &j->res, &j->err);
}

static void do_login(void *arg)
{
	struct job *j = arg;
	j->r = reg_login_check(j->c, j->ref.domain, "u", "p", &j->err);
}

static void do_push(void *arg)
{
	struct job *j = arg;
	struct store_image img = { .name = "x", .digest = "sha256:" "00000000000000000000000000000000"
					      "00000000000000000000000000000000" };
	img.manifest = img.digest;
	j->r = reg_push(j->c, j->s, &img, &j->ref, NULL, j->digest, &j->err);
}

static void do_nothing(void *arg)
{
	(*(int *)arg)++;
}

int main(void)
{
	struct loop *l;
	struct err e = { 0 };
	char root[] = "/tmp/ucrt-client-XXXXXX";

	log_set_level(LOG_ERROR);
	if (loop_new(&l, 64, &e) < 0)
		t_skip_all(e.msg);
	if (!mkdtemp(root))
		t_skip_all("mkdtemp failed");

	int ran = 0;
	t_is(reg_run(l, do_nothing, &ran), 0, "reg_run runs a fiber to its end");
	t_is(ran, 1, "exactly once");

	struct job j = { 0 };
	struct reg_opts o;
	reg_opts_default(&o);
	o.retries = 3;
	o.retry_delay_ms = 40;
	t_is(reg_client_new(&j.c, l, &o, &e), 0, "client");
	t_is(store_open(&j.s, root, &e), 0, "store");
	int port = closed_port();
	_cleanup_free_ char *name = xasprintf("127.0.0.1:%d/nobody/here:v1", port);
	t_is(oci_ref_parse(name, &j.ref, &e), 0, "reference to a dead registry");

	uint64_t t0 = loop_now_ns();
	t_is(reg_run(l, do_pull, &j), 0, "pull ran");
	uint64_t ms = (loop_now_ns() - t0) / 1000000;
	t_ok(j.r == -EIO, "pull from a closed port fails with EIO (%d)", j.r);
	_cleanup_free_ char *port_s = xasprintf(":%d/v2/nobody/here/manifests/v1", port);
	t_ok(strstr(j.err.msg, port_s) && strstr(j.err.msg, "gave up after 3 tries"),
	     "error names the URL and the retries: %s", j.err.msg);
	/* Backoff 40 ms, then 80 ms between three tries, each jittered down
	 * to no less than half. */
	t_ok(ms >= 60 && ms < 5000, "backoff between tries (%llu ms)", (unsigned long long)ms);
	t_is(j.events, 0, "no blob progress for a manifest that never came");
	struct store_image *v = NULL;
	size_t n = 9;
	char **blobs = NULL;
	t_ok(store_image_list(j.s, &v, &n, &e) == 0 && n == 0, "no image named");
	t_ok(store_blob_list(j.s, &blobs) == 0 && !blobs[0], "no blob stored");
	store_images_free(v, n);
	strv_free(blobs);

	memset(&j.err, 0, sizeof(j.err));
	t_is(reg_run(l, do_login, &j), 0, "login ran");
	t_ok(j.r == -EIO && strstr(j.err.msg, "/v2/"), "login to a closed port fails: %s", j.err.msg);

	memset(&j.err, 0, sizeof(j.err));
	t_is(reg_run(l, do_push, &j), 0, "push ran");
	t_ok(j.r < 0 && j.err.msg[0], "push of an image the store lacks fails: %s", j.err.msg);

	reg_client_free(j.c);
	t_is(loop_pending(l), 0, "no reactor op left after the client is freed");
	oci_ref_free(&j.ref);
	store_close(j.s);
	loop_free(l);
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", root);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
