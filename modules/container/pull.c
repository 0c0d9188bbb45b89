/* Pull a missing image for `ucrt run`, through modules/registry. */
#include <errno.h>

#include "container-internal.h"
#include "err.h"

int ctr_image_pull(struct loop *l, struct store *s, const char *norm_ref,
		   const struct ctr_image_opts *o, struct err *err)
{
	return err_set(err, ENOSYS, "image %s is not in the store and this build cannot pull it yet "
		       "(modules/registry missing)", norm_ref);
}
