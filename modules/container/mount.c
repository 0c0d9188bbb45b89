/* Data mounts: `-v`, `--mount` and `--tmpfs` parsed into struct ctr_mount,
 * resolved on the host once (paths, volumes, single files), then attached
 * to a VM as virtio-9p shares and virtio-blk disks that guest-init mounts
 * (PROTO_A_MOUNT). docs/run.md (Data) is the user's side. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/agent.h"
#include "bundle-internal.h"
#include "container-internal.h"
#include "container/container.h"
#include "buf.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"
#include "volume/volume.h"

static const char *const ctr_mount_types[] = {
	[CTR_MOUNT_BIND] = "bind", [CTR_MOUNT_VOLUME] = "volume",
	[CTR_MOUNT_DISK] = "disk", [CTR_MOUNT_TMPFS] = "tmpfs", [CTR_MOUNT_EMULATOR] = "emulator",
};

const char *ctr_mount_type_name(enum ctr_mount_type t)
{
	return (size_t)t < sizeof(ctr_mount_types) / sizeof(ctr_mount_types[0]) ? ctr_mount_types[t] : "?";
}

void ctr_mount_clear(struct ctr_mount *m)
{
	free(m->src);
	free(m->dst);
	free(m->opts);
	free(m->host);
	free(m->file);
	memset(m, 0, sizeof(*m));
}

void ctr_mounts_free(struct ctr_mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctr_mount_clear(&m[i]);
	free(m);
}

/* A container path: absolute, no "." or ".." components, not the root
 * itself; stored without repeated or trailing slashes. */
static int ctr_mount_dst(const char *s, size_t len, struct ctr_mount *m, struct err *err)
{
	struct buf b = BUF_INIT;
	size_t i = 0;

	if (len == 0 || s[0] != '/')
		return err_set(err, EINVAL, "mount target \"%.*s\" must be an absolute path", (int)len, s);
	if (len > PROTO_MAX_PATH || memchr(s, 0, len))
		return err_set(err, EINVAL, "mount target too long");
	while (i < len) {
		size_t j;

		while (i < len && s[i] == '/')
			i++;
		for (j = i; j < len && s[j] != '/'; j++)
			;
		if (j == i)
			break;
		if ((j - i == 1 && s[i] == '.') || (j - i == 2 && s[i] == '.' && s[i + 1] == '.')) {
			buf_free(&b);
			return err_set(err, EINVAL, "mount target \"%.*s\": no . or .. components", (int)len, s);
		}
		buf_putc(&b, '/');
		buf_append(&b, s + i, j - i);
		i = j;
	}
	if (!b.len) {
		buf_free(&b);
		return err_set(err, EINVAL, "mount target cannot be /");
	}
	m->dst = buf_steal(&b);
	return 0;
}

/* docker: a source without '/' that does not start with '.' or '~' names a
 * volume; anything else is a host path. */
static bool ctr_is_volume_name(const char *s, size_t len)
{
	return len && s[0] != '.' && s[0] != '~' && !memchr(s, '/', len);
}

/* tmpfs size= and mode= values: digits and a size suffix, octal mode. */
static int ctr_tmpfs_opt(struct buf *b, const char *k, const char *v, struct err *err)
{
	uint64_t n;

	if (strcmp(k, "size") == 0 || strcmp(k, "tmpfs-size") == 0) {
		if (str_to_size(v, &n) < 0 || n == 0)
			return err_set(err, EINVAL, "tmpfs size \"%s\": give bytes, or a number with k, m or g", v);
		buf_printf(b, "%ssize=%llu", b->len ? "," : "", (unsigned long long)n);
		return 0;
	}
	if (strcmp(k, "mode") == 0 || strcmp(k, "tmpfs-mode") == 0) {
		char *end;
		unsigned long mode = strtoul(v, &end, 8);
		if (!*v || *end || mode > 07777)
			return err_set(err, EINVAL, "tmpfs mode \"%s\": give octal permissions like 1777", v);
		buf_printf(b, "%smode=%lo", b->len ? "," : "", mode);
		return 0;
	}
	return err_set(err, EINVAL, "tmpfs option \"%s\": known are size and mode", k);
}

