/* OCI runtime-spec bundles (runtime-spec 1.0/1.1 config.json) as ucrt
 * containers: the bundle's root directory becomes the guest's root over
 * virtio-9p, bind mounts become shares like -v, the kernel filesystems
 * (proc, sysfs, devpts, mqueue, cgroup) are guest-init's own. What ucrt
 * accepts without applying is listed in b->ignored, so the caller can log
 * it instead of it vanishing (docs/oci-runtime.md has the table). The
 * bytes come from podman, containerd or anyone who writes a bundle: every
 * field is type-checked and bounded. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "bundle-internal.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

#define BUNDLE_MAX_TOKENS (1 << 16)
#define BUNDLE_MAX_CONFIG (4u << 20)
#define BUNDLE_MIN_MEM_MIB 64u

static void bundle_ignore(struct ctr_bundle *b, const char *what)
{
	for (char **v = b->ignored; v && *v; v++) {
		if (strcmp(*v, what) == 0)
			return;
	}
	strv_push(&b->ignored, what);
}

/* A guest path: absolute, no "." or ".." components, no empty ones
 * beyond the slashes themselves; trailing slashes dropped. */
static char *bundle_guest_path(const char *p)
{
	struct buf o = BUF_INIT;

	if (!p || p[0] != '/' || strlen(p) >= PATH_MAX)
		return NULL;
	for (const char *s = p; *s;) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (!n)
			break;
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
			buf_free(&o);
			return NULL;
		}
		buf_putc(&o, '/');
		buf_append(&o, s, n);
		s += n;
	}
	if (!o.len)
		buf_putc(&o, '/');
	return buf_steal(&o);
}

static char *bundle_host_path(const char *dir, const char *p)
{
	if (!p || !*p)
		return NULL;
	/* Without a directory (parsing alone) relative paths stay as given. */
	return p[0] == '/' || !dir ? xstrdup(p) : xasprintf("%s/%s", dir, p);
}

static bool bundle_has_opt(char *const *opts, const char *o)
{
	for (; opts && *opts; opts++) {
		if (strcmp(*opts, o) == 0)
			return true;
	}
	return false;
}

/* Filesystems guest-init mounts itself, whatever the bundle asks. */
static bool bundle_kernel_fs(const char *type, const char *dst)
{
	static const char *const types[] = { "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2" };
	static const char *const dsts[] = { "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm",
					    "/dev/mqueue", "/sys/fs/cgroup" };

	for (size_t i = 0; type && i < ARRAY_SIZE(types); i++) {
		if (strcmp(type, types[i]) == 0)
			return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(dsts); i++) {
		if (strcmp(dst, dsts[i]) == 0)
			return true;
	}
	return str_startswith(dst, "/proc/") || str_startswith(dst, "/sys/");
}

static int bundle_mount(struct ctr_bundle *b, const struct json_doc *d, int t, const char *dir,
			struct err *err)
{
	_cleanup_free_ char *dst_raw = json_str(d, json_get(d, t, "destination"));
	_cleanup_free_ char *type = json_str(d, json_get(d, t, "type"));
	_cleanup_free_ char *src = json_str(d, json_get(d, t, "source"));
	_cleanup_free_ char *dst = NULL;
	_cleanup_(strv_freep) char **opts = NULL;
	struct ctr_config *c = &b->cfg;
	struct ctr_mount m = { 0 };
	bool bind;

	if (json_type(d, t) != JSON_OBJECT || !dst_raw)
		return err_set(err, EINVAL, "a mount without a destination");
	if (!(dst = bundle_guest_path(dst_raw)) || strcmp(dst, "/") == 0)
		return err_set(err, EINVAL, "mount destination %.200s: not an absolute path below /",
			       dst_raw);
	if (json_strv(d, json_get(d, t, "options"), &opts) < 0)
		return err_set(err, EINVAL, "mount on %s: options are not strings", dst);
	if (bundle_kernel_fs(type, dst))
		return 0;
	bind = (type && strcmp(type, "bind") == 0) || bundle_has_opt(opts, "bind") ||
	       bundle_has_opt(opts, "rbind");
	if (bind) {
		m.type = CTR_MOUNT_BIND;
		m.src = bundle_host_path(dir, src);
		if (!m.src)
			return err_set(err, EINVAL, "bind mount on %s without a source", dst);
		m.readonly = bundle_has_opt(opts, "ro");
	} else if (type && strcmp(type, "tmpfs") == 0) {
		struct buf o = BUF_INIT;
		int r;

		/* size= and mode= are what guest-init applies; the rest
		 * (nosuid, nodev, noexec...) is its default anyway. */
		buf_printf(&o, "%s", dst);
		for (char **v = opts; v && *v; v++) {
			if (str_startswith(*v, "size=") || str_startswith(*v, "mode="))
				buf_printf(&o, "%c%s", o.len == strlen(dst) ? ':' : ',', *v);
		}
		buf_putc(&o, 0);
		r = ctr_mount_parse_tmpfs((char *)o.data, &m, err);
		buf_free(&o);
		if (r < 0)
			return err_wrap(err, "tmpfs on %s", dst);
		m.readonly = bundle_has_opt(opts, "ro");
		free(m.dst);
	} else {
		bundle_ignore(b, "mounts of other types than bind and tmpfs");
		return 0;
	}
	m.dst = TAKE_PTR(dst);
	for (size_t i = 0; i < c->nmounts; i++) {
		/* Later mounts win, as the kernel's stacking would show. */
		if (strcmp(c->mounts[i].dst, m.dst) == 0) {
			ctr_mount_clear(&c->mounts[i]);
			c->mounts[i] = m;
			return 0;
		}
	}
	c->mounts = xrealloc(c->mounts, (c->nmounts + 1) * sizeof(*c->mounts));
	c->mounts[c->nmounts++] = m;
	return 0;
}

