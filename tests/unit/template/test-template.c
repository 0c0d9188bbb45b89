/* modules/template without QEMU: the shape and key of a VM, the RESUME
 * frame (decoded by guest-init's own parser), the QEMU arguments of a
 * template and of a clone, the UCRT_TEMPLATES switch, and the store side
 * (find, list, stale, remove, prune) on a hand-made template directory. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/tap.h"
#include "err.h"
#include "str.h"
#include "util.h"
#include "template/template.h"
#include "template/template-internal.h"
#include "vm/vm.h"

#include "guest-init/resume.c"

static char dir[] = "/tmp/ucrt-test-tmpl.XXXXXX";

static void t_write(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd >= 0) {
		if (write_all(fd, data, strlen(data)) < 0)
			t_diag("write %s failed", path);
		close(fd);
	}
}

static const char *t_opt(char **v, const char *opt)
{
	for (size_t i = 0; v[i] && v[i + 1]; i++) {
		if (strcmp(v[i], opt) == 0)
			return v[i + 1];
	}
	return NULL;
}

static void t_shape(const struct vm_host *h)
{
	struct vm_config c = { .agent = true, .ndisks = 1, .disks = { { .path = "/d" } }, .nshares = 2,
			       .shares = { { .tag = "ucrt0", .path = "/a" }, { .tag = "ucrt1", .path = "/b" } },
			       .mac = "02:00:00:00:00:09", .tap_fd = 5, .mem_mib = 512 };
	struct vm_host vs = *h;
	struct tmpl_shape s;
	const char *why = NULL;

	t_ok(tmpl_shape_of(h, &c, &s, &why) && s.cpus == 1 && s.mem_mib == 512 && s.nshares == 2 && s.net,
	     "a VM with a root disk, ucrt0.. shares and a tap has a shape (1 vCPU default, 512 MiB, 2, net)");
	vs.transport = VM_TRANSPORT_VSOCK;
	t_ok(!tmpl_shape_of(&vs, &c, &s, &why) && strstr(why, "vsock"), "vsock transport: cold (%s)", why);
	c.shares[1].tag = "other";
	t_ok(!tmpl_shape_of(h, &c, &s, &why), "shares tagged otherwise: cold (%s)", why);
	c.shares[1].tag = "ucrt1";
	c.ndisks = 2;
	t_ok(!tmpl_shape_of(h, &c, &s, &why) && strstr(why, "disk"), "data disks: cold (%s)", why);
	c.ndisks = 1;
	c.disks[0].readonly = true;
	t_ok(!tmpl_shape_of(h, &c, &s, &why), "a read-only root drive: cold (%s)", why);
	c.disks[0].readonly = false;

	/* ucrt's kernel (no ACPI): 8 device slots; 6 tagged shares + root +
	 * agent fit without a network, not with one. */
	static const char *const tags[] = { "ucrt0", "ucrt1", "ucrt2", "ucrt3", "ucrt4", "ucrt5" };
	vs = *h;
	vs.kernel.builtin = true;
	for (unsigned i = 0; i < 6; i++)
		c.shares[i] = (struct vm_share){ .tag = tags[i], .path = "/a" };
	c.nshares = 6;
	c.mac = NULL;
	t_ok(tmpl_shape_of(&vs, &c, &s, &why), "6 shares in 8 slots: a shape");
	c.mac = "02:00:00:00:00:09";
	t_ok(!tmpl_shape_of(&vs, &c, &s, &why) && strstr(why, "slots"),
	     "6 shares + a network in 8 slots: no template for a VM that cannot start (%s)", why);
}