int ctr_mount_parse_v(const char *spec, struct ctr_mount *m, struct err *err)
{
	_cleanup_strv_ char **f = str_split(spec, ':');
	size_t n = strv_len(f);
	int r;

	memset(m, 0, sizeof(*m));
	if (n < 2 || n > 3 || !*f[0])
		return err_set(err, EINVAL, "-v %s: expected HOST-PATH:CONTAINER-PATH[:ro|rw] or "
			       "VOLUME:CONTAINER-PATH[:ro|rw]", spec);
	if (n == 3) {
		_cleanup_strv_ char **o = str_split(f[2], ',');
		for (size_t i = 0; o && o[i]; i++) {
			if (strcmp(o[i], "ro") == 0 || strcmp(o[i], "readonly") == 0)
				m->readonly = true;
			else if (strcmp(o[i], "rw") == 0)
				m->readonly = false;
			else
				return err_set(err, EINVAL, "-v %s: unknown option \"%s\" (ro or rw)", spec, o[i]);
		}
	}
	m->type = ctr_is_volume_name(f[0], strlen(f[0])) ? CTR_MOUNT_VOLUME : CTR_MOUNT_BIND;
	if (m->type == CTR_MOUNT_VOLUME && !volume_name_ok(f[0])) {
		r = err_set(err, EINVAL, "-v %s: \"%s\" is neither a path (start it with / or ./) nor a "
			    "volume name", spec, f[0]);
		ctr_mount_clear(m);
		return r;
	}
	m->src = xstrdup(f[0]);
	m->create = true;	/* docker creates a missing -v directory */
	r = ctr_mount_dst(f[1], strlen(f[1]), m, err);
	if (r < 0) {
		ctr_mount_clear(m);
		return err_wrap(err, "-v %s", spec);
	}
	return 0;
}

int ctr_mount_parse_tmpfs(const char *spec, struct ctr_mount *m, struct err *err)
{
	const char *colon = strchr(spec, ':');
	struct buf b = BUF_INIT;
	int r;

	memset(m, 0, sizeof(*m));
	m->type = CTR_MOUNT_TMPFS;
	r = ctr_mount_dst(spec, colon ? (size_t)(colon - spec) : strlen(spec), m, err);
	if (r == 0 && colon) {
		_cleanup_strv_ char **o = str_split(colon + 1, ',');
		for (size_t i = 0; r == 0 && o && o[i]; i++) {
			char *eq = strchr(o[i], '=');
			if (!eq) {
				r = err_set(err, EINVAL, "tmpfs option \"%s\": expected KEY=VALUE", o[i]);
				break;
			}
			*eq = 0;
			r = ctr_tmpfs_opt(&b, o[i], eq + 1, err);
		}
	}
	if (r < 0) {
		buf_free(&b);
		ctr_mount_clear(m);
		return err_wrap(err, "--tmpfs %s", spec);
	}
	m->opts = buf_steal(&b);
	return 0;
}

