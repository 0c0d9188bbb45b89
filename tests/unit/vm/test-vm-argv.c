/* The QEMU command line and the probe's decisions, without starting QEMU. */
#include "tests/lib/tap.h"
#include "t-vm.h"
#include "agent/proto.h"
#include "str.h"
#include "vm/vm-internal.h"

/* Value following option opt whose value contains needle (options such
 * as -drive repeat). */
static const char *t_opt(char **v, const char *opt, const char *needle)
{
	for (size_t i = 0; v[i] && v[i + 1]; i++) {
		if (strcmp(v[i], opt) == 0 && (!needle || strstr(v[i + 1], needle)))
			return v[i + 1];
	}
	return NULL;
}

static void t_argv_builtin(void)
{
	struct vm_host h = {
		.qemu = "/usr/bin/qemu-system-x86_64",
		.accel = VM_ACCEL_TCG,
		.sandbox = true,
		.tsc_khz = 2000000,
		.kernel = { .path = "/k,dir/vmlinux", .builtin = true },
		.initrd = "/c/initramfs.cpio",
	};
	struct vm_config c = {
		.cpus = 2,
		.mem_mib = 512,
		.ndisks = 2,
		.disks = { { .path = "/img/a,b.ext4", .readonly = true }, { .path = "/c/over.qcow2", .qcow2 = true } },
		.cmdline = "ucrt.debug",
		.agent = true,
	};
	_cleanup_strv_ char **v = vm_argv(&h, &c, NULL);
	const char *s;

	t_streq(v[0], "/usr/bin/qemu-system-x86_64", "argv[0] is the qemu path");
	s = t_opt(v, "-M", NULL);
	t_ok(s && strstr(s, "microvm") && strstr(s, "accel=tcg") && strstr(s, "acpi=off") && !strstr(s, "pic=off"),
	     "built kernel: microvm, tcg, acpi=off, PIC kept for 2 vCPUs (%s)", s);
	t_streq(t_opt(v, "-cpu", NULL), "max", "TCG uses the max CPU model");
	t_streq(t_opt(v, "-kernel", NULL), "/proc/self/fd/8", "kernel: the fd ucrt opened (no path for QEMU)");
	t_streq(t_opt(v, "-initrd", NULL), "/proc/self/fd/9", "initrd: likewise");
	t_streq(t_opt(v, "-smp", NULL), "2", "-smp");
	t_streq(t_opt(v, "-m", NULL), "512", "-m");
	s = t_opt(v, "-append", NULL);
	t_ok(s && str_startswith(s, "console=ttyS0 quiet panic=-1 reboot=t") && strstr(s, " tsc_early_khz=2000000") &&
	     str_endswith(s, " ucrt.debug") && !strstr(s, "i8042") && !strstr(s, "nolapic_timer"),
	     "kernel command line: %s", s);
	c.cpus = 1;
	_cleanup_strv_ char **one = vm_argv(&h, &c, NULL);
	t_ok(!strstr(t_opt(one, "-M", NULL), "pic=off") && strstr(t_opt(one, "-append", NULL), " nolapic_timer"),
	     "one vCPU under TCG: nolapic_timer, PIC kept (pic=off stalls guest sleeps)");
	bool noreboot = false, nodefaults = false;
	for (char **a = v; *a; a++) {
		noreboot |= strcmp(*a, "-no-reboot") == 0;
		nodefaults |= strcmp(*a, "-nodefaults") == 0;
	}
	t_ok(noreboot && nodefaults, "-no-reboot and -nodefaults present");
	t_ok(t_opt(v, "-drive", "file=/dev/fdset/10,format=raw,if=none,id=vda,readonly=on") != NULL,
	     "image disk raw, read-only, from fd set 10");
	t_ok(t_opt(v, "-add-fd", "fd=10,set=10") && !t_opt(v, "-add-fd", "fd=11,set=10"), "... which holds fd 10 alone");
	t_ok(t_opt(v, "-drive", "file=/dev/fdset/11,format=qcow2,if=none,id=vdb,discard=unmap") != NULL,
	     "overlay disk qcow2, writable, from fd set 11");
	t_ok(t_opt(v, "-drive", "id=vdb,discard=unmap,werror=report,rerror=report") != NULL &&
	     !t_opt(v, "-drive", "readonly=on,werror"),
	     "... whose host I/O errors reach the guest (no pause on ENOSPC); read-only disks need none");
	t_ok(t_opt(v, "-add-fd", "fd=11,set=11") && t_opt(v, "-add-fd", "fd=12,set=11"),
	     "... which holds fds 11 and 12 (read-only and read-write)");
	for (char **a = v; *a; a++)
		t_ok(!strstr(*a, "/img/") && !strstr(*a, "/c/"), "no host path in argument '%s'", *a);
	t_ok(t_opt(v, "-device", "virtio-blk-device,drive=vdb") != NULL, "second virtio-blk device");
	s = t_opt(v, "-device", "virtserialport");
	t_ok(s && strstr(s, "name=" PROTO_PORT_NAME), "agent port named %s", PROTO_PORT_NAME);
	t_streq(VM_AGENT_PORT, PROTO_PORT_NAME, "vm and proto.h agree on the port name");
	t_streq(t_opt(v, "-chardev", "id=qmp"), "socket,id=qmp,fd=3", "QMP on fd 3");
	t_streq(t_opt(v, "-chardev", "id=agent"), "socket,id=agent,fd=5", "agent on fd 5");
	s = t_opt(v, "-sandbox", NULL);
	t_ok(s && strstr(s, "spawn=deny") && strstr(s, "elevateprivileges=deny"), "seccomp sandbox");
}

