/* Pull a missing image for `ucrt run`, through modules/registry: the
 * registry client runs in a fiber on the process's reactor. Progress goes
 * to stderr as one line per layer (stdout belongs to the container). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "container-internal.h"
#include "err.h"
#include "loop.h"
#include "oci/oci.h"
#include "registry/registry.h"
#include "store/store.h"
#include "util.h"

struct ctr_pull_job {
	struct reg_client *rc;
	struct store *s;
	struct oci_ref ref;
	struct reg_pull_result res;
	bool quiet;
	const struct oci_platform *platform;
	struct ctr_stream *stream;
	int r;
	struct err err;
};

static void ctr_pull_progress(void *arg, const struct reg_progress *p)
{
	struct ctr_pull_job *j = arg;

	if (j->quiet)
		return;
	if (p->ev == REG_EV_BLOB_DONE)
		fprintf(stderr, "%.19s: pulled\n", p->digest);
	else if (p->ev == REG_EV_BLOB_SKIP)
		fprintf(stderr, "%.19s: already present\n", p->digest);
	else if (p->ev == REG_EV_RETRY)
		fprintf(stderr, "%.19s: retrying: %s\n", p->digest ? p->digest : "", p->msg ? p->msg : "");
}

static void ctr_pull_fn(void *arg)
{
	struct ctr_pull_job *j = arg;
	struct reg_layer_hook hk;
	struct reg_pull_opts po = { .progress = ctr_pull_progress, .progress_arg = j, .hook = &hk,
				    .platform = j->platform };

	ctr_stream_hook(j->stream, &hk);
	j->r = reg_pull(j->rc, j->s, &j->ref, &po, &j->res, &j->err);
	/* A disk that failed fails the pull: it names the layer and entry. */
	j->r = ctr_stream_end(j->stream, j->r, &j->err);
}

int ctr_image_pull(struct loop *l, struct store *s, const char *norm_ref,
		   const struct ctr_image_opts *o, struct err *err)
{
	struct ctr_pull_job j = { .s = s, .quiet = o->quiet, .platform = o->platform };
	struct reg_opts ro;
	int r;

	reg_opts_default(&ro);
	ro.tls_verify = o->tls_verify;
	r = oci_ref_parse(norm_ref, &j.ref, err);
	if (r < 0)
		return r;
	if (!o->quiet && o->platform) {
		_cleanup_free_ char *ps = oci_platform_string(o->platform);
		fprintf(stderr, "Unable to find image '%s' (%s) locally: pulling\n", norm_ref, ps);
	} else if (!o->quiet) {
		fprintf(stderr, "Unable to find image '%s' locally: pulling\n", norm_ref);
	}
	r = reg_client_new(&j.rc, l, &ro, err);
	if (r < 0) {
		oci_ref_free(&j.ref);
		return r;
	}
	j.stream = ctr_stream_new(l, s);
	r = reg_run(l, ctr_pull_fn, &j);
	if (r < 0 && j.r >= 0)
		j.r = err_setx(&j.err, r, "event loop");
	ctr_stream_free(j.stream);
	reg_client_free(j.rc);
	/* curl's closed sockets leave cancelled polls to complete. */
	while (loop_pending(l) && loop_run_once(l, false) > 0)
		;
	oci_ref_free(&j.ref);
	if (j.r < 0) {
		*err = j.err;
		return err_wrap(err, "pulling %s", norm_ref);
	}
	return 0;
}
