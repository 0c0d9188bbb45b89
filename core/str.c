/* String helpers. */
#include "str.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

bool str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int str_index(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

bool str_endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

char **str_split(const char *s, char sep)
{
	size_t n = 1;
	for (const char *p = s; *p; p++)
		n += *p == sep;
	char **v = xcalloc(n + 1, sizeof(char *));
	size_t i = 0;
	for (const char *start = s;; ) {
		const char *end = strchr(start, sep);
		if (!end) {
			v[i++] = xstrdup(start);
			break;
		}
		v[i++] = xstrndup(start, (size_t)(end - start));
		start = end + 1;
	}
	return v;
}

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **strv_dup(char *const *v)
{
	size_t n = strv_len(v);
	char **d = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		d[i] = xstrdup(v[i]);
	return d;
}

void strv_push(char ***v, const char *s)
{
	size_t n = strv_len(*v);
	*v = xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = xstrdup(s);
	(*v)[n + 1] = NULL;
}

int str_to_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int str_to_size(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	size_t n = strlen(s);
	unsigned shift = 0;
	char last = (char)tolower((unsigned char)s[n - 1]);
	const char *units = "kmgt";
	const char *u = strchr(units, last);
	if (last && u) {
		shift = 10 * (unsigned)(u - units + 1);
		n--;
	} else if (last == 'b') {
		n--;
	}
	_cleanup_free_ char *num = xstrndup(s, n);
	uint64_t v;
	int r = str_to_u64(num, &v);
	if (r < 0)
		return r;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = 0;
}

bool str_is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[len] == 0;
}
