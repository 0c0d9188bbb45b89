/* Container labels (--label on run): KEY=VALUE strings kept in
 * config.json, shown by inspect and matched by `ps --filter label=`. */
#include "container/container.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "str.h"
#include "util.h"

int ctr_label_arg(char ***labels, const char *arg, struct err *err)
{
	const char *eq = strchr(arg, '=');
	size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);

	if (klen == 0)
		return err_set(err, EINVAL, "invalid label '%s': empty key (want KEY=VALUE)", arg);
	for (const char *p = arg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(err, EINVAL, "invalid label '%s': control character", arg);
	_cleanup_free_ char *kv = eq ? xstrdup(arg) : xasprintf("%s=", arg);
	for (char **l = *labels; l && *l; l++) {
		if (strncmp(*l, kv, klen + 1) == 0) {
			free(*l);
			*l = TAKE_PTR(kv);
			return 0;
		}
	}
	strv_push(labels, kv);
	return 0;
}