/* --mount type=T,src=S,dst=D[,readonly][,tmpfs-size=N][,tmpfs-mode=M] */
int ctr_mount_parse(const char *spec, struct ctr_mount *m, struct err *err)
{
	_cleanup_strv_ char **f = str_split(spec, ',');
	struct buf opts = BUF_INIT;
	bool have_type = false, ro_set = false;
	int r = 0;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; r == 0 && f && f[i]; i++) {
		char *k = f[i], *eq = strchr(k, '='), *v = eq ? eq + 1 : NULL;

		if (eq)
			*eq = 0;
		if (strcmp(k, "type") == 0 && v) {
			int t = str_index(v, ctr_mount_types, sizeof(ctr_mount_types) / sizeof(ctr_mount_types[0]));
			if (t < 0)
				r = err_set(err, EINVAL, "type \"%s\": bind, volume, disk or tmpfs", v);
			m->type = (enum ctr_mount_type)t;
			have_type = true;
		} else if ((strcmp(k, "src") == 0 || strcmp(k, "source") == 0) && v && *v) {
			free(m->src);
			m->src = xstrdup(v);
		} else if ((strcmp(k, "dst") == 0 || strcmp(k, "destination") == 0 || strcmp(k, "target") == 0) && v) {
			free(m->dst);
			m->dst = NULL;
			r = ctr_mount_dst(v, strlen(v), m, err);
		} else if (strcmp(k, "readonly") == 0 || strcmp(k, "ro") == 0) {
			m->readonly = !v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
			if (v && !m->readonly && strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
				r = err_set(err, EINVAL, "readonly=%s: true or false", v);
			ro_set = true;
		} else if (str_startswith(k, "tmpfs-") && v) {
			r = ctr_tmpfs_opt(&opts, k, v, err);
		} else {
			r = err_set(err, EINVAL, "unknown field \"%s\"", k);
		}
	}
	if (r == 0 && !have_type)
		r = err_set(err, EINVAL, "type= is required (bind, volume, disk or tmpfs)");
	if (r == 0 && !m->dst)
		r = err_set(err, EINVAL, "dst= is required");
	if (r == 0 && m->type == CTR_MOUNT_TMPFS && m->src)
		r = err_set(err, EINVAL, "a tmpfs has no src");
	if (r == 0 && m->type != CTR_MOUNT_TMPFS && !m->src)
		r = err_set(err, EINVAL, "src= is required");
	if (r == 0 && m->type != CTR_MOUNT_TMPFS && opts.len)
		r = err_set(err, EINVAL, "tmpfs-* options need type=tmpfs");
	if (r == 0 && m->type == CTR_MOUNT_VOLUME && !volume_name_ok(m->src))
		r = err_set(err, EINVAL, "\"%s\" is not a volume name", m->src);
	/* An input disk is shared by many VMs: read-only unless asked. */
	if (r == 0 && m->type == CTR_MOUNT_DISK && !ro_set)
		m->readonly = true;
	if (r < 0) {
		buf_free(&opts);
		ctr_mount_clear(m);
		return err_wrap(err, "--mount %s", spec);
	}
	m->opts = m->type == CTR_MOUNT_TMPFS ? buf_steal(&opts) : NULL;
	buf_free(&opts);
	return 0;
}

int ctr_mounts_add_image_volumes(char *const *paths, const char *id, bool ephemeral,
				 struct ctr_mount **m, size_t *n, struct err *err)
{
	for (size_t i = 0; paths && paths[i]; i++) {
		struct ctr_mount v = { .type = ephemeral ? CTR_MOUNT_TMPFS : CTR_MOUNT_VOLUME };
		bool covered = false;
		int r = ctr_mount_dst(paths[i], strlen(paths[i]), &v, err);

		if (r < 0)
			return err_wrap(err, "image volume");
		for (size_t j = 0; j < *n && !covered; j++)
			covered = strcmp((*m)[j].dst, v.dst) == 0;
		if (covered) {
			ctr_mount_clear(&v);
			continue;
		}
		if (ephemeral)
			v.opts = xstrdup("");
		else
			v.src = xasprintf("%.12s-%zu", id, i);
		*m = xrealloc(*m, (*n + 1) * sizeof(**m));
		(*m)[(*n)++] = v;
	}
	return 0;
}

/* A single file: a private directory of the container holds a hard link
 * to it, and that directory is what QEMU exports, so the guest sees that
 * file and nothing beside it. A read-only file on another filesystem is
 * copied (a snapshot at start); a writable one cannot be. */
static int ctr_stage_file(const char *root, const char *id, size_t idx, struct ctr_mount *m,
			  const char *path, struct err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/containers/%s/files/%zu", root, id, idx);
	const char *base = strrchr(path, '/') + 1;
	_cleanup_free_ char *dst = xasprintf("%s/%s", dir, base);
	int r;

	if (!id)
		return err_set(err, EINVAL, "%s: --parallel instances share directories only (no container "
			       "directory to stage a file in); mount the file's directory", path);
	r = mkdir_p_at(AT_FDCWD, dir, 0700);
	/* QEMU's user (not root when ucrt is) opens it through the fd ucrt
	 * hands over: the directory itself must let it in; containers/<id>
	 * above stays 0700. */
	if (r == 0 && chmod(dir, 0755) < 0)
		r = -errno;
	if (r < 0)
		return err_setx(err, r, "creating %s", dir);
	unlink(dst);
	if (link(path, dst) < 0) {
		if (errno != EXDEV || !m->readonly)
			return err_setx(err, errno, "%s: a file mount needs the file on the filesystem of "
					"the store (%s), or mount its directory", path, root);
		_cleanup_free_ char *data = NULL;
		size_t len;
		r = read_file_at(AT_FDCWD, path, 1ULL << 30, &data, &len);
		if (r == 0)
			r = write_file_atomic_at(AT_FDCWD, dst, data, len, 0644);
		if (r < 0)
			return err_setx(err, r, "copying %s", path);
	}
	m->host = xstrdup(dir);
	m->file = xstrdup(base);
	return 0;
}

