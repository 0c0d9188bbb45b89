/* The pull verb: modules/registry on the caller's reactor, in a fiber,
 * with the image's disk written by the layer hook of stream.c while the
 * layers download. `run`'s pull of a missing image prints one progress
 * line per layer to stderr (stdout belongs to the container). */
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
	const struct oci_ref *ref;
	const struct ctr_pull_opts *o;
	struct reg_pull_result *res;
	struct ctr_stream *stream;
	int r;
	struct err err;
};

static void ctr_pull_fn(void *arg)
{
	struct ctr_pull_job *j = arg;
	struct reg_layer_hook hk;
	struct reg_pull_opts po = { .platform = j->o->platform, .progress = j->o->progress,
				    .progress_arg = j->o->progress_arg };

	if (j->stream) {
		ctr_stream_hook(j->stream, &hk);
		po.hook = &hk;
	}
	j->r = reg_pull(j->rc, j->s, j->ref, &po, j->res, &j->err);
	/* A disk that failed fails the pull: it names the layer and entry. */
	if (j->stream)
		j->r = ctr_stream_end(j->stream, j->r, &j->err);
}

int ctr_pull(struct loop *l, struct store *s, const struct oci_ref *ref, const struct ctr_pull_opts *o,
	     struct reg_pull_result *res, struct err *err)
{
	struct ctr_pull_job j = { .s = s, .ref = ref, .o = o, .res = res };
	struct reg_opts ro;
	int r;

	if (!o->reg)
		reg_opts_default(&ro);
	r = reg_client_new(&j.rc, l, o->reg ? o->reg : &ro, err);
	if (r < 0)
		return r;
	if (o->stream_disk)
		j.stream = ctr_stream_new(l, s);
	r = reg_run(l, ctr_pull_fn, &j);
	if (r < 0 && j.r >= 0)
		j.r = err_setx(&j.err, r, "event loop");
	ctr_stream_free(j.stream);
	reg_client_free(j.rc);
	/* curl's closed sockets leave cancelled polls to complete. */
	loop_drain(l);
	if (j.r < 0)
		*err = j.err;
	return j.r;
}

static void ctr_image_progress(void *arg, const struct reg_progress *p)
{
	if (p->ev == REG_EV_BLOB_DONE)
		fprintf(stderr, "%.19s: pulled\n", p->digest);
	else if (p->ev == REG_EV_BLOB_SKIP)
		fprintf(stderr, "%.19s: already present\n", p->digest);
	else if (p->ev == REG_EV_RETRY)
		fprintf(stderr, "%.19s: retrying: %s\n", p->digest ? p->digest : "", p->msg ? p->msg : "");
}

int ctr_image_pull(struct loop *l, struct store *s, const char *norm_ref,
		   const struct ctr_image_opts *o, struct err *err)
{
	struct reg_opts ro;
	struct ctr_pull_opts po = { .reg = &ro, .platform = o->platform, .stream_disk = true,
				    .progress = o->quiet ? NULL : o->progress ? o->progress : ctr_image_progress,
				    .progress_arg = o->progress_arg };
	struct reg_pull_result res;
	struct oci_ref ref;
	int r;

	reg_opts_default(&ro);
	ro.tls_verify = o->tls_verify;
	r = oci_ref_parse(norm_ref, &ref, err);
	if (r < 0)
		return r;
	if (!o->quiet && o->platform) {
		_cleanup_free_ char *ps = oci_platform_string(o->platform);
		fprintf(stderr, "Unable to find image '%s' (%s) locally: pulling\n", norm_ref, ps);
	} else if (!o->quiet) {
		fprintf(stderr, "Unable to find image '%s' locally: pulling\n", norm_ref);
	}
	r = ctr_pull(l, s, &ref, &po, &res, err);
	oci_ref_free(&ref);
	return r < 0 ? err_wrap(err, "pulling %s", norm_ref) : 0;
}
