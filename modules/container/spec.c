/* The container's process from the image config and the command line,
 * with docker's override rules. Pure string work: unit-tested alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "oci/oci.h"
#include "str.h"
#include "util.h"

#define CTR_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static size_t ctr_key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

const char *ctr_env_get(char *const *env, const char *key)
{
	size_t n = strlen(key);

	for (; env && *env; env++) {
		if (ctr_key_len(*env) == n && strncmp(*env, key, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	}
	return NULL;
}

void ctr_env_set(char ***env, const char *key, const char *value)
{
	size_t n = strlen(key);
	char *kv = xasprintf("%s=%s", key, value);

	for (char **e = *env; e && *e; e++) {
		if (ctr_key_len(*e) == n && strncmp(*e, key, n) == 0) {
			free(*e);
			*e = kv;
			return;
		}
	}
	strv_push(env, kv);
	free(kv);
}

/* Append "K=V" with override by key. */
static void ctr_env_put(char ***env, const char *kv)
{
	_cleanup_free_ char *key = xstrndup(kv, ctr_key_len(kv));

	ctr_env_set(env, key, kv + strlen(key) + 1);
}

static bool ctr_env_key_valid(const char *k, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		/* docker accepts almost anything but '=' and whitespace */
		if (k[i] == '=' || k[i] == ' ' || k[i] == '\t' || k[i] == '\n' || k[i] == 0)
			return false;
	}
	return true;
}

int ctr_env_arg(char ***env, const char *arg, const char *(*lookup)(const char *key),
		struct err *err)
{
	size_t n = ctr_key_len(arg);

	if (!ctr_env_key_valid(arg, n))
		return err_set(err, EINVAL, "invalid environment variable '%s'", arg);
	if (strchr(arg, '\n'))
		return err_set(err, EINVAL, "environment variable '%.*s' holds a newline", (int)n, arg);
	if (arg[n] == '=') {
		strv_push(env, arg);
		return 0;
	}
	const char *v = lookup ? lookup(arg) : NULL;
	if (v) {
		_cleanup_free_ char *kv = xasprintf("%s=%s", arg, v);
		strv_push(env, kv);
	}
	return 0;
}

int ctr_env_file(char ***env, const char *path, const char *(*lookup)(const char *key),
		 struct err *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_strv_ char **lines = NULL;
	size_t len;
	int r = read_file_at(AT_FDCWD, path, 1u << 20, &text, &len);

	if (r < 0)
		return err_setx(err, r, "env file %s", path);
	if (strlen(text) != len)
		return err_set(err, EINVAL, "env file %s: holds a NUL byte", path);
	lines = str_split(text, '\n');
	for (size_t i = 0; lines[i]; i++) {
		char *l = lines[i];
		size_t ll = strlen(l);

		if (ll && l[ll - 1] == '\r')
			l[--ll] = 0;
		while (*l == ' ' || *l == '\t')
			l++;
		if (!*l || *l == '#')
			continue;
		r = ctr_env_arg(env, l, lookup, err);
		if (r < 0)
			return err_wrap(err, "env file %s line %zu", path, i + 1);
	}
	return 0;
}

void ctr_spec_free(struct ctr_spec *s)
{
	strv_free(s->argv);
	strv_free(s->env);
	free(s->cwd);
	free(s->user);
	free(s->root);
	memset(s, 0, sizeof(*s));
}

static void ctr_strv_append(char ***dst, char *const *src)
{
	for (; src && *src; src++)
		strv_push(dst, *src);
}

int ctr_spec_build(const struct oci_image_config *img, const struct ctr_overrides *o,
		   struct ctr_spec *out, struct err *err)
{
	struct ctr_spec s = { 0 };
	bool have_cmd = o->cmd && o->cmd[0];

	/* Entrypoint and cmd: --entrypoint drops the image's cmd too
	 * (docker resets it), CMD args replace the image's cmd. */
	if (o->entrypoint_set) {
		if (o->entrypoint && *o->entrypoint)
			strv_push(&s.argv, o->entrypoint);
	} else {
		ctr_strv_append(&s.argv, img ? img->entrypoint : NULL);
	}
	if (have_cmd)
		ctr_strv_append(&s.argv, o->cmd);
	else if (!o->entrypoint_set)
		ctr_strv_append(&s.argv, img ? img->cmd : NULL);
	if (!s.argv || !s.argv[0] || !s.argv[0][0]) {
		ctr_spec_free(&s);
		return err_set(err, EINVAL, "no command specified (the image has no entrypoint or cmd)");
	}

