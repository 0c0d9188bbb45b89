/* Which template a VM can be a clone of: its shape, and the key that names
 * the template of that shape on this host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "err.h"
#include "log.h"
#include "sha256.h"
#include "str.h"
#include "template-internal.h"
#include "util.h"

static const char *const tmpl_tags[VM_MAX_SHARES] = {
	"ucrt0", "ucrt1", "ucrt2", "ucrt3", "ucrt4", "ucrt5", "ucrt6", "ucrt7",
	"ucrt8", "ucrt9", "ucrt10", "ucrt11", "ucrt12", "ucrt13", "ucrt14", "ucrt15",
};

void tmpl_host(const struct vm_host *h, struct vm_host *out)
{
	*out = *h;
	out->transport = VM_TRANSPORT_SERIAL;
}

void tmpl_vm_config(const struct tmpl_shape *s, const struct tmpl_paths *p, struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->name = "template";
	c->cpus = s->cpus ? s->cpus : 1;
	c->mem_mib = s->mem_mib ? s->mem_mib : 256;
	/* Read-write like a clone's root: a read-only drive would offer the
	 * guest a feature (RO) a clone's writable disk does not have. */
	c->disks[0] = (struct vm_disk){ .path = p->disk };
	c->ndisks = 1;
	for (unsigned i = 0; i < s->nshares && i < VM_MAX_SHARES; i++)
		c->shares[i] = (struct vm_share){ .tag = tmpl_tags[i], .path = p->share };
	c->nshares = MIN(s->nshares, (unsigned)VM_MAX_SHARES);
	c->cmdline = "ucrt.template";
	c->console_log = p->console;
	c->agent = true;
	if (s->net) {
		c->mac = TMPL_MAC;
		c->tap_fd = -1;
	}
	c->mem_path = p->ram;
	c->mem_shared = true;
	c->migrate_fd = -1;
}

bool tmpl_shape_of(const struct vm_host *h, const struct vm_config *c, struct tmpl_shape *s,
		   const char **why)
{
	*s = (struct tmpl_shape){ .cpus = c->cpus ? c->cpus : 1, .mem_mib = c->mem_mib ? c->mem_mib : 256,
				  .nshares = c->nshares, .net = c->mac != NULL };
	if (h->transport != VM_TRANSPORT_SERIAL) {
		*why = "the agent channel is vsock";
		return false;
	}
	if (!c->agent || c->mem_path) {
		*why = "no agent channel";
		return false;
	}
	if (c->ndisks != 1) {
		*why = "data disks";
		return false;
	}
	if (c->disks[0].readonly) {
		*why = "a read-only root drive";
		return false;
	}
	for (unsigned i = 0; i < c->nshares; i++) {
		if (i >= VM_MAX_SHARES || !c->shares[i].tag || strcmp(c->shares[i].tag, tmpl_tags[i]) != 0) {
			*why = "shares not tagged ucrt0..";
			return false;
		}
	}
	/* A VM that cannot start (more devices than slots) makes no
	 * template either: the run fails with vm_start's message. */
	if (vm_config_check(h, c, NULL) < 0) {
		*why = "more devices than the VM has slots";
		return false;
	}
	return true;
}

int tmpl_identity(const char *path, char *out, size_t cap)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	snprintf(out, cap, "%llu:%llu:%lld:%lld.%09ld", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	return 0;
}

static int tmpl_hash_file(struct sha256 *sh, const char *what, const char *path, struct err *err)
{
	char id[128];
	int r;

	sha256_update(sh, what, strlen(what) + 1);
	if (!path) {
		sha256_update(sh, "", 1);
		return 0;
	}
	r = tmpl_identity(path, id, sizeof(id));
	if (r < 0)
		return err_setx(err, -r, "template key: %s %s", what, path);
	sha256_update(sh, path, strlen(path) + 1);
	sha256_update(sh, id, strlen(id) + 1);
	return 0;
}

int tmpl_key(const struct vm_host *h, const struct tmpl_shape *s, char key[TMPL_KEY_LEN + 1],
	     struct err *err)
{
	struct tmpl_paths p = { .disk = "/template/disk", .share = "/template/share",
				.ram = "/template/ram" };
	struct vm_host th;
	struct vm_config c;
	struct sha256 sh;
	_cleanup_strv_ char **argv = NULL;
	int r;

	tmpl_host(h, &th);
	tmpl_vm_config(s, &p, &c);
	argv = vm_argv(&th, &c, NULL);
	sha256_init(&sh);
	sha256_update(&sh, "ucrt-template-1", 16);
	for (char **a = argv; *a; a++)
		sha256_update(&sh, *a, strlen(*a) + 1);
	/* QEMU's user owns the RAM file (files.c): another user, another file. */
	{
		char who[64];
		snprintf(who, sizeof(who), "user %d %u %u", h->drop, (unsigned)h->uid, (unsigned)h->gid);
		sha256_update(&sh, who, strlen(who) + 1);
	}
	if ((r = tmpl_hash_file(&sh, "qemu", h->qemu, err)) < 0 ||
	    (r = tmpl_hash_file(&sh, "kernel", h->kernel.path, err)) < 0 ||
	    (r = tmpl_hash_file(&sh, "initrd", h->initrd, err)) < 0 ||
	    (r = tmpl_hash_file(&sh, "init", h->init, err)) < 0) {
		sha256_abort(&sh);
		return r;
	}
	sha256_final_hex(&sh, key);
	return 0;
}

bool tmpl_key_ok(const char *key)
{
	size_t n = strlen(key);

	return n == TMPL_KEY_LEN && strspn(key, "0123456789abcdef") == n;
}

bool tmpl_enabled(bool dflt)
{
	const char *v = getenv("UCRT_TEMPLATES");

	if (!v || !*v)
		return dflt;
	if (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"))
		return true;
	if (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcasecmp(v, "false"))
		return false;
	log_warn("ignoring UCRT_TEMPLATES=%s (want on or off): templates off", v);
	return false;
}
