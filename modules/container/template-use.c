/* Containers restored from VM templates (docs/vm.md, Templates). After
 * ctr_templates_use, ctr_start makes each VM a clone of the template of
 * its shape when one exists; when none does, the VM boots cold and the
 * template is built in the background for the runs after it, so no run
 * waits for a template. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container-internal.h"
#include "err.h"
#include "log.h"
#include "str.h"
#include "template/template.h"
#include "util.h"
#include "vm/vm.h"

static char *ctr_tmpl_root;

void ctr_templates_use(const char *root)
{
	free(ctr_tmpl_root);
	ctr_tmpl_root = root && tmpl_enabled(true) ? xstrdup(root) : NULL;
}

bool ctr_template_attach(const char *name, const struct vm_host *h, struct vm_config *vc,
			 struct ctr_clone *cl)
{
	char key[TMPL_KEY_LEN + 1];
	const char *why = NULL;
	struct tmpl_shape s;
	int r;

	memset(cl, 0, sizeof(*cl));
	cl->state_fd = -1;
	if (!ctr_tmpl_root)
		return false;
	r = tmpl_attach(ctr_tmpl_root, h, vc, &cl->files, &cl->state_fd, &why, key);
	if (r == 1) {
		cl->active = true;
		cl->cmdline = vc->cmdline ? xstrdup(vc->cmdline) : NULL;
		if (vc->mac && sscanf(vc->mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &cl->mac[0], &cl->mac[1],
				      &cl->mac[2], &cl->mac[3], &cl->mac[4], &cl->mac[5]) == 6)
			cl->has_mac = true;
		log_debug("container %s: restoring from template %.12s", name, key);
		return true;
	}
	log_debug("container %s: cold boot (template: %s)", name, why ? why : "?");
	if (tmpl_shape_of(h, vc, &s, &why))
		tmpl_build_background("/proc/self/exe", ctr_tmpl_root, h, &s);
	return false;
}

int ctr_template_detach(const char *name, struct loop *l, const struct vm_host *h, struct vm_config *vc,
			const struct vm_events *ev, void *data, struct ctr_clone *cl, struct vm **out,
			struct err *err)
{
	/* The template went away under us (a prune): boot cold instead. */
	log_warn("container %s: restoring from the VM template: %s; booting cold", name, err_msg(err));
	ctr_clone_release(cl);
	vc->mem_path = NULL;
	vc->incoming = false;
	vc->migrate_fd = -1;
	*err = (struct err){ 0 };
	return vm_start(l, h, vc, ev, data, out, err);
}

void ctr_clone_started(struct ctr_clone *cl)
{
	if (cl->state_fd >= 0)
		close(TAKE_FD(cl->state_fd));	/* QEMU has its copy */
}

int ctr_clone_resume(const struct ctr_clone *cl, int agent_fd)
{
	return tmpl_resume_send(agent_fd, cl->cmdline);
}

void ctr_clone_release(struct ctr_clone *cl)
{
	ctr_clone_started(cl);
	tmpl_files_release(&cl->files);
	free(cl->cmdline);
	cl->cmdline = NULL;
	cl->active = false;
}
