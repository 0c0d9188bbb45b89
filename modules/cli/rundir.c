/* Where a user's runtime files go (docs/security.md, "Local unprivileged
 * user"). Root uses fixed system paths; an ordinary user gets
 * $XDG_RUNTIME_DIR (made 0700 for them by the login manager) or, without
 * one, /tmp/ucrt-<uid>, which another user could have made first: it is
 * used only when it is a real directory of the caller's with no access
 * for anyone else. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "util.h"

static int cli_private_dir(const char *path, struct err *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_setx(err, errno, "creating %s", path);
	if (lstat(path, &st) < 0)
		return err_setx(err, errno, "%s", path);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return err_set(err, EPERM, "%s is not a private directory of uid %u (owner %u, mode %03o): "
			       "refusing to keep runtime files there", path, (unsigned)geteuid(),
			       (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

int cli_runtime_dir(const char *name, char **out, struct err *err)
{
	_cleanup_free_ char *base = user_runtime_dir();
	int r;

	*out = NULL;
	if ((r = cli_private_dir(base, err)) < 0)
		return r;
	*out = xasprintf("%s/%s", base, name);
	if ((r = cli_private_dir(*out, err)) < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}