static void t_argv_modular(void)
{
	struct vm_host h = {
		.qemu = "q",
		.accel = VM_ACCEL_KVM,
		.kernel = { .path = "/boot/vmlinuz-x", .modules_dir = "/lib/modules/x" },
	};
	struct vm_config c = { .ndisks = 1, .disks = { { .path = "/r", .snapshot = true } } };
	_cleanup_strv_ char **v = vm_argv(&h, &c, NULL);
	const char *s = t_opt(v, "-M", NULL);

	t_ok(s && strstr(s, "accel=kvm") && strstr(s, "acpi=on"), "cloud kernel: acpi=on (%s)", s);
	t_streq(t_opt(v, "-cpu", NULL), "host", "KVM uses the host CPU model");
	s = t_opt(v, "-append", NULL);
	t_ok(s && strstr(s, "i8042.noaux") && !strstr(s, "tsc_early_khz") && !strstr(s, "nolapic_timer"),
	     "i8042 probing off, no tsc hint or PIT tick under KVM");
	t_ok(t_opt(v, "-drive", "snapshot=on") != NULL && !t_opt(v, "-drive", "readonly"), "snapshot disk is writable");
	t_ok(t_opt(v, "-device", "virtserialport") == NULL, "no agent port unless asked");
	t_ok(t_opt(v, "-sandbox", NULL) == NULL, "no -sandbox without seccomp");
	t_ok(t_opt(v, "-initrd", NULL) == NULL, "no -initrd when the host has none");
}

static void t_argv_net(void)
{
	struct vm_host h = { .qemu = "q", .accel = VM_ACCEL_TCG, .kernel = { .path = "/k", .builtin = true } };
	struct vm_config c = { .ndisks = 1, .disks = { { .path = "/r", .snapshot = true } } };
	_cleanup_strv_ char **none = vm_argv(&h, &c, NULL);

	t_ok(t_opt(none, "-netdev", NULL) == NULL && t_opt(none, "-device", "virtio-net") == NULL,
	     "no MAC: no network device (a zeroed tap_fd is not a tap)");
	c.mac = "02:75:0a:58:00:02";
	c.tap_fd = 17;
	_cleanup_strv_ char **v = vm_argv(&h, &c, NULL);
	t_streq(t_opt(v, "-netdev", NULL), "tap,id=n0,fd=6",
		"tap by inherited fd 6 (VM_FD_TAP), not the caller's fd number; no vnet_hdr= (QEMU probes it)");
	t_is(VM_FD_TAP, 6, "VM_FD_TAP is 6");
	t_streq(t_opt(v, "-device", "virtio-net"), "virtio-net-device,netdev=n0,mac=02:75:0a:58:00:02",
		"virtio-net-device (virtio-mmio) with the MAC");
	c.netdev = VM_NETDEV_STREAM;
	_cleanup_strv_ char **s = vm_argv(&h, &c, NULL);
	t_streq(t_opt(s, "-netdev", NULL), "stream,id=n0,server=off,addr.type=fd,addr.str=6",
		"passt: a connected stream socket as fd 6");
	c.netdev = VM_NETDEV_USER;
	c.tap_fd = -1;
	_cleanup_strv_ char **u = vm_argv(&h, &c, NULL);
	t_streq(t_opt(u, "-netdev", NULL), "user,id=n0,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3,ipv6=off",
		"slirp: QEMU's own user-mode stack with passt's addressing");
	t_ok(t_opt(u, "-device", "virtio-net") != NULL, "... on the same virtio-net device");
}

