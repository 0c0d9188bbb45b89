/* Building a template: boot the template VM of a shape to guest-init's
 * READY, save it (vm_save), quit it, and publish the directory with one
 * rename. One builder per key (flock on templates/<key>.lock); the files
 * of a build that died are under templates/.build-<key>-<pid> until a
 * prune. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "str.h"
#include "template-internal.h"
#include "util.h"

#define TMPL_BUILD_LIMIT_S 300u
/* The placeholder root disk: the guest sees this capacity on every clone
 * (virtio-blk reads it once, at probe), so it is at least as large as any
 * image disk; sparse, never written. */
#define TMPL_DISK_BYTES (1ull << 40)

struct tmpl_builder {
	struct loop *l;
	int state_fd;
	struct vm *vm;
	int agent_fd;
	struct loop_op rd;
	uint8_t hdr[PROTO_HDR_SIZE];
	size_t got;
	struct loop_timer limit;
	bool saved;
	int res;
	struct err err;
};

static void tb_fail(struct tmpl_builder *b, int res, const char *what, const char *detail)
{
	if (b->res == 0) {
		b->res = res < 0 ? res : -EIO;
		err_set(&b->err, -b->res, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	}
	if (b->vm)
		vm_quit(b->vm, 1000);
}

static void tb_saved(struct vm *vm, int res, const char *msg, void *data)
{
	struct tmpl_builder *b = data;

	if (res < 0) {
		tb_fail(b, res, "saving the template VM", msg);
		return;
	}
	b->saved = true;
	vm_quit(vm, 2000);
}

static void tb_read_done(struct loop_op *op, int res, uint32_t flags);

static void tb_read_more(struct tmpl_builder *b)
{
	b->rd.cb = tb_read_done;
	if (loop_read(b->l, &b->rd, b->agent_fd, b->hdr + b->got, (unsigned)(sizeof(b->hdr) - b->got),
		      (uint64_t)-1) < 0)
		tb_fail(b, -EIO, "reading the agent channel", NULL);
}

/* The only frame a template's guest-init sends before its save is READY
 * (empty); a LOG frame means it died, with its reason. */
static void tb_read_done(struct loop_op *op, int res, uint32_t flags)
{
	struct tmpl_builder *b = container_of(op, struct tmpl_builder, rd);
	struct proto_hdr h;

	if (res <= 0) {
		/* guest-init or QEMU died: the exit says why (QEMU's stderr). */
		return;
	}
	b->got += (size_t)res;
	if (b->got < sizeof(b->hdr)) {
		tb_read_more(b);
		return;
	}
	if (proto_hdr_get(b->hdr, &h) < 0 || h.type != PROTO_T_TEMPLATE_READY || h.len != 0) {
		tb_fail(b, -EPROTO, "the template guest did not send READY (an old guest-init?)",
			h.type == PROTO_T_LOG ? "it sent an error" : NULL);
		return;
	}
	vm_stamp(b->vm, VM_T_AGENT);
	res = vm_save(b->vm, b->state_fd, tb_saved, b);
	if (res < 0)
		tb_fail(b, res, "saving the template VM", NULL);
}

static void tb_agent(struct vm *vm, int fd, const struct err *e, void *data)
{
	struct tmpl_builder *b = data;

	if (fd < 0) {
		tb_fail(b, fd, "template agent channel", e ? e->msg : strerror(-fd));
		return;
	}
	b->agent_fd = fd;
	tb_read_more(b);
}

static void tb_exited(struct vm *vm, int wstatus, void *data)
{
	struct tmpl_builder *b = data;

	if (!b->saved && b->res == 0) {
		const char *q = vm_qemu_stderr(vm);
		b->res = -EIO;
		err_set(&b->err, EIO, "the template VM ended before it was saved%s%.*s", q[0] ? ": qemu: " : "",
			(int)strcspn(q, "\n"), q);
	}
	loop_stop(b->l);
}

static void tb_timeout(struct loop_timer *t)
{
	struct tmpl_builder *b = t->data;

	tb_fail(b, -ETIMEDOUT, "the template VM was not ready in time", NULL);
}

/* Boot, wait for READY, save, quit. */
static int tmpl_boot_save(const struct vm_host *h, const struct vm_config *c, int state_fd, struct err *err)
{
	struct tmpl_builder b = { .agent_fd = -1, .state_fd = state_fd };
	struct vm_events ev = { .exited = tb_exited, .agent = tb_agent };
	int r;

	if ((r = loop_new(&b.l, 64, err)) < 0)
		return r;
	loop_timer_init(&b.limit, tb_timeout, &b);
	r = vm_start(b.l, h, c, &ev, &b, &b.vm, err);
	if (r < 0) {
		loop_free(b.l);
		return r;
	}
	loop_timer_start(b.l, &b.limit, TMPL_BUILD_LIMIT_S * 1000000000ull);
	loop_run(b.l);
	loop_timer_stop(b.l, &b.limit);
	if (loop_op_active(&b.rd))
		loop_cancel(b.l, &b.rd);
	vm_log_timeline(b.vm);
	vm_free(b.vm);
	while (loop_run_once(b.l, false) > 0)
		;
	if (b.agent_fd >= 0)
		close(b.agent_fd);
	loop_free(b.l);
	if (b.res < 0) {
		*err = b.err;
		return b.res;
	}
	return 0;
}

static void tmpl_meta_file(struct json_writer *w, const char *what, const char *path)
{
	char id[128], key[32];

	jw_key(w, what);
	if (!path || tmpl_identity(path, id, sizeof(id)) < 0) {
		jw_null(w);
		return;
	}
	jw_str(w, path);
	snprintf(key, sizeof(key), "%s_id", what);
	jw_key(w, key);
	jw_str(w, id);
}

static char *tmpl_meta(const char *key, const struct vm_host *h, const struct tmpl_shape *s)
{
	struct buf b = BUF_INIT;
	struct json_writer w;

	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	jw_key(&w, "key");
	jw_str(&w, key);
	jw_key(&w, "created");
	jw_int(&w, (int64_t)time(NULL));
	jw_key(&w, "cpus");
	jw_uint(&w, s->cpus ? s->cpus : 1);
	jw_key(&w, "mem_mib");
	jw_uint(&w, s->mem_mib ? s->mem_mib : 256);
	jw_key(&w, "nshares");
	jw_uint(&w, s->nshares);
	jw_key(&w, "net");
	jw_bool(&w, s->net);
	jw_key(&w, "accel");
	jw_str(&w, vm_accel_name(h->accel));
	tmpl_meta_file(&w, "qemu", h->qemu);
	tmpl_meta_file(&w, "kernel", h->kernel.path);
	tmpl_meta_file(&w, "initrd", h->initrd);
	tmpl_meta_file(&w, "init", h->init);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	return buf_steal(&b);
}

static int tmpl_mkfile(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), r = 0;

	if (fd < 0)
		return -errno;
	if (size && ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	close(fd);
	return r;
}

int tmpl_build(const char *root, const struct vm_host *h, const struct tmpl_shape *s,
	       char key[TMPL_KEY_LEN + 1], struct err *err)
{
	_cleanup_free_ char *ramdir = tmpl_ram_dir(root), *ram = NULL, *ramtmp = NULL, *work = NULL,
			    *disk = NULL, *share = NULL, *statep = NULL, *console = NULL, *meta = NULL,
			    *lockname = NULL, *tmpname = NULL;
	_cleanup_close_ int tfd = -1, lk = -1, state = -1;
	struct tmpl_files f;
	struct vm_host th;
	struct vm_config c;
	int r;

	if ((r = tmpl_key(h, s, key, err)) < 0)
		return r;
	tfd = tmpl_dir_open(root, true);
	if (tfd < 0)
		return err_setx(err, -tfd, "%s/templates", root);
	lockname = xasprintf("%s.lock", key);
	lk = openat(tfd, lockname, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lk < 0)
		return err_setx(err, errno, "%s/templates/%s", root, lockname);
	if (flock(lk, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : err_setx(err, errno, "locking template %.12s", key);
	if (tmpl_find(root, key, &f) == 0) {
		tmpl_files_release(&f);
		return 1;
	}
	/* A stale one of this key (its RAM went with a reboot): replaced. */
	tmpl_dir_remove_path(tfd, key);
	if (mkdir(ramdir, 0700) < 0 && errno != EEXIST)
		return err_setx(err, errno, "%s", ramdir);
	tmpl_ram_dir_claim(ramdir, root);
	if (tmpl_sweep(TMPL_SHM, root))
		log_debug("template: removed the RAM of deleted stores");
	tmpname = xasprintf(".build-%s-%d", key, (int)getpid());
	work = xasprintf("%s/templates/%s", root, tmpname);
	if (mkdir(work, 0700) < 0)
		return err_setx(err, errno, "%s", work);
	ram = xasprintf("%s/%s.ram", ramdir, key);
	ramtmp = xasprintf("%s/%s.ram.%d", ramdir, key, (int)getpid());
	disk = xasprintf("%s/disk", work);
	share = xasprintf("%s/share", work);
	statep = xasprintf("%s/state", work);
	console = xasprintf("%s/console.log", work);
	{
		_cleanup_free_ char *lnk = xasprintf("%s/ram", work);
		if (symlink(ramtmp, lnk) < 0) {
			r = err_setx(err, errno, "%s", lnk);
			goto fail;
		}
	}
	unlink(ramtmp);
	if ((r = tmpl_mkfile(disk, TMPL_DISK_BYTES)) < 0 || (mkdir(share, 0700) < 0 && (r = -errno))) {
		err_setx(err, -r, "template placeholders in %s", work);
		goto fail;
	}
	/* QEMU opens the placeholder share itself, as its own user. */
	if (h->drop && chown(share, h->uid, h->gid) < 0) {
		r = err_setx(err, errno, "%s", share);
		goto fail;
	}
	state = open(statep, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (state < 0) {
		r = err_setx(err, errno, "%s", statep);
		goto fail;
	}
	tmpl_host(h, &th);
	tmpl_vm_config(s, &(struct tmpl_paths){ .disk = disk, .share = share, .ram = ramtmp,
						.console = console }, &c);
	log_debug("template %.12s: building (%u vCPU, %u MiB, %u shares%s)", key, c.cpus, c.mem_mib,
		  c.nshares, s->net ? ", network" : "");
	r = tmpl_boot_save(&th, &c, state, err);
	if (r < 0) {
		err_wrap(err, "building template %.12s", key);
		goto fail;
	}
	if (fsync(state) < 0) {
		r = err_setx(err, errno, "%s", statep);
		goto fail;
	}
	unlink(disk);
	meta = tmpl_meta(key, h, s);
	{
		_cleanup_free_ char *mp = xasprintf("%s/meta.json", tmpname);
		if ((r = write_file_atomic_at(tfd, mp, meta, strlen(meta), 0600)) < 0) {
			err_setx(err, -r, "%s/meta.json", work);
			goto fail;
		}
	}
	/* Publish: the RAM under its final name, the link to it, then the
	 * directory in one rename (a reader sees all of it or nothing). */
	if (rename(ramtmp, ram) < 0) {
		r = err_setx(err, errno, "%s", ram);
		goto fail;
	}
	{
		_cleanup_free_ char *lnk = xasprintf("%s/ram", tmpname);
		unlinkat(tfd, lnk, 0);
		if (symlinkat(ram, tfd, lnk) < 0) {
			r = err_setx(err, errno, "%s/ram", work);
			unlink(ram);
			goto fail;
		}
	}
	if (renameat(tfd, tmpname, tfd, key) < 0) {
		r = err_setx(err, errno, "publishing template %.12s", key);
		unlink(ram);
		goto fail;
	}
	log_debug("template %.12s: ready", key);
	return 0;
fail:
	unlink(ramtmp);
	tmpl_dir_remove_path(tfd, tmpname);
	return r;
}
