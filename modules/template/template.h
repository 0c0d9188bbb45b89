/* modules/template: VM templates, boot once and restore many (docs/vm.md,
 * Templates).
 *
 * A template is a VM booted to guest-init's wait state (ucrt.template:
 * channel open, no root disk mounted, no identity) and saved: its RAM is a
 * file on tmpfs, its device state a ~50 KB migration stream. A clone maps
 * the RAM file private copy-on-write, restores the state with its own disk,
 * shares, agent channel, console and tap behind the same device layout,
 * and gets its own identity from the RESUME frame and CONFIG.
 *
 * Layout under the store root:
 *   templates/<key>/meta.json   what it was built from (ls, prune)
 *   templates/<key>/state       the device state
 *   templates/<key>/ram         symlink to the RAM file on tmpfs:
 *                               $UCRT_TEMPLATE_DIR, else
 *                               /dev/shm/ucrt-templates-<hash of the root>/<key>.ram
 *   templates/<key>.lock        flock'ed by the one process building it
 *
 * The key is the sha256 of the template's whole QEMU command line (with
 * fixed placeholders for the per-build paths) and of the identity (device,
 * inode, size, mtime) of the QEMU binary, the kernel and the initramfs
 * (which holds guest-init): anything that shapes the booted guest changes
 * it, and a changed key is simply a new template. */
#ifndef UCRT_TEMPLATE_H
#define UCRT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct vm_config;
struct vm_host;

#define TMPL_KEY_LEN 64

/* What of a VM's configuration a template fixes: clones of it must have
 * the same. One root disk; shares tagged ucrt0..; a network device. */
struct tmpl_shape {
	unsigned cpus;		/* 0: 1 */
	unsigned mem_mib;	/* 0: 256 */
	unsigned nshares;
	bool net;
};

/* Whether a VM can be a clone and of which shape: serial agent channel,
 * exactly one disk, shares tagged ucrt0.. in order, no other data disks.
 * Returns false (with why) for a cold boot. */
bool tmpl_shape_of(const struct vm_host *h, const struct vm_config *c, struct tmpl_shape *s,
		   const char **why);
int tmpl_key(const struct vm_host *h, const struct tmpl_shape *s, char key[TMPL_KEY_LEN + 1],
	     struct err *err);
/* "<dev>:<ino>:<size>:<mtime ns>" of path, or -errno. */
int tmpl_identity(const char *path, char *out, size_t cap);

/* Are templates wanted? $UCRT_TEMPLATES=0|off|no turns them off (1/on/yes
 * on); unset: the default. Returns the default when unset, false for an
 * unknown value after a warning. */
bool tmpl_enabled(bool dflt);

/* Boot and save the template of shape s under root (blocking; its own
 * reactor). 0: built; 1: it exists already; -EBUSY: another process is
 * building it; -errno with err. */
int tmpl_build(const char *root, const struct vm_host *h, const struct tmpl_shape *s,
	       char key[TMPL_KEY_LEN + 1], struct err *err);

/* Start `ucrt --root ROOT template create ...` for shape s as a detached
 * background process (its own session, stdio on /dev/null), unless one is
 * building it already. exe: the ucrt binary. Never fails the caller. */
void tmpl_build_background(const char *exe, const char *root, const struct vm_host *h,
			   const struct tmpl_shape *s);

/* A complete template of key: 0 with the paths (malloc'ed), -ENOENT. */
struct tmpl_files {
	char *state;
	char *ram;
};
int tmpl_find(const char *root, const char *key, struct tmpl_files *f);
void tmpl_files_release(struct tmpl_files *f);

/* Make c a clone of the template for it when there is one: fills
 * mem_path, incoming and migrate_fd (*fd_out, to close once QEMU runs)
 * and returns 1; 0 with why when it boots cold. f receives the paths and
 * must outlive vm_start. */
int tmpl_attach(const char *root, const struct vm_host *h, struct vm_config *c, struct tmpl_files *f,
		int *fd_out, const char **why, char key[TMPL_KEY_LEN + 1]);

/* The RESUME frame a clone's guest-init waits for: fresh host randomness,
 * the wall clock, and the ucrt.* parameters the clone would have had on
 * its command line. Written once on the new agent channel before anything
 * else (a blocking write of < 1 KB on a fresh socket). */
int tmpl_resume_encode(const char *cmdline, uint8_t *buf, size_t cap, size_t *len);
int tmpl_resume_send(int fd, const char *cmdline);

/* ls / rm / prune */
struct tmpl_info {
	char key[TMPL_KEY_LEN + 1];
	struct tmpl_shape shape;
	char *qemu, *kernel, *initrd;	/* as recorded */
	int64_t created;		/* unix seconds */
	uint64_t ram_bytes;		/* allocated on tmpfs */
	uint64_t state_bytes;
	bool stale;			/* a file it was built from changed, or RAM gone */
};
int tmpl_list(const char *root, struct tmpl_info **out, size_t *n, struct err *err);
void tmpl_list_free(struct tmpl_info *v, size_t n);
/* Remove one (key or a unique prefix of at least 4 characters). */
int tmpl_remove(const char *root, const char *key, struct err *err);
/* Remove the stale ones (all with all); *removed counts them. */
int tmpl_prune(const char *root, bool all, unsigned *removed, struct err *err);

#endif