static int bundle_process(struct ctr_bundle *b, const struct json_doc *d, int p, struct err *err)
{
	struct ctr_spec *s = &b->cfg.spec;
	int u = json_get(d, p, "user");
	int64_t v;
	bool t;

	if (p < 0 || json_type(d, p) != JSON_OBJECT)
		return err_set(err, EINVAL, "no process to run (process is missing)");
	if (json_strv(d, json_get(d, p, "args"), &s->argv) < 0 || !s->argv || !s->argv[0] ||
	    !s->argv[0][0])
		return err_set(err, EINVAL, "process.args: a non-empty array of strings is required");
	if (json_strv(d, json_get(d, p, "env"), &s->env) < 0)
		return err_set(err, EINVAL, "process.env: not an array of strings");
	for (char **e = s->env; e && *e; e++) {
		if (!strchr(*e, '=') || **e == '=')
			return err_set(err, EINVAL, "process.env: %.100s is not KEY=VALUE", *e);
	}
	ctr_task_env_derive(&s->env);
	s->cwd = json_str(d, json_get(d, p, "cwd"));
	if (!s->cwd)
		s->cwd = xstrdup("/");
	if (s->cwd[0] != '/')
		return err_set(err, EINVAL, "process.cwd %.200s is not absolute", s->cwd);
	if (json_bool(d, json_get(d, p, "terminal"), &t) == 0)
		b->terminal = t;
	s->tty = b->terminal;
	/* The caller's stdin is always forwarded: OCI has no -i, stdin is
	 * whatever fd 0 the runtime was given (often /dev/null). */
	s->stdin_open = true;
	if (u >= 0) {
		if (json_int(d, json_get(d, u, "uid"), &v) == 0) {
			if (v < 0 || v > UINT32_MAX - 1)
				return err_set(err, EINVAL, "process.user.uid %lld out of range", (long long)v);
			s->uid = (uint32_t)v;
		}
		if (json_int(d, json_get(d, u, "gid"), &v) == 0) {
			if (v < 0 || v > UINT32_MAX - 1)
				return err_set(err, EINVAL, "process.user.gid %lld out of range", (long long)v);
			s->gid = (uint32_t)v;
		}
		if (json_array_len(d, json_get(d, u, "additionalGids")) > 0)
			bundle_ignore(b, "process.user.additionalGids");
	}
	s->user = xasprintf("%u:%u", s->uid, s->gid);
	if (json_get(d, p, "rlimits") >= 0)
		bundle_ignore(b, "process.rlimits");
	if (json_get(d, p, "capabilities") >= 0)
		bundle_ignore(b, "process.capabilities (the VM is the boundary)");
	if (json_get(d, p, "noNewPrivileges") >= 0)
		bundle_ignore(b, "process.noNewPrivileges");
	if (json_get(d, p, "apparmorProfile") >= 0 || json_get(d, p, "selinuxLabel") >= 0)
		bundle_ignore(b, "process apparmor/selinux labels");
	return 0;
}

/* "0-3,6" -> 5 CPUs; 0 when malformed. */
static unsigned bundle_cpuset_count(const char *s)
{
	unsigned n = 0;

	while (s && *s) {
		char *end;
		unsigned long a = strtoul(s, &end, 10), z = a;

		if (end == s || a > 4096)
			return 0;
		if (*end == '-') {
			s = end + 1;
			z = strtoul(s, &end, 10);
			if (end == s || z < a || z > 4096)
				return 0;
		}
		n += (unsigned)(z - a + 1);
		if (*end == ',')
			end++;
		else if (*end)
			return 0;
		s = end;
	}
	return n;
}

