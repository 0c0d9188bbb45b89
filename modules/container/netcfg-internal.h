/* Private to modules/container: one VM's network during a launch
 * (netcfg.c), used by launch.c. */
#ifndef UCRT_CONTAINER_NETCFG_INTERNAL_H
#define UCRT_CONTAINER_NETCFG_INTERNAL_H

#include "container/container.h"

struct agent_config;
struct vm_config;
struct ctr_netvm;

/* Lease an address, create the tap and attach its filter for cfg's VM
 * (modules/net net_vm_create), record them in network.json when the
 * container has a directory, and point vc at the tap and MAC. *out stays
 * NULL when o says --network none (or h is NULL).
 * Blocking (netlink round trips, the lease flock, a BPF load): called
 * from ctr_start, i.e. during setup or from a launch callback, never per
 * packet or per frame. */
int ctr_netvm_create(struct ctr_nethost *h, const struct ctr_net_opts *o,
		     const struct ctr_config *cfg, struct vm_config *vc, struct ctr_netvm **out,
		     struct err *err);
/* Add eth0's address, gateway, MTU, DNS and the name's hosts line to ac;
 * the strings stay owned by n (valid until ctr_netvm_destroy). */
void ctr_netvm_agent_config(struct ctr_netvm *n, const struct ctr_config *cfg,
			    struct agent_config *ac);
/* Delete the tap, release the lease. NULL is fine. */
void ctr_netvm_destroy(struct ctr_netvm *n);

#endif