static void t_keys(struct vm_host *h, const char *kernel2)
{
	struct tmpl_shape s = { .cpus = 1, .mem_mib = 256 }, s2;
	char k1[TMPL_KEY_LEN + 1], k2[TMPL_KEY_LEN + 1], k3[TMPL_KEY_LEN + 1];
	struct err e = { 0 };
	const char *k0 = h->kernel.path;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	t_is(tmpl_key(h, &s, k1, &e), 0, "key of a shape");
	t_ok(tmpl_key_ok(k1), "it is 64 hex digits (%s)", k1);
	tmpl_key(h, &s, k2, &e);
	t_streq(k2, k1, "the same host and shape give the same key");
	s2 = s;
	s2.mem_mib = 0;
	tmpl_key(h, &s2, k2, &e);
	t_streq(k2, k1, "memory 0 means the default 256 MiB");
	s2 = (struct tmpl_shape){ .cpus = 2, .mem_mib = 256 };
	tmpl_key(h, &s2, k2, &e);
	t_ok(strcmp(k1, k2) != 0, "vCPUs change the key");
	s2 = (struct tmpl_shape){ .cpus = 1, .mem_mib = 512 };
	tmpl_key(h, &s2, k2, &e);
	t_ok(strcmp(k1, k2) != 0, "memory changes the key");
	s2 = (struct tmpl_shape){ .cpus = 1, .mem_mib = 256, .nshares = 1 };
	tmpl_key(h, &s2, k2, &e);
	t_ok(strcmp(k1, k2) != 0, "shares change the key");
	s2 = (struct tmpl_shape){ .cpus = 1, .mem_mib = 256, .net = true };
	tmpl_key(h, &s2, k2, &e);
	t_ok(strcmp(k1, k2) != 0, "a network device changes the key");
	h->sandbox = !h->sandbox;
	tmpl_key(h, &s, k2, &e);
	h->sandbox = !h->sandbox;
	t_ok(strcmp(k1, k2) != 0, "machine options (-sandbox) change the key");
	h->kernel.path = (char *)kernel2;
	tmpl_key(h, &s, k2, &e);
	t_ok(strcmp(k1, k2) != 0, "another kernel file changes the key");
	utimensat(AT_FDCWD, kernel2, ts, 0);
	tmpl_key(h, &s, k3, &e);
	t_ok(strcmp(k3, k2) != 0, "the same kernel path with another mtime changes it");
	h->kernel.path = (char *)"/nonexistent/vmlinux";
	t_ok(tmpl_key(h, &s, k3, &e) < 0 && strstr(err_msg(&e), "/nonexistent/vmlinux"),
	     "a missing kernel: an error naming it (%s)", err_msg(&e));
	h->kernel.path = (char *)k0;
}

static void t_argv(const struct vm_host *h)
{
	struct tmpl_shape s = { .cpus = 1, .mem_mib = 256, .nshares = 1, .net = true };
	struct tmpl_paths p = { .disk = "/t/disk", .share = "/t/share", .ram = "/shm/k.ram" };
	struct vm_config c;
	const char *o;
	char **v;

	tmpl_vm_config(&s, &p, &c);
	v = vm_argv(h, &c, NULL);
	o = t_opt(v, "-object");
	t_ok(o && strstr(o, "memory-backend-file") && strstr(o, "mem-path=/proc/self/fd/") && strstr(o, "share=on") &&
		     strstr(o, "size=256M"),
	     "the template maps its RAM file shared (%s)", o);
	o = t_opt(v, "-M");
	t_ok(o && strstr(o, "memory-backend=mem"), "microvm takes that backend as RAM");
	t_ok(!t_opt(v, "-incoming"), "the template boots (no -incoming)");
	o = t_opt(v, "-append");
	t_ok(o && strstr(o, " ucrt.template"), "guest-init is told to wait (ucrt.template)");
	t_ok(!t_opt(v, "-netdev") && (o = t_opt(v, "-device")) != NULL, "its network device has no backend");
	strv_free(v);

	c.mem_shared = false;
	c.incoming = true;
	c.migrate_fd = 9;
	c.tap_fd = 7;
	v = vm_argv(h, &c, NULL);
	o = t_opt(v, "-object");
	t_ok(o && strstr(o, "share=off"), "a clone maps it private, copy-on-write");
	t_streq(t_opt(v, "-incoming"), "defer", "a clone waits for migrate-incoming");
	t_ok(t_opt(v, "-netdev") != NULL, "a clone's network device has its tap");
	strv_free(v);
}