static void bundle_linux(struct ctr_bundle *b, const struct json_doc *d, int lx)
{
	int ns = json_get(d, lx, "namespaces"), res = json_get(d, lx, "resources");
	int cpu = json_get(d, res, "cpu"), mem = json_get(d, res, "memory");
	int64_t quota, period, limit;

	for (int i = 0; i < json_array_len(d, ns); i++) {
		int e = json_array_at(d, ns, i);
		_cleanup_free_ char *path = json_str(d, json_get(d, e, "path"));

		if (json_str_eq(d, json_get(d, e, "type"), "network") && path && path[0] == '/') {
			free(b->netns);
			b->netns = TAKE_PTR(path);
		}
	}
	if (json_int(d, json_get(d, cpu, "quota"), &quota) == 0 && quota > 0) {
		if (json_int(d, json_get(d, cpu, "period"), &period) < 0 || period <= 0)
			period = 100000;
		b->cfg.cpus = (unsigned)MIN((quota + period - 1) / period, 64);
	} else {
		_cleanup_free_ char *set = json_str(d, json_get(d, cpu, "cpus"));
		unsigned n = bundle_cpuset_count(set);
		if (n)
			b->cfg.cpus = MIN(n, 64u);
	}
	if (json_int(d, json_get(d, mem, "limit"), &limit) == 0 && limit > 0)
		b->cfg.mem_mib = (unsigned)MIN(MAX((uint64_t)limit >> 20, BUNDLE_MIN_MEM_MIB), 1u << 20);
	if (json_get(d, lx, "seccomp") >= 0)
		bundle_ignore(b, "linux.seccomp (the VM is the boundary)");
	if (json_get(d, lx, "devices") >= 0)
		bundle_ignore(b, "linux.devices");
	if (json_get(d, lx, "maskedPaths") >= 0 || json_get(d, lx, "readonlyPaths") >= 0)
		bundle_ignore(b, "linux.maskedPaths/readonlyPaths");
}

int ctr_bundle_parse(const char *json, size_t len, const char *dir, struct ctr_bundle *b,
		     struct err *err)
{
	struct json_doc d;
	_cleanup_free_ char *rootp = NULL, *rootj = NULL;
	char real[PATH_MAX];
	struct stat st;
	int root, ms, an, r;
	bool ro;

	memset(b, 0, sizeof(*b));
	if ((r = json_parse(&d, json, len, BUNDLE_MAX_TOKENS)) < 0)
		return err_set(err, -r, "config.json is not valid JSON%s",
			       r == -E2BIG ? " (too large)" : "");
	r = -EINVAL;
	if (json_type(&d, 0) != JSON_OBJECT) {
		err_set(err, EINVAL, "config.json is not an object");
		goto out;
	}
	b->oci_version = json_str(&d, json_get(&d, 0, "ociVersion"));
	if (!b->oci_version || !str_startswith(b->oci_version, "1.")) {
		err_set(err, EINVAL, "ociVersion %.40s: ucrt reads runtime-spec 1.x",
			b->oci_version ? b->oci_version : "(missing)");
		goto out;
	}
	root = json_get(&d, 0, "root");
	rootj = json_str(&d, json_get(&d, root, "path"));
	rootp = dir ? bundle_host_path(dir, rootj) : (rootj ? xstrdup(rootj) : NULL);
	if (!rootp) {
		err_set(err, EINVAL, "root.path is missing");
		goto out;
	}
	if (json_bool(&d, json_get(&d, root, "readonly"), &ro) == 0)
		b->cfg.read_only = ro;
	if (bundle_process(b, &d, json_get(&d, 0, "process"), err) < 0)
		goto out;
	b->cfg.hostname = json_str(&d, json_get(&d, 0, "hostname"));
	if (b->cfg.hostname && (strlen(b->cfg.hostname) > 64 || !b->cfg.hostname[0])) {
		err_set(err, EINVAL, "hostname %.80s: 1 to 64 characters", b->cfg.hostname);
		goto out;
	}
	ms = json_get(&d, 0, "mounts");
	if (ms >= 0 && json_type(&d, ms) != JSON_ARRAY) {
		err_set(err, EINVAL, "mounts is not an array");
		goto out;
	}
	for (int i = 0; i < json_array_len(&d, ms); i++) {
		if (bundle_mount(b, &d, json_array_at(&d, ms, i), dir, err) < 0)
			goto out;
	}
	an = json_get(&d, 0, "annotations");
	if (an >= 0 && json_type(&d, an) == JSON_OBJECT) {
		for (int k = json_obj_first(&d, an); k >= 0; k = json_obj_next(&d, k)) {
			_cleanup_free_ char *key = json_str(&d, k), *val = json_str(&d, k + 1);
			if (key && val) {
				strv_push(&b->annotations, key);
				strv_push(&b->annotations, val);
			}
		}
	}
	if (json_get(&d, 0, "linux") >= 0)
		bundle_linux(b, &d, json_get(&d, 0, "linux"));
	if (json_get(&d, 0, "hooks") >= 0)
		bundle_ignore(b, "hooks");
	/* The root is checked last: parsing alone (tests, fuzzing) needs no
	 * file system, and a missing root is still the error users see. */
	if (!dir) {
		b->cfg.root_dir = TAKE_PTR(rootp);
	} else if (!realpath(rootp, real) || stat(real, &st) < 0) {
		err_setx(err, errno, "root.path %s", rootp);
		goto out;
	} else if (S_ISREG(st.st_mode)) {
		/* An ext4 image (`ucrt bundle create --disk`): the guest's root
		 * disk as for `ucrt run`, a snapshot, so tasks share it. */
		b->cfg.disk = xstrdup(real);
	} else if (!S_ISDIR(st.st_mode)) {
		err_set(err, ENOTDIR, "root.path %s is neither a directory nor an ext4 image file", rootp);
		goto out;
	} else {
		b->cfg.root_dir = xstrdup(real);
	}
	r = 0;
out:
	json_free(&d);
	if (r < 0)
		ctr_bundle_free(b);
	return r;
}