/* The vsock transport: QEMU gets the vhost fd ucrt opened (CID already
 * set) instead of the virtio-serial port, the guest gets the port. */
static void t_argv_vsock(void)
{
	struct vm_host h = { .qemu = "q", .accel = VM_ACCEL_TCG, .kernel = { .path = "/k", .builtin = true },
			     .transport = VM_TRANSPORT_VSOCK };
	struct vm_config c = { .ndisks = 1, .disks = { { .path = "/r", .snapshot = true } },
			       .cmdline = "ucrt.debug", .agent = true };
	struct vm_vsock_ids ids = { .cid = 1234567, .port = 40001 };
	_cleanup_strv_ char **v = vm_argv(&h, &c, &ids);
	const char *s;

	t_streq(t_opt(v, "-device", "vhost-vsock"), "vhost-vsock-device,guest-cid=1234567,vhostfd=7",
		"vsock: vhost-vsock-device (virtio-mmio) with the reserved CID on inherited fd 7");
	t_is(VM_FD_VHOST, 7, "VM_FD_VHOST is 7");
	t_ok(VM_FD_VHOST != VM_FD_TAP && VM_FD_VHOST != VM_FD_AGENT && VM_FD_VHOST < VM_FD_FIRST_FREE,
	     "the vhost fd has its own slot below VM_FD_FIRST_FREE");
	s = t_opt(v, "-append", NULL);
	t_ok(s && strstr(s, " ucrt.vsock=40001") && str_endswith(s, " ucrt.debug"),
	     "vsock: guest cmdline carries ucrt.vsock=PORT, caller's args last: %s", s);
	t_ok(!t_opt(v, "-device", "virtserialport") && !t_opt(v, "-device", "virtio-serial") &&
	     !t_opt(v, "-chardev", "id=agent"), "vsock: no virtio-serial device, port or chardev");

	h.transport = VM_TRANSPORT_SERIAL;
	_cleanup_strv_ char **ser = vm_argv(&h, &c, &ids);
	t_ok(t_opt(ser, "-device", "virtserialport") && !t_opt(ser, "-device", "vhost-vsock") &&
	     !strstr(t_opt(ser, "-append", NULL), "ucrt.vsock"), "serial: virtio-serial port, no vsock device or cmdline");

	h.transport = VM_TRANSPORT_VSOCK;
	c.agent = false;
	_cleanup_strv_ char **none = vm_argv(&h, &c, &ids);
	t_ok(!t_opt(none, "-device", "vhost-vsock") && !strstr(t_opt(none, "-append", NULL), "ucrt.vsock"),
	     "vsock host, no agent asked: no vsock device, no ucrt.vsock");
}

/* Free-page reporting: a balloon device on cold boots only, never on a
 * template or a clone (their RAM is the template's file), and never in
 * place of a data mount's transport. */