static int ctr_resolve_one(const char *root, const char *id, size_t idx, struct ctr_mount *m,
			   struct err *err)
{
	char real[PATH_MAX];
	struct stat st;
	struct volume v;
	int r;

	switch (m->type) {
	case CTR_MOUNT_TMPFS:
		return 0;
	case CTR_MOUNT_EMULATOR:	/* ucrt's own cached disk (emulator.c) */
		if (!m->src)
			return err_set(err, EINVAL, "emulator disk missing");
		m->host = xstrdup(m->src);
		return 0;
	case CTR_MOUNT_VOLUME:
		r = volume_get(root, m->src, &v, err);
		if (r == -ENOENT) {	/* docker creates a named volume on first use */
			err_clear(err);
			r = volume_create(root, m->src, 0, NULL, err);
			if (r == -EEXIST)
				r = 0;
			if (r == 0)
				r = volume_get(root, m->src, &v, err);
		}
		if (r < 0)
			return r;
		m->host = TAKE_PTR(v.disk);
		volume_free(&v);
		return 0;
	case CTR_MOUNT_BIND:
	case CTR_MOUNT_DISK:
		break;
	}
	if (m->type == CTR_MOUNT_BIND && m->create && stat(m->src, &st) < 0 && errno == ENOENT) {
		r = mkdir_p_at(AT_FDCWD, m->src, 0755);
		if (r < 0)
			return err_setx(err, r, "creating %s", m->src);
	}
	/* Resolved once, here: QEMU gets a path without symlinks. */
	if (!realpath(m->src, real))
		return err_setx(err, errno, "%s %s", m->type == CTR_MOUNT_DISK ? "disk" : "bind source", m->src);
	if (stat(real, &st) < 0)
		return err_setx(err, errno, "%s", real);
	if (m->type == CTR_MOUNT_DISK) {
		if (!S_ISREG(st.st_mode))
			return err_set(err, EINVAL, "disk %s is not a file (an ext4 image)", m->src);
		m->host = xstrdup(real);
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		m->host = xstrdup(real);
		return 0;
	}
	if (S_ISREG(st.st_mode))
		return ctr_stage_file(root, id, idx, m, real, err);
	return err_set(err, EINVAL, "bind source %s is neither a directory nor a file", m->src);
}

int ctr_mounts_resolve(const char *root, const char *id, struct ctr_mount *m, size_t n, struct err *err)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(m[i].dst, m[j].dst) == 0)
				return err_set(err, EINVAL, "two mounts on %s", m[i].dst);
		}
		free(m[i].host);
		free(m[i].file);
		m[i].host = m[i].file = NULL;
		int r = ctr_resolve_one(root, id, i, &m[i], err);
		if (r < 0)
			return err_wrap(err, "mount on %s", m[i].dst);
	}
	return 0;
}

/* ---- attached to one VM ---- */

struct ctr_mounts_live {
	int *fds;
	size_t nfds;
	bool rw_disks;
	struct agent_mount am[PROTO_MAX_MOUNTS];
	char *strs[2 * PROTO_MAX_MOUNTS + 1];	/* + a bundle root's command line */
	size_t n, nstrs;
	const struct ctr_bundle_net *bnet;	/* an OCI bundle's network namespace */
};

static const char *ctr_live_str(struct ctr_mounts_live *lv, char *s)
{
	lv->strs[lv->nstrs++] = s;
	return s;
}

/* Does path's filesystem take user.* xattrs? (ENODATA: yes, no such
 * attribute; ENOTSUP: no.) */
static bool ctr_user_xattrs(const char *path)
{
	return getxattr(path, "user.ucrt.probe", NULL, 0) >= 0 || errno == ENODATA;
}