	for (char *const *e = img ? img->env : NULL; e && *e; e++) {
		if (strchr(*e, '='))
			ctr_env_put(&s.env, *e);
	}
	for (char *const *e = o->env; e && *e; e++)
		ctr_env_put(&s.env, *e);
	if (!ctr_env_get(s.env, "PATH"))
		ctr_env_set(&s.env, "PATH", CTR_DEFAULT_PATH);

	const char *wd = o->workdir && *o->workdir ? o->workdir
		       : img && img->working_dir && *img->working_dir ? img->working_dir : "/";
	if (wd[0] != '/') {
		ctr_spec_free(&s);
		return err_set(err, EINVAL, "working directory '%s' is not absolute", wd);
	}
	s.cwd = xstrdup(wd);
	s.user = xstrdup(o->user ? o->user : img && img->user ? img->user : "");
	*out = s;
	return 0;
}

/* Field i (0-based) of a colon-separated line, copied; NULL if absent. */
static char *ctr_field(const char *line, int i)
{
	for (; i > 0; i--) {
		line = strchr(line, ':');
		if (!line)
			return NULL;
		line++;
	}
	return xstrndup(line, strcspn(line, ":\n"));
}

/* The line of a passwd/group text whose name (field 0) or id (field 2)
 * matches; by_id uses the number. */
static const char *ctr_db_find(const char *text, const char *name, bool by_id, uint32_t id)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		_cleanup_free_ char *f0 = ctr_field(l, 0);
		_cleanup_free_ char *f2 = ctr_field(l, 2);
		uint64_t v;

		if (!f0 || !f2 || *l == '#')
			continue;
		if (!by_id && strcmp(f0, name) == 0)
			return l;
		if (by_id && str_to_u64(f2, &v) == 0 && v == id)
			return l;
	}
	return NULL;
}

static int ctr_parse_id(const char *s, uint32_t *out)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v > 0xfffffffeu)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int ctr_user_resolve(const char *user, const char *passwd, const char *group,
		     uint32_t *uid, uint32_t *gid, char **home, struct err *err)
{
	_cleanup_free_ char *u = xstrdup(user && *user ? user : "0");
	char *g = strchr(u, ':');
	const char *pw;
	uint64_t v;

	if (g)
		*g++ = 0;
	if (home)
		*home = NULL;
	bool numeric = ctr_parse_id(u, uid) == 0;
	pw = passwd ? ctr_db_find(passwd, u, numeric, *uid) : NULL;
	if (!numeric) {
		if (!pw)
			return err_set(err, ENOENT, "unable to find user %s: no matching entries in passwd file", u);
		_cleanup_free_ char *f2 = ctr_field(pw, 2);
		if (!f2 || ctr_parse_id(f2, uid) < 0)
			return err_set(err, EINVAL, "passwd entry of %s has a bad uid", u);
	}
	*gid = 0;
	if (pw) {
		_cleanup_free_ char *f3 = ctr_field(pw, 3);
		if (f3 && str_to_u64(f3, &v) == 0 && v <= 0xfffffffeu)
			*gid = (uint32_t)v;
		if (home)
			*home = ctr_field(pw, 5);
	}
	if (g && *g) {
		if (ctr_parse_id(g, gid) < 0) {
			const char *gr = group ? ctr_db_find(group, g, false, 0) : NULL;
			_cleanup_free_ char *f2 = gr ? ctr_field(gr, 2) : NULL;
			if (!f2 || ctr_parse_id(f2, gid) < 0)
				return err_set(err, ENOENT, "unable to find group %s: no matching entries in group file", g);
		}
	}
	if (home && *home && !**home) {
		free(*home);
		*home = NULL;
	}
	return 0;
}

int ctr_spec_resolve_user(struct ctr_spec *s, const char *disk, struct err *err)
{
	_cleanup_free_ char *passwd = NULL, *group = NULL, *home = NULL;
	struct err e2 = { 0 };
	int r;

	r = ctr_disk_read_file(disk, "/etc/passwd", 4u << 20, &passwd, &e2);
	if (r < 0 && r != -ENOENT)
		return err_set(err, -r, "%s", err_msg(&e2));
	r = ctr_disk_read_file(disk, "/etc/group", 4u << 20, &group, &e2);
	if (r < 0 && r != -ENOENT)
		return err_set(err, -r, "%s", err_msg(&e2));
	r = ctr_user_resolve(s->user, passwd, group, &s->uid, &s->gid, &home, err);
	if (r < 0)
		return r;
	if (!ctr_env_get(s->env, "HOME"))
		ctr_env_set(&s->env, "HOME", home ? home : s->uid == 0 ? "/root" : "/");
	return 0;
}