static void t_argv_balloon(void)
{
	struct vm_host h = { .qemu = "q", .accel = VM_ACCEL_TCG, .kernel = { .path = "/k", .builtin = true } };
	struct vm_config c = { .ndisks = 1, .disks = { { .path = "/r", .snapshot = true } }, .agent = true,
			       .mac = "02:75:0a:58:00:02", .tap_fd = 17 };
	const char *want = "virtio-balloon-device,free-page-reporting=on";
	size_t last = 0;

	_cleanup_strv_ char **cold = vm_argv(&h, &c, NULL);
	t_streq(t_opt(cold, "-device", "balloon"), want, "cold boot: virtio-balloon (virtio-mmio), free-page reporting");
	t_ok(!t_opt(cold, "-device", "deflate-on-oom") && !t_opt(cold, "-device", "free-page-hint"),
	     "... reporting only (no hinting, no OOM deflate)");
	for (size_t i = 0; cold[i]; i++)
		if (strcmp(cold[i], "-device") == 0)
			last = i;
	t_streq(cold[last + 1], want, "... the last device (the others keep their transports)");

	c.mem_path = "/dev/shm/t/ram";
	c.mem_shared = true;
	_cleanup_strv_ char **tmpl = vm_argv(&h, &c, NULL);
	t_ok(t_opt(tmpl, "-object", "memory-backend-file") && !t_opt(tmpl, "-device", "balloon"),
	     "template VM (shared RAM file): no balloon");
	c.mem_shared = false;
	c.incoming = true;
	_cleanup_strv_ char **clone = vm_argv(&h, &c, NULL);
	t_ok(t_opt(clone, "-incoming", NULL) && !t_opt(clone, "-device", "balloon"),
	     "clone (private mapping of the file): no balloon");

	/* acpi=off: 8 transports, taken by agent, net and 6 disks/shares. */
	c = (struct vm_config){ .ndisks = 3, .nshares = 2, .agent = true, .mac = "02:75:0a:58:00:02", .tap_fd = 17,
				.shares = { { .tag = "s0" }, { .tag = "s1" }, { .tag = "s2" } } };
	_cleanup_strv_ char **seven = vm_argv(&h, &c, NULL);
	t_ok(t_opt(seven, "-device", "balloon") != NULL, "7 devices with our kernel: the balloon takes the 8th transport");
	c.nshares = 3;
	_cleanup_strv_ char **eight = vm_argv(&h, &c, NULL);
	t_ok(!t_opt(eight, "-device", "balloon"), "8 devices with our kernel (acpi=off): no transport left, no balloon");
	h.kernel.builtin = false;
	_cleanup_strv_ char **acpi = vm_argv(&h, &c, NULL);
	t_ok(t_opt(acpi, "-device", "balloon") != NULL, "... the cloud kernel (acpi=on, 24 transports) still gets it");
}

/* -device arguments in v. */
static unsigned t_ndevices(char **v)
{
	unsigned n = 0;

	for (size_t i = 0; v[i]; i++)
		n += strcmp(v[i], "-device") == 0;
	return n;
}

/* The device slots: how many microvm has (acpi=off with our kernel, as the
 * -M option says), how many a config needs (what vm_argv adds besides the
 * balloon: one virtio device each, virtserialport is no transport), and
 * the refusal with its message. */