int ctr_bundle_load(const char *dir, struct ctr_bundle *b, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/config.json", dir);
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_file_at(AT_FDCWD, path, BUNDLE_MAX_CONFIG, &text, &len);

	if (r < 0)
		return err_setx(err, r, "%s", path);
	r = ctr_bundle_parse(text, len, dir, b, err);
	return r < 0 ? err_wrap(err, "%s", path) : 0;
}

void ctr_bundle_free(struct ctr_bundle *b)
{
	free(b->cfg.root_dir);
	b->cfg.root_dir = NULL;
	ctr_config_free(&b->cfg);
	free(b->netns);
	free(b->oci_version);
	strv_free(b->annotations);
	strv_free(b->ignored);
	memset(b, 0, sizeof(*b));
}

int ctr_signal_parse(const char *s)
{
	uint64_t v;
	const char *n;

	if (!s || !*s)
		return -EINVAL;
	if (str_to_u64(s, &v) == 0)
		return v >= 1 && v <= (uint64_t)SIGRTMAX ? (int)v : -EINVAL;
	n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (int k = 1; k < SIGRTMIN; k++) {
		const char *abbr = sigabbrev_np(k);
		if (abbr && strcasecmp(n, abbr) == 0)
			return k;
	}
	if (strncasecmp(n, "RTMIN", 5) == 0 || strncasecmp(n, "RTMAX", 5) == 0) {
		bool max = strncasecmp(n, "RTMAX", 5) == 0;
		int off = 0;

		if (n[5]) {
			if ((n[5] != (max ? '-' : '+')) || str_to_u64(n + 6, &v) < 0 ||
			    v > (uint64_t)(SIGRTMAX - SIGRTMIN))
				return -EINVAL;
			off = (int)v;
		}
		return max ? SIGRTMAX - off : SIGRTMIN + off;
	}
	return -EINVAL;
}

char *ctr_bundle_root_cmdline(const struct ctr_config *cfg)
{
	/* cache=mmap: the page cache stays coherent with the host for shared
	 * mappings (podman's files change under it), msize as for -v. */
	return xasprintf("ucrt.root=" CTR_BUNDLE_ROOT_TAG " ucrt.rootfstype=9p "
			 "ucrt.rootflags=trans=virtio,version=9p2000.L,msize=524288,cache=mmap%s",
			 cfg->read_only ? " ucrt.ro" : "");
}

void ctr_bundle_root_share(const struct ctr_config *cfg, struct vm_config *vc, const char *cmdline)
{
	/* security_model=none (xattr false): the bundle's files keep their
	 * real owners, which podman and containerd set up for the
	 * container's uids; QEMU runs as root here and applies the guest's
	 * chown for real, as runc would. */
	vc->ndisks = 0;
	memmove(vc->shares + 1, vc->shares, vc->nshares * sizeof(vc->shares[0]));
	vc->shares[0] = (struct vm_share){
		.tag = CTR_BUNDLE_ROOT_TAG, .path = cfg->root_dir, .readonly = cfg->read_only,
	};
	vc->nshares++;
	vc->cmdline = cmdline;
	ctr_bundle_net_vm(cfg->bundle_net, vc);
}
