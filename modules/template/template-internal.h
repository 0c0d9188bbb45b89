/* Private to modules/template. */
#ifndef UCRT_TEMPLATE_INTERNAL_H
#define UCRT_TEMPLATE_INTERNAL_H

#include "template/template.h"
#include "vm/vm.h"

/* The per-build files a template VM is started with (placeholders when
 * only its key is wanted). */
struct tmpl_paths {
	const char *disk;	/* placeholder root disk (sparse, zeros) */
	const char *share;	/* empty directory behind every share */
	const char *ram;	/* RAM file */
	const char *console;	/* console log, or NULL */
};
/* The template VM of shape s: what every clone's layout must match. */
void tmpl_vm_config(const struct tmpl_shape *s, const struct tmpl_paths *p, struct vm_config *c);
/* The host as templates use it: agent over virtio-serial (a vsock
 * connection does not survive the restore). */
void tmpl_host(const struct vm_host *h, struct vm_host *out);
/* Where RAM files go for root (malloc'ed). */
#define TMPL_SHM "/dev/shm"
#define TMPL_SHM_PREFIX "ucrt-templates-"
char *tmpl_ram_dir(const char *root);
/* Record root as the owner of ramdir (for tmpl_sweep). */
void tmpl_ram_dir_claim(const char *ramdir, const char *root);
/* Remove shm/ucrt-templates-* directories whose recorded store no longer
 * has a templates/ directory (a deleted scratch root), except self's;
 * returns how many. */
unsigned tmpl_sweep(const char *shm, const char *self);
/* templates/ under root, created when create (O_DIRECTORY fd), or -errno. */
int tmpl_dir_open(const char *root, bool create);
bool tmpl_key_ok(const char *key);
/* Remove templates/<name> (fd tfd) and the RAM file its ram link names. */
int tmpl_dir_remove_path(int tfd, const char *name);

#define TMPL_MAC "02:75:00:00:00:01"
#define TMPL_SHARE_TAG "ucrt%u"	/* = modules/container/mount.c */

#endif