int ctr_mounts_attach(const struct ctr_config *cfg, struct vm_config *vc, struct ctr_mounts_live **out,
		      struct err *err)
{
	struct ctr_mounts_live *lv;
	int r = 0;

	*out = NULL;
	if (!cfg->nmounts && !cfg->root_dir && !cfg->bundle_net)
		return 0;
	if (cfg->nmounts > PROTO_MAX_MOUNTS)
		return err_set(err, E2BIG, "%zu mounts: at most %u", cfg->nmounts, PROTO_MAX_MOUNTS);
	lv = xcalloc(1, sizeof(*lv));
	lv->fds = xcalloc(cfg->nmounts + 1, sizeof(*lv->fds));
	if (cfg->root_dir) {
		ctr_bundle_root_share(cfg, vc, ctr_live_str(lv, ctr_bundle_root_cmdline(cfg)));
	} else {
		/* a bundle whose root is an ext4 image keeps its disk */
		ctr_bundle_net_vm(cfg->bundle_net, vc);
	}
	lv->bnet = cfg->bundle_net;
	for (size_t i = 0; r == 0 && i < cfg->nmounts; i++) {
		const struct ctr_mount *m = &cfg->mounts[i];
		struct agent_mount *a = &lv->am[lv->n++];

		a->target = m->dst;
		a->readonly = m->readonly;
		if (m->type != CTR_MOUNT_TMPFS && !m->host) {
			r = err_set(err, EINVAL, "mount on %s was not resolved", m->dst);
			break;
		}
		switch (m->type) {
		case CTR_MOUNT_TMPFS:
			a->kind = PROTO_MOUNT_TMPFS;
			a->src = m->opts && *m->opts ? m->opts : "mode=1777";
			break;
		case CTR_MOUNT_BIND:
			/* How many devices fit the VM (8 or 24 with the agent,
			 * root disk and network) is vm_start's check
			 * (vm_config_check); this is the config's capacity. */
			if (vc->nshares >= VM_MAX_SHARES) {
				r = err_set(err, E2BIG, "too many shared paths (at most %u)", VM_MAX_SHARES);
				break;
			}
			vc->shares[vc->nshares] = (struct vm_share){
				.tag = ctr_live_str(lv, xasprintf("ucrt%u", vc->nshares)),
				.path = m->host, .readonly = m->readonly,
				.xattr = !m->pod && ctr_user_xattrs(m->host), .remap = m->pod,
			};
			a->kind = m->file ? PROTO_MOUNT_9P_FILE : PROTO_MOUNT_9P;
			a->src = m->file ? ctr_live_str(lv, xasprintf("%s/%s", vc->shares[vc->nshares].tag, m->file))
					 : vc->shares[vc->nshares].tag;
			vc->nshares++;
			break;
		case CTR_MOUNT_VOLUME:
		case CTR_MOUNT_DISK:
		case CTR_MOUNT_EMULATOR:
			if (vc->ndisks >= VM_MAX_DISKS) {
				r = err_set(err, E2BIG, "too many disks (at most %u with the root disk)", VM_MAX_DISKS);
				break;
			}
			r = volume_lock(m->host, m->readonly, &lv->fds[lv->nfds], err);
			if (r < 0) {
				if (m->type == CTR_MOUNT_VOLUME)
					err_wrap(err, "volume %s", m->src);
				break;
			}
			lv->nfds++;
			lv->rw_disks |= !m->readonly;
			vc->disks[vc->ndisks] = (struct vm_disk){
				.path = m->host, .readonly = m->readonly,
				.serial = ctr_live_str(lv, xasprintf("ucrt-disk%zu", i)),
			};
			a->kind = m->type == CTR_MOUNT_EMULATOR ? PROTO_MOUNT_BINFMT : PROTO_MOUNT_DISK;
			a->src = vc->disks[vc->ndisks].serial;
			vc->ndisks++;
			break;
		}
	}
	if (r < 0) {
		ctr_mounts_detach(lv);
		return err_wrap(err, "mounts of %s", cfg->name);
	}
	*out = lv;
	return 0;
}

bool ctr_mounts_rw_disks(const struct ctr_mounts_live *lv)
{
	return lv && lv->rw_disks;
}

