/* Private to modules/container. */
#ifndef UCRT_CONTAINER_INTERNAL_H
#define UCRT_CONTAINER_INTERNAL_H

#include <sys/socket.h>
#include <sys/un.h>

#include "container/container.h"

struct store;

/* Pull norm_ref (full "domain/path:tag") into the store (pull.c). */
int ctr_image_pull(struct loop *l, struct store *s, const char *norm_ref,
		   const struct ctr_image_opts *o, struct err *err);

/* Unix socket address of the supervisor (ctl.sock), short even when the
 * container dir's path is long: bound/connected through /proc/self/fd. */
int ctr_ctl_addr(int dirfd, struct sockaddr_un *sa, socklen_t *len);

#endif