static void t_resume(void)
{
	uint8_t buf[2048];
	struct gi_resume r;
	struct proto_hdr h;
	struct timespec ts;
	size_t len;
	uint64_t now;

	t_is(tmpl_resume_encode("ucrt.ro ucrt.debug", buf, sizeof(buf), &len), 0, "RESUME encodes");
	t_ok(proto_hdr_get(buf, &h) == 0 && h.type == PROTO_T_TEMPLATE_RESUME && h.len == len - PROTO_HDR_SIZE,
	     "a valid TEMPLATE_RESUME frame");
	t_is(gi_resume_parse(buf + PROTO_HDR_SIZE, h.len, &r), 0, "guest-init parses it");
	t_is(r.seed_len, 64, "64 bytes of seed");
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	t_ok(r.time_ns && now - r.time_ns < 5000000000ull, "the host's wall clock");
	t_streq(r.cmdline, "ucrt.ro ucrt.debug", "the clone's ucrt.* parameters");
	uint8_t seed2[64];
	memcpy(seed2, r.seed, 64);
	tmpl_resume_encode(NULL, buf, sizeof(buf), &len);
	proto_hdr_get(buf, &h);
	gi_resume_parse(buf + PROTO_HDR_SIZE, h.len, &r);
	t_ok(memcmp(seed2, r.seed, 64) != 0 && r.cmdline[0] == 0, "each RESUME has fresh randomness; no parameters");
	t_is(tmpl_resume_encode("x", buf, 20, &len), -ENOBUFS, "too small a buffer: -ENOBUFS");
	/* Hostile payloads. */
	uint8_t bad[8] = { 30, 0, 4, 0, 1, 2, 3, 4 };
	t_is(gi_resume_parse(bad, sizeof(bad), &r), -EINVAL, "a 4-byte seed is refused");
	uint8_t trunc[6] = { 31, 0, 8, 0, 1, 2 };
	t_is(gi_resume_parse(trunc, sizeof(trunc), &r), -EBADMSG, "a truncated attribute is refused");
	uint8_t nul[7] = { 32, 0, 3, 0, 'a', 0, 'b' };
	t_is(gi_resume_parse(nul, sizeof(nul), &r), -EINVAL, "a command line with a NUL is refused");
}

static void t_switch(void)
{
	unsetenv("UCRT_TEMPLATES");
	t_ok(tmpl_enabled(true) && !tmpl_enabled(false), "unset: the default");
	setenv("UCRT_TEMPLATES", "off", 1);
	t_ok(!tmpl_enabled(true), "UCRT_TEMPLATES=off");
	setenv("UCRT_TEMPLATES", "1", 1);
	t_ok(tmpl_enabled(false), "UCRT_TEMPLATES=1");
	setenv("UCRT_TEMPLATES", "maybe", 1);
	t_ok(!tmpl_enabled(true), "an unknown value: off (with a warning)");
	unsetenv("UCRT_TEMPLATES");
}

/* A template directory as tmpl_build leaves it, made by hand. */
static void t_fake(const char *root, const char *key, const char *kernel, const char *ram)
{
	char path[512], id[128], meta[2048];

	snprintf(path, sizeof(path), "%s/templates/%s", root, key);
	mkdir_p_at(AT_FDCWD, path, 0700);
	snprintf(path, sizeof(path), "%s/templates/%s/state", root, key);
	t_write(path, "state");
	snprintf(path, sizeof(path), "%s/templates/%s/ram", root, key);
	if (symlink(ram, path) < 0)
		t_diag("symlink failed");
	t_write(ram, "ram");
	tmpl_identity(kernel, id, sizeof(id));
	snprintf(meta, sizeof(meta),
		 "{\"key\":\"%s\",\"created\":1,\"cpus\":2,\"mem_mib\":512,\"nshares\":1,\"net\":true,"
		 "\"qemu\":null,\"kernel\":\"%s\",\"kernel_id\":\"%s\",\"initrd\":null,\"init\":null}",
		 key, kernel, id);
	snprintf(path, sizeof(path), "%s/templates/%s/meta.json", root, key);
	t_write(path, meta);
}