void ctr_mounts_agent(const struct ctr_mounts_live *lv, struct agent_config *ac)
{
	if (!lv)
		return;
	ac->mounts = lv->am;
	ac->nmounts = lv->n;
	ctr_bundle_net_agent(lv->bnet, ac);
}

void ctr_mounts_detach(struct ctr_mounts_live *lv)
{
	if (!lv)
		return;
	for (size_t i = 0; i < lv->nfds; i++)
		close(lv->fds[i]);
	for (size_t i = 0; i < lv->nstrs; i++)
		free(lv->strs[i]);
	free(lv->fds);
	free(lv);
}

/* ---- config.json ---- */

void ctr_mounts_json(struct json_writer *w, const struct ctr_mount *m, size_t n, bool docker)
{
	jw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		jw_obj_begin(w);
		jw_key(w, docker ? "Type" : "type");
		jw_str(w, ctr_mount_type_name(m[i].type));
		if (docker && m[i].type == CTR_MOUNT_VOLUME) {
			jw_key(w, "Name");
			jw_str(w, m[i].src);
		}
		jw_key(w, docker ? "Source" : "source");
		if (docker && m[i].host && m[i].type != CTR_MOUNT_TMPFS)
			jw_str(w, m[i].host);
		else if (m[i].src)
			jw_str(w, m[i].src);
		else
			jw_str(w, "");
		jw_key(w, docker ? "Destination" : "target");
		jw_str(w, m[i].dst);
		jw_key(w, docker ? "RW" : "readonly");
		jw_bool(w, docker ? !m[i].readonly : m[i].readonly);
		if (!docker) {
			if (m[i].opts) {
				jw_key(w, "options");
				jw_str(w, m[i].opts);
			}
			if (m[i].host) {
				jw_key(w, "host");
				jw_str(w, m[i].host);
			}
			if (m[i].file) {
				jw_key(w, "file");
				jw_str(w, m[i].file);
			}
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static char *ctr_mount_jstr(const struct json_doc *d, int obj, const char *key)
{
	int t = json_get(d, obj, key);

	return t >= 0 && json_type(d, t) == JSON_STRING ? json_str(d, t) : NULL;
}

int ctr_mounts_from_json(const struct json_doc *d, int arr, struct ctr_mount **out, size_t *n)
{
	int len = arr >= 0 ? json_array_len(d, arr) : 0;
	struct ctr_mount *m;

	*out = NULL;
	*n = 0;
	if (len <= 0)
		return 0;
	if ((unsigned)len > PROTO_MAX_MOUNTS)
		return -EBADMSG;
	m = xcalloc((size_t)len, sizeof(*m));
	for (int i = 0; i < len; i++) {
		int o = json_array_at(d, arr, i), t;
		_cleanup_free_ char *type = ctr_mount_jstr(d, o, "type");
		bool ro = false;

		t = type ? str_index(type, ctr_mount_types, sizeof(ctr_mount_types) / sizeof(ctr_mount_types[0])) : -1;
		m[i].type = (enum ctr_mount_type)t;
		m[i].src = ctr_mount_jstr(d, o, "source");
		m[i].dst = ctr_mount_jstr(d, o, "target");
		m[i].opts = ctr_mount_jstr(d, o, "options");
		m[i].host = ctr_mount_jstr(d, o, "host");
		m[i].file = ctr_mount_jstr(d, o, "file");
		json_bool(d, json_get(d, o, "readonly"), &ro);
		m[i].readonly = ro;
		if (t < 0 || !m[i].dst || m[i].dst[0] != '/' ||
		    (m[i].file && (strchr(m[i].file, '/') || !m[i].host))) {
			ctr_mounts_free(m, (size_t)len);
			return -EBADMSG;
		}
	}
	*out = m;
	*n = (size_t)len;
	return 0;
}

void ctr_mounts_inspect_json(struct json_writer *w, const char *root, const char *id)
{
	struct ctr_config c;

	if (ctr_config_read(root, id, &c, NULL) < 0) {
		ctr_mounts_json(w, NULL, 0, true);
		return;
	}
	ctr_mounts_json(w, c.mounts, c.nmounts, true);
	ctr_config_free(&c);
}
