/* modules/container: the bundle root's hook into ctr_mounts_attach. */
#ifndef UCRT_CONTAINER_BUNDLE_INTERNAL_H
#define UCRT_CONTAINER_BUNDLE_INTERNAL_H

#include <stdbool.h>

struct ctr_config;
struct vm_config;

#define CTR_BUNDLE_ROOT_TAG "ucrtroot"

/* The kernel command line that makes guest-init mount the root share
 * (malloc'ed). */
char *ctr_bundle_root_cmdline(const struct ctr_config *cfg);
/* Replace vc's root disk with the share of cfg->root_dir; cmdline (from
 * ctr_bundle_root_cmdline) must live as long as vc. */
void ctr_bundle_root_share(const struct ctr_config *cfg, struct vm_config *vc, const char *cmdline);

/* The namespace's tap and MAC for QEMU; its addresses for guest-init. */
struct agent_config;
struct ctr_bundle_net;
void ctr_bundle_net_vm(const struct ctr_bundle_net *n, struct vm_config *vc);
void ctr_bundle_net_agent(const struct ctr_bundle_net *n, struct agent_config *ac);

/* Make the mount point dst (absolute) below the directory rootfd: the
 * missing directories, and dst itself as an empty file when file. Every
 * component is opened with O_NOFOLLOW: a symlink or a non-directory on
 * the way stops it, returning 0 (what mounts there then fails and says
 * why). bundle-mnt.c */
int ctr_mountpoint_make(int rootfd, const char *dst, bool file);

#endif