static void t_store(const char *kernel2)
{
	char root[300], ram1[300], ram2[300], k1[TMPL_KEY_LEN + 1], k2[TMPL_KEY_LEN + 1];
	struct timespec ts[2] = { { 2000000000, 0 }, { 2000000000, 0 } };
	struct tmpl_files f;
	struct tmpl_info *v;
	struct err e = { 0 };
	unsigned removed;
	size_t n;

	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(ram1, sizeof(ram1), "%s/one.ram", dir);
	snprintf(ram2, sizeof(ram2), "%s/two.ram", dir);
	memset(k1, 'a', TMPL_KEY_LEN);
	k1[TMPL_KEY_LEN] = 0;
	memset(k2, 'b', TMPL_KEY_LEN);
	k2[TMPL_KEY_LEN] = 0;
	t_ok(tmpl_list(root, &v, &n, &e) == 0 && n == 0, "no templates directory: an empty list");
	t_fake(root, k1, "/proc/self/exe", ram1);
	t_fake(root, k2, kernel2, ram2);
	t_ok(tmpl_find(root, k1, &f) == 0 && strcmp(f.ram, ram1) == 0 && strstr(f.state, "/state"),
	     "find: the state file and the RAM file the link names");
	tmpl_files_release(&f);
	t_is(tmpl_find(root, "../../etc", &f), -EINVAL, "find: not a key");
	t_ok(tmpl_list(root, &v, &n, &e) == 0 && n == 2, "list: both");
	for (size_t i = 0; i < n; i++)
		t_ok(!v[i].stale && v[i].shape.cpus == 2 && v[i].shape.mem_mib == 512 && v[i].shape.nshares == 1 &&
			     v[i].shape.net && v[i].state_bytes == 5,
		     "list: %.8s's shape from meta.json, not stale", v[i].key);
	tmpl_list_free(v, n);
	utimensat(AT_FDCWD, kernel2, ts, 0);
	unlink(ram1);
	t_is(tmpl_find(root, k1, &f), -ENOENT, "find: the RAM file gone (a reboot): not there");
	tmpl_list(root, &v, &n, &e);
	t_ok(n == 2 && v[0].stale && v[1].stale, "list: RAM gone or kernel changed: stale");
	tmpl_list_free(v, n);
	t_ok(tmpl_remove(root, "zz", &e) < 0, "remove: a bad key is refused (%s)", err_msg(&e));
	t_ok(tmpl_remove(root, "cccc", &e) < 0 && strstr(err_msg(&e), "no template"), "remove: unknown key");
	t_is(tmpl_prune(root, false, &removed, &e), 0, "prune");
	t_is(removed, 2, "prune removed both stale ones");
	t_ok(access(ram2, F_OK) < 0, "... with their RAM files");
	t_fake(root, k1, "/proc/self/exe", ram1);
	t_is(tmpl_remove(root, "aaaa", &e), 0, "remove by a 4-digit prefix");
	t_ok(access(ram1, F_OK) < 0, "... removes the RAM file too");
	tmpl_list(root, &v, &n, &e);
	t_is(n, 0, "nothing is left");
	tmpl_list_free(v, n);
}

/* tmpl_attach against a hand-made template of the right key, and the
 * RESUME it has the caller send, read back from a socketpair. */
