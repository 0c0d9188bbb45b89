/* Tar member names -> paths inside the image root. Lexical only: symlinks
 * are resolved later against the image itself (tree.c), never the host. */
#include "ext4-internal.h"

#include <errno.h>
#include <string.h>

int ext4w_path_normalise(const char *in, char *out, size_t outlen)
{
	size_t len = 0;
	if (outlen == 0)
		return -ENAMETOOLONG;
	out[0] = 0;
	const char *p = in;
	while (*p) {
		while (*p == '/')
			p++;
		const char *c = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - c);
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			/* pop, clamped at the root */
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			out[len] = 0;
			continue;
		}
		if (n > EXT2_NAME_LEN)
			return -ENAMETOOLONG;
		if (len + (len ? 1 : 0) + n + 1 > outlen)
			return -ENAMETOOLONG;
		if (len)
			out[len++] = '/';
		memcpy(out + len, c, n);
		len += n;
		out[len] = 0;
	}
	return 0;
}

void ext4w_path_split(char *path, const char **dir, const char **base)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*dir = "";
		*base = path;
		return;
	}
	*slash = 0;
	*dir = path;
	*base = slash + 1;
}