static void t_device_slots(void)
{
	struct vm_host h = { .qemu = "q", .accel = VM_ACCEL_TCG, .kernel = { .path = "/k", .builtin = true } };
	struct vm_config c = { .ndisks = 1, .disks = { { .path = "/r", .snapshot = true } }, .agent = true,
			       .nshares = 6 };
	struct err e = { 0 };

	for (unsigned i = 0; i < VM_MAX_SHARES; i++)
		c.shares[i] = (struct vm_share){ .tag = "s", .path = "/d" };
	t_ok(!vm_acpi(&h) && vm_device_slots(&h) == 8, "our kernel: acpi=off, 8 slots");
	_cleanup_strv_ char **v = vm_argv(&h, &c, NULL);
	t_ok(strstr(t_opt(v, "-M", NULL), ",acpi=off") != NULL, "... as -M says");
	t_is(vm_devices_needed(&c), 8, "6 shares + root disk + agent need 8");
	t_is(vm_config_check(&h, &c, &e), 0, "... which fit");
	/* agent = virtio-serial-device + its virtserialport (no transport). */
	t_is(t_ndevices(v) - 1, vm_devices_needed(&c), "vm_argv's virtio devices are the ones counted");
	t_ok(!t_opt(v, "-device", "balloon"), "... and no balloon: the slots are full");

	c.nshares = 7;
	t_is(vm_config_check(&h, &c, &e), -E2BIG, "a 7th share does not fit");
	t_streq(err_msg(&e), "too many mounts: 7 shares + root disk + agent need 9 virtio devices, "
		"this VM has 8 (microvm without ACPI)", "... the message counts them");
	c.nshares = 5;
	c.mac = "02:75:0a:58:00:02";
	c.tap_fd = 17;
	t_is(vm_config_check(&h, &c, &e), 0, "5 shares + network fit");
	c.nshares = 4;
	c.ndisks = 3;
	t_is(vm_config_check(&h, &c, &e), -E2BIG, "4 shares + 2 data disks + network do not");
	t_streq(err_msg(&e), "too many mounts: 4 shares + root disk + 2 data disks + agent + network "
		"need 9 virtio devices, this VM has 8 (microvm without ACPI)", "... named each");

	h.kernel.builtin = false;
	_cleanup_strv_ char **acpi = vm_argv(&h, &c, NULL);
	t_ok(vm_acpi(&h) && vm_device_slots(&h) == 24 && strstr(t_opt(acpi, "-M", NULL), ",acpi=on"),
	     "a distribution kernel: acpi=on, 24 slots");
	t_is(vm_config_check(&h, &c, &e), 0, "... the same config fits");
	c.ndisks = 1;
	c.nshares = VM_MAX_SHARES;
	t_is(vm_config_check(&h, &c, &e), 0, "... as do 16 shares (all a config holds) with root disk, agent and network");
	c.ndisks = VM_MAX_DISKS;
	t_is(vm_config_check(&h, &c, &e), -E2BIG, "... but not 12 disks besides");
	t_ok(strstr(err_msg(&e), "this VM has 24 (microvm with ACPI)") != NULL, "... %s", err_msg(&e));
	c.nshares = VM_MAX_SHARES + 1;
	t_is(vm_config_check(&h, &c, &e), -E2BIG, "more shares than a config holds: refused, not cut");
	c.nshares = 0;
	c.ndisks = VM_MAX_DISKS + 1;
	t_is(vm_config_check(&h, &c, &e), -E2BIG, "more disks than a config holds: refused, not cut");
}

static void t_accel(void)
{
	enum vm_accel a = VM_ACCEL_KVM;
	char why[200];
	char *cpuinfo = NULL;
	size_t len;
	bool hw;

	t_ok(vm_accel_parse("tcg", &a) == 0 && a == VM_ACCEL_TCG, "parse tcg");
	t_ok(vm_accel_parse("kvm", &a) == 0 && a == VM_ACCEL_KVM, "parse kvm");
	t_ok(vm_accel_parse("auto", &a) == 0 && a == VM_ACCEL_AUTO, "parse auto");
	t_is(vm_accel_parse("hvf", &a), -EINVAL, "unknown accelerator refused");
	read_file_at(AT_FDCWD, "/proc/cpuinfo", 4u << 20, &cpuinfo, &len);
	hw = cpuinfo && (strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm"));
	a = vm_accel_detect(why, sizeof(why));
	if (!hw)
		t_ok(a == VM_ACCEL_TCG && strstr(why, "vmx/svm"), "no vmx/svm flag: TCG with a notice (%s)", why);
	else
		t_ok(a == VM_ACCEL_KVM || strstr(why, "/dev/kvm"), "vmx/svm: KVM unless /dev/kvm fails (%s)",
		     why[0] ? why : "kvm");
	free(cpuinfo);
}

static void t_kernel(void)
{
	struct vm_kernel k;
	struct err e = { 0 };
	const char *built = t_built_kernel();

	t_is(vm_kernel_find(&k, "/nonexistent/vmlinux", &e), -ENOENT, "--kernel to a missing file fails");
	t_ok(strstr(err_msg(&e), "--kernel") != NULL, "and says which option: %s", err_msg(&e));
	if (built) {
		int r = vm_kernel_find(&k, built, &e);
		t_ok(r == 0 && k.builtin && k.release && !k.modules_dir, "built vmlinux: built-in drivers, release %s",
		     k.release ? k.release : "?");
		vm_kernel_release(&k);
	} else {
		t_diag("no built kernel: skipped its detection");
	}
}

int main(void)
{
	t_argv_builtin();
	t_argv_modular();
	t_argv_net();
	t_argv_vsock();
	t_argv_balloon();
	t_device_slots();
	t_accel();
	t_kernel();
	return t_done();
}
