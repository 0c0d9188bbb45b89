/* The QEMU command line for data mounts: virtio-9p shares (security model,
 * read-only enforced by QEMU, escaped paths and tags), virtio-blk disks
 * with the serial the guest finds them by, and the kernel's CRNG seeded
 * at boot. Without starting QEMU. */
#include "tests/lib/tap.h"
#include "t-vm.h"
#include "str.h"
#include "vm/vm-internal.h"

static const char *t_opt(char **v, const char *opt, const char *needle)
{
	for (size_t i = 0; v[i] && v[i + 1]; i++) {
		if (strcmp(v[i], opt) == 0 && (!needle || strstr(v[i + 1], needle)))
			return v[i + 1];
	}
	return NULL;
}

int main(void)
{
	struct vm_host h = { .qemu = "q", .accel = VM_ACCEL_TCG, .kernel = { .path = "/k", .builtin = true } };
	struct vm_config c = {
		.ndisks = 2,
		.disks = { { .path = "/r", .snapshot = true },
			   { .path = "/vol,1/disk.ext4", .readonly = true, .serial = "ucrt-disk0" } },
		.nshares = 2,
		.shares = { { .tag = "ucrt0", .path = "/data,x", .readonly = true, .xattr = true },
			    { .tag = "ucrt1", .path = "/out" } },
	};
	_cleanup_strv_ char **v = vm_argv(&h, &c, NULL);
	const char *s;

	/* fds: 8 kernel, 9 initrd, 10 /r (snapshot: read-only), 11 /vol,1,
	 * then the shares' directories. */
	t_streq(t_opt(v, "-fsdev", "id=fs0"),
		"local,id=fs0,path=/proc/self/fd/12,security_model=mapped-xattr,fmode=0644,dmode=0755,readonly=on",
		"a read-only share: mapped-xattr, readonly=on in QEMU, its directory as an inherited fd");
	t_streq(t_opt(v, "-fsdev", "id=fs1"), "local,id=fs1,path=/proc/self/fd/13,security_model=none",
		"a share on a filesystem without user xattrs: security_model=none, writable");
	t_streq(t_opt(v, "-device", "fsdev=fs0"), "virtio-9p-device,fsdev=fs0,mount_tag=ucrt0", "9p device with its tag");
	t_ok(t_opt(v, "-device", "fsdev=fs1") != NULL, "one device per share");
	t_streq(t_opt(v, "-drive", "id=vdb"), "file=/dev/fdset/11,format=raw,if=none,id=vdb,readonly=on",
		"a read-only data disk");
	t_streq(t_opt(v, "-drive", "id=vda"), "file=/dev/fdset/10,format=raw,if=none,id=vda,discard=unmap,werror=report,rerror=report,snapshot=on",
		"a snapshot root disk (one read-only fd)");
	t_streq(t_opt(v, "-device", "drive=vdb"), "virtio-blk-device,drive=vdb,serial=ucrt-disk0",
		"... found by its serial in the guest");
	t_streq(t_opt(v, "-device", "drive=vda"), "virtio-blk-device,drive=vda", "the root disk has no serial");
	s = t_opt(v, "-append", NULL);
	t_ok(s && strstr(s, " random.trust_cpu=on"), "the CRNG is seeded from the CPU at boot: %s", s ? s : "");
	/* A config that holds all the shares it can still fits microvm with
	 * ACPI (agent, root disk, network); without ACPI vm_start refuses
	 * more than 8 devices (test-vm-argv, test-vm-launch). */
	t_ok(VM_MAX_SHARES + 3 <= VM_SLOTS_ACPI && VM_SLOTS_NOACPI == 8,
	     "share capacity fits microvm's 24 slots with ACPI; 8 without");
	return t_done();
}
