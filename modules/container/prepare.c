/* From a command line's request to a container ready to start: the image
 * (pulled when missing), the process spec merged from the image config and
 * the overrides, the mounts resolved, and, unless the instances are not
 * kept (--parallel), containers/<id>/ with config.json, network.json and
 * the overlay disk. `exec` in a running container merges its spec here too.
 * The CLI parses and prints; these decide. */
#include <errno.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "oci/oci.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

/* A tty gets TERM (curses programs need one) unless the image or -e chose. */
static void ctr_spec_default_term(struct ctr_spec *s, const char *term)
{
	if (s->tty && !ctr_env_get(s->env, "TERM"))
		ctr_env_set(&s->env, "TERM", term && *term ? term : "xterm");
}

static int ctr_prepare_spec(const struct ctr_run_request *rq, const struct ctr_image *img,
			    struct ctr_config *cfg, struct err *err)
{
	int r;

	if ((r = ctr_spec_build(img->config, &rq->ov, &cfg->spec, err)) < 0 ||
	    (r = ctr_spec_resolve_user(&cfg->spec, img->disk, err)) < 0)
		return r;
	cfg->spec.tty = rq->tty;
	cfg->spec.stdin_open = rq->interactive;
	ctr_spec_default_term(&cfg->spec, rq->ov.term);
	return 0;
}

/* policy.json: the restart policy and the health check, the image's
 * Healthcheck with the options over it. */
static int ctr_prepare_policy(const char *root, const struct ctr_policy_opts *po,
			      const struct ctr_image *img, const struct ctr_config *cfg, struct err *err)
{
	struct ctr_policy p = { .restart = po->restart };
	int r = ctr_health_resolve(&img->config->healthcheck, &po->health, &p.health, err);

	if (r == 0)
		r = ctr_policy_write(root, cfg->id, &p, !cfg->rm, err);
	ctr_policy_free(&p);
	return r;
}

/* The container directory and everything in it; removed again on failure. */
static int ctr_prepare_kept(const char *root, const struct ctr_run_request *rq, const struct ctr_image *img,
			    struct ctr_config *cfg, struct err *err)
{
	int r;

	if ((r = ctr_create(root, cfg, err)) < 0)
		return r;
	if ((r = ctr_mounts_add_image_volumes(img->config->volumes, cfg->id, cfg->rm, &cfg->mounts,
						&cfg->nmounts, err)) < 0 ||
	    (r = ctr_mounts_resolve(root, cfg->id, cfg->mounts, cfg->nmounts, err)) < 0)
		goto fail;
	cfg->hostname = rq->hostname ? xstrdup(rq->hostname) : xstrndup(cfg->id, CTR_SHORT_ID);
	if (!ctr_env_get(cfg->spec.env, "HOSTNAME"))
		ctr_env_set(&cfg->spec.env, "HOSTNAME", cfg->hostname);
	if (!cfg->rm) {
		/* A kept container writes to its own overlay: its changes
		 * survive a stop and are gone with rm. */
		cfg->overlay = ctr_path(root, cfg->id, "disk.qcow2");
		if ((r = vm_overlay_create(cfg->overlay, cfg->disk, err)) < 0)
			goto fail;
	}
	if (rq->policy && (r = ctr_prepare_policy(root, rq->policy, img, cfg, err)) < 0)
		goto fail;
	if (rq->net && rq->publish_all)
		ctr_ports_expose(rq->net, img->config->exposed_ports);
	if ((r = ctr_config_write(root, cfg, err)) < 0 ||
	    (rq->net && (r = ctr_net_opts_write(root, cfg->id, rq->net, !cfg->rm, err)) < 0))
		goto fail;
	return 0;
fail:
	ctr_remove(root, cfg->id, true, NULL);
	return r;
}

int ctr_run_prepare(struct loop *l, const char *root, const struct ctr_run_request *rq,
		    struct ctr_image *img, struct ctr_config *cfg, struct err *err)
{
	int r;

	if (!rq->image == !rq->rootfs)
		return err_set(err, EINVAL, "give an image or a disk, not %s", rq->image ? "both" : "neither");
	if (rq->rootfs)
		r = ctr_image_from_disk(rq->rootfs, img, err);
	else
		r = ctr_image_get(l, root, rq->image, &rq->image_opts, img, err);
	if (r < 0)
		return r;
	free(cfg->image);
	free(cfg->image_id);
	free(cfg->disk);
	cfg->image = xstrdup(rq->image ? rq->image : rq->rootfs);
	cfg->image_id = xstrdup(img->id);
	cfg->disk = xstrdup(img->disk);
	if (rq->instances)
		cfg->rm = true;
	if (!cfg->cpus)
		cfg->cpus = 1;
	if (!cfg->accel)
		cfg->accel = xstrdup("auto");
	if ((r = ctr_prepare_spec(rq, img, cfg, err)) < 0 ||
	    (r = ctr_emulator_mount(root, img->config, &cfg->mounts, &cfg->nmounts, err)) < 0)
		return r;
	if (rq->instances) {
		/* Instances are not kept: no container directory (id NULL). */
		if ((r = ctr_mounts_add_image_volumes(img->config->volumes, NULL, true, &cfg->mounts,
							&cfg->nmounts, err)) < 0)
			return r;
		return ctr_mounts_resolve(root, NULL, cfg->mounts, cfg->nmounts, err);
	}
	return ctr_prepare_kept(root, rq, img, cfg, err);
}

int ctr_exec_spec(const struct ctr_config *cfg, const struct ctr_overrides *o, bool tty, bool stdin_open,
		  struct ctr_spec *out, struct err *err)
{
	const char *cwd = o->workdir ? o->workdir : cfg->spec.cwd ? cfg->spec.cwd : "/";
	int r;

	memset(out, 0, sizeof(*out));
	if (!o->cmd || !o->cmd[0])
		return err_set(err, EINVAL, "exec needs a command");
	if (cwd[0] != '/')
		return err_set(err, EINVAL, "working directory '%s' is not absolute", cwd);
	/* The container's environment and user, then the exec's options. */
	*out = (struct ctr_spec){
		.argv = strv_dup(o->cmd), .env = strv_dup(cfg->spec.env), .cwd = xstrdup(cwd),
		.user = xstrdup(o->user ? o->user : cfg->spec.user ? cfg->spec.user : ""),
		.uid = cfg->spec.uid, .gid = cfg->spec.gid, .tty = tty, .stdin_open = stdin_open,
	};
	for (char *const *kv = o->env; kv && *kv; kv++) {
		_cleanup_free_ char *k = xstrndup(*kv, strcspn(*kv, "="));
		ctr_env_set(&out->env, k, (*kv)[strlen(k)] ? *kv + strlen(k) + 1 : "");
	}
	ctr_spec_default_term(out, o->term);
	/* A user of its own is looked up again in the image. */
	if (o->user && (r = ctr_spec_resolve_user(out, cfg->disk, err)) < 0) {
		ctr_spec_free(out);
		return r;
	}
	return 0;
}