static void t_attach(const struct vm_host *h)
{
	char root[300], ram[300], key[TMPL_KEY_LEN + 1], kk[TMPL_KEY_LEN + 1];
	struct vm_config c = { .agent = true, .ndisks = 1, .disks = { { .path = "/d" } } };
	struct tmpl_shape s;
	struct tmpl_files f;
	const char *why = NULL;
	struct err e = { 0 };
	uint8_t buf[2048];
	struct proto_hdr hd;
	struct gi_resume r;
	int fd = -1, sv[2];
	ssize_t got;

	snprintf(root, sizeof(root), "%s/root2", dir);
	snprintf(ram, sizeof(ram), "%s/attach.ram", dir);
	t_is(tmpl_attach(root, h, &c, &f, &fd, &why, key), 0, "attach without a template: cold");
	t_ok(why && strstr(why, "none built"), "... because none is built (%s)", why);
	t_ok(!c.mem_path && fd < 0, "... and the config is untouched");
	tmpl_shape_of(h, &c, &s, &why);
	tmpl_key(h, &s, kk, &e);
	t_fake(root, kk, "/proc/self/exe", ram);
	t_is(tmpl_attach(root, h, &c, &f, &fd, &why, key), 1, "attach with its template: a clone");
	t_ok(c.mem_path && strcmp(c.mem_path, ram) == 0 && !c.mem_shared && c.incoming && c.migrate_fd == fd && fd >= 0,
	     "... of its RAM file, private, restoring from its state");
	t_streq(key, kk, "... of the key of its shape");
	if (fd >= 0)
		close(fd);
	tmpl_files_release(&f);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	t_is(tmpl_resume_send(sv[0], "ucrt.ro"), 0, "RESUME sent on the channel");
	got = read(sv[1], buf, sizeof(buf));
	t_ok(got > (ssize_t)PROTO_HDR_SIZE && proto_hdr_get(buf, &hd) == 0 && hd.type == PROTO_T_TEMPLATE_RESUME &&
		     (size_t)got == PROTO_HDR_SIZE + hd.len && gi_resume_parse(buf + PROTO_HDR_SIZE, hd.len, &r) == 0 &&
		     strcmp(r.cmdline, "ucrt.ro") == 0,
	     "... one whole frame guest-init parses");
	close(sv[0]);
	close(sv[1]);
}

/* RAM directories of deleted stores are swept; live ones and unknown
 * ones stay. */
static void t_sweep(void)
{
	char shm[300], p[400], live[300];

	snprintf(shm, sizeof(shm), "%s/shm", dir);
	snprintf(live, sizeof(live), "%s/live", dir);
	snprintf(p, sizeof(p), "%s/templates", live);
	mkdir_p_at(AT_FDCWD, p, 0700);
	snprintf(p, sizeof(p), "%s/ucrt-templates-gone", shm);
	mkdir_p_at(AT_FDCWD, p, 0700);
	tmpl_ram_dir_claim(p, "/nonexistent/store");
	snprintf(p, sizeof(p), "%s/ucrt-templates-gone/k.ram", shm);
	t_write(p, "ram");
	snprintf(p, sizeof(p), "%s/ucrt-templates-live", shm);
	mkdir_p_at(AT_FDCWD, p, 0700);
	tmpl_ram_dir_claim(p, live);
	snprintf(p, sizeof(p), "%s/ucrt-templates-unknown", shm);
	mkdir_p_at(AT_FDCWD, p, 0700);
	snprintf(p, sizeof(p), "%s/other", shm);
	mkdir_p_at(AT_FDCWD, p, 0700);
	tmpl_ram_dir_claim(p, "/nonexistent/store");
	t_is(tmpl_sweep(shm, NULL), 1, "sweep removes one RAM directory");
	snprintf(p, sizeof(p), "%s/ucrt-templates-gone", shm);
	t_ok(access(p, F_OK) < 0, "... the one of a deleted store");
	snprintf(p, sizeof(p), "%s/ucrt-templates-live", shm);
	t_ok(access(p, F_OK) == 0, "... not a live store's");
	snprintf(p, sizeof(p), "%s/ucrt-templates-unknown", shm);
	t_ok(access(p, F_OK) == 0, "... nor one that names no store");
	snprintf(p, sizeof(p), "%s/other", shm);
	t_ok(access(p, F_OK) == 0, "... nor what is not ucrt's");
}

int main(void)
{
	char kernel2[300];
	struct vm_host h = { .qemu = (char *)"/proc/self/exe", .accel = VM_ACCEL_TCG, .sandbox = true,
			     .kernel = { .path = (char *)"/proc/self/exe", .builtin = true },
			     .transport = VM_TRANSPORT_SERIAL };

	if (!mkdtemp(dir))
		t_skip_all("mkdtemp");
	snprintf(kernel2, sizeof(kernel2), "%s/vmlinux2", dir);
	t_write(kernel2, "kernel");
	t_shape(&h);
	t_keys(&h, kernel2);
	t_argv(&h);
	t_resume();
	t_switch();
	t_store(kernel2);
	t_attach(&h);
	t_sweep();
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			t_diag("cleanup failed");
	}
	return t_done();
}
