/* A string set with open addressing: per-layer bookkeeping for whiteouts
 * (which names this layer created). Keys are copied. */
#include "ext4-internal.h"
#include "util.h"

#include <string.h>

static uint64_t set_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static size_t set_slot(char *const *keys, size_t cap, const char *key)
{
	size_t i = set_hash(key) & (cap - 1);
	while (keys[i] && strcmp(keys[i], key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static void set_grow(struct ext4w_set *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 256;
	char **nk = xcalloc(ncap, sizeof(*nk));
	for (size_t i = 0; i < s->cap; i++)
		if (s->keys[i])
			nk[set_slot(nk, ncap, s->keys[i])] = s->keys[i];
	free(s->keys);
	s->keys = nk;
	s->cap = ncap;
}

bool ext4w_set_add(struct ext4w_set *s, const char *key)
{
	if ((s->len + 1) * 2 > s->cap)
		set_grow(s);
	size_t i = set_slot(s->keys, s->cap, key);
	if (s->keys[i])
		return false;
	s->keys[i] = xstrdup(key);
	s->len++;
	return true;
}

bool ext4w_set_has(const struct ext4w_set *s, const char *key)
{
	if (!s->cap)
		return false;
	return s->keys[set_slot(s->keys, s->cap, key)] != NULL;
}

void ext4w_set_clear(struct ext4w_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->keys[i]);
	free(s->keys);
	s->keys = NULL;
	s->cap = s->len = 0;
}
