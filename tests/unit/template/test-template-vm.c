/* modules/template and the vm module's save/restore with real QEMU (TCG
 * here) and ucrt's kernel and guest-init: tmpl_build boots a template to
 * guest-init's TEMPLATE_READY and saves it (vm_save: a small state file,
 * the RAM in its file); a VM made a clone by tmpl_attach is restored
 * (-incoming defer, migrate-incoming) and, once sent RESUME, answers with
 * guest-init's HELLO; a second tmpl_build finds the template there. */
#include <sys/stat.h>

#include "tests/lib/tap.h"
#include "tests/unit/vm/t-vm.h"
#include "agent/proto.h"
#include "template/template.h"

struct t_clone {
	struct loop *l;
	struct vm *vm;
	int fd;
	uint8_t hdr[PROTO_HDR_SIZE];
	size_t got;
	struct loop_op rd;
	bool hello, exited;
	struct loop_timer limit;
};

static void t_rd(struct t_clone *t);

static void t_rd_done(struct loop_op *op, int res, uint32_t flags)
{
	struct t_clone *t = container_of(op, struct t_clone, rd);
	struct proto_hdr h;

	if (res <= 0)
		return;
	t->got += (size_t)res;
	if (t->got < sizeof(t->hdr)) {
		t_rd(t);
		return;
	}
	t->hello = proto_hdr_get(t->hdr, &h) == 0 && h.type == PROTO_T_HELLO;
	vm_quit(t->vm, 2000);
}

static void t_rd(struct t_clone *t)
{
	t->rd.cb = t_rd_done;
	loop_read(t->l, &t->rd, t->fd, t->hdr + t->got, (unsigned)(sizeof(t->hdr) - t->got), (uint64_t)-1);
}

static void t_agent(struct vm *vm, int fd, const struct err *e, void *data)
{
	struct t_clone *t = data;

	if (fd < 0)
		return;
	t->fd = fd;
	/* The clone waits in guest-init's read for this. */
	if (tmpl_resume_send(fd, NULL) == 0)
		t_rd(t);
}

static void t_exited(struct vm *vm, int ws, void *data)
{
	struct t_clone *t = data;

	t->exited = true;
	loop_stop(t->l);
}

static void t_limit(struct loop_timer *tm)
{
	struct t_clone *t = tm->data;

	vm_kill(t->vm, SIGKILL);
}

int main(void)
{
	const char *kernel = t_built_kernel();
	char cache[300], root[300], disk[300], key[TMPL_KEY_LEN + 1], key2[TMPL_KEY_LEN + 1];
	struct vm_host_opts o = { .transport = VM_TRANSPORT_SERIAL };
	struct vm_host h = { 0 };
	struct tmpl_shape s = { .cpus = 1, .mem_mib = 128 };
	struct tmpl_files f;
	struct err e = { 0 };
	struct stat st;
	const char *why = NULL;
	int r, fd = -1;

	if (!kernel)
		t_skip_all("no ucrt kernel (make kernel)");
	if (access("/usr/bin/qemu-system-x86_64", X_OK) < 0)
		t_skip_all("qemu-system-x86_64 not installed");
	snprintf(cache, sizeof(cache), "%s/cache", t_tmpdir());
	snprintf(root, sizeof(root), "%s/root", t_tmpdir());
	mkdir(cache, 0755);
	mkdir(root, 0755);
	setenv("UCRT_TEMPLATE_DIR", t_tmpdir(), 1);
	o.kernel = kernel;
	o.cache_dir = cache;
	if (vm_host_probe(&h, &o, &e) < 0)
		t_skip_all(err_msg(&e));

	r = tmpl_build(root, &h, &s, key, &e);
	if (!t_ok(r == 0, "tmpl_build boots and saves a template"))
		t_diag("%s", err_msg(&e));
	t_ok(tmpl_find(root, key, &f) == 0, "it is there");
	memset(&st, 0, sizeof(st));
	if (f.state)
		stat(f.state, &st);
	t_ok(st.st_size > 1000 && st.st_size < 1024 * 1024, "vm_save wrote the device state only (%lld bytes)",
	     (long long)st.st_size);
	memset(&st, 0, sizeof(st));
	if (f.ram)
		stat(f.ram, &st);
	t_ok(st.st_size == 128ll << 20 && st.st_blocks > 0, "the RAM file is the guest's 128 MiB, partly written (%lld KiB)",
	     (long long)st.st_blocks / 2);
	tmpl_files_release(&f);
	t_is(tmpl_build(root, &h, &s, key2, &e), 1, "a second build finds it");
	t_streq(key2, key, "... under the same key");

	/* A clone: a VM with that shape, restored. */
	{
		struct t_clone t = { .fd = -1 };
		struct vm_events ev = { .exited = t_exited, .agent = t_agent };
		struct vm_config c = { .name = "clone", .mem_mib = 128, .agent = true, .ndisks = 1 };

		snprintf(disk, sizeof(disk), "%s/disk.raw", t_tmpdir());
		t_write(disk, "", 0644);
		if (truncate(disk, 1 << 20) < 0)
			t_diag("truncate failed");
		c.disks[0] = (struct vm_disk){ .path = disk };
		t_is(tmpl_attach(root, &h, &c, &f, &fd, &why, key2), 1, "tmpl_attach makes it a clone");
		loop_new(&t.l, 64, &e);
		loop_timer_init(&t.limit, t_limit, &t);
		r = vm_start(t.l, &h, &c, &ev, &t, &t.vm, &e);
		t_is(r, 0, "the clone starts");
		if (fd >= 0)
			close(fd);
		if (r == 0) {
			loop_timer_start(t.l, &t.limit, 120 * 1000000000ull);
			loop_run(t.l);
			if (!t_ok(t.hello, "restored, it answers RESUME with guest-init's HELLO"))
				t_diag("qemu: %s", vm_qemu_stderr(t.vm));
			t_ok(t.exited, "and quits");
			loop_timer_stop(t.l, &t.limit);
			if (loop_op_active(&t.rd))
				loop_cancel(t.l, &t.rd);
			vm_free(t.vm);
			while (loop_run_once(t.l, false) > 0)
				;
		}
		if (t.fd >= 0)
			close(t.fd);
		loop_free(t.l);
		tmpl_files_release(&f);
	}
	{
		unsigned n;
		tmpl_prune(root, true, &n, &e);
		t_is(n, 1, "prune --all removes it");
	}
	vm_host_release(&h);
	return t_done();
}
