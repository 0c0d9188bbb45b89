/* The QEMU command line, built as an argv (no shell ever sees it).
 * Every choice is measured or explained in docs/vm.md and docs/kernel.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

/* QEMU's option syntax doubles a comma inside a value. */
static char *vm_qemu_escape(const char *s)
{
	struct buf b = BUF_INIT;

	for (; *s; s++) {
		if (*s == ',')
			buf_putc(&b, ',');
		buf_putc(&b, *s);
	}
	return buf_steal(&b);
}

/* Append a formatted argument. */
static void vm_pushf(char ***v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vm_pushf(char ***v, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	strv_push(v, b.data ? b.data : "");
	buf_free(&b);
}

bool vm_kernel_is_elf(const char *path)
{
	unsigned char m[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool elf;

	if (fd < 0)
		return false;
	elf = read(fd, m, 4) == 4 && memcmp(m, "\177ELF", 4) == 0;
	close(fd);
	return elf;
}

/* Our kernel under TCG with one vCPU: the PIT can be the tick. Not for
 * the cloud kernel: hardware-reduced ACPI has no PIT to tick with. */
static bool vm_tcg_single(const struct vm_host *h, const struct vm_config *c)
{
	return h->accel == VM_ACCEL_TCG && c->cpus <= 1 && h->kernel.builtin;
}

static bool vm_use_vsock(const struct vm_host *h, const struct vm_config *c)
{
	return c->agent && h->transport == VM_TRANSPORT_VSOCK;
}

static char *vm_cmdline(const struct vm_host *h, const struct vm_config *c, const struct vm_vsock_ids *vs)
{
	struct buf b = BUF_INIT;

	/* quiet: under TCG every console byte is an emulated UART access.
	 * panic=-1 + reboot=t + QEMU's -no-reboot: a guest panic or reboot
	 * ends QEMU at once (triple fault, no keyboard-controller retries). */
	buf_puts(&b, "console=ttyS0 quiet panic=-1 reboot=t");
	/* The IO-APIC timer check busy-waits 10 ticks for timer interrupts
	 * (100 ms at our HZ=100) and panics when they do not come in time,
	 * which a TCG vCPU starved by a busy host hits (seen: 2 of 64 VMs of
	 * a --parallel 64 run). QEMU's timers work; skip the check. */
	buf_puts(&b, " no_timer_check");
	/* The CRNG is seeded from RDRAND at boot instead of waiting for
	 * jitter entropy at the first read, which stalled a cold TCG guest
	 * for seconds (a container reading /dev/urandom first thing). */
	buf_puts(&b, " random.trust_cpu=on");
	if (h->accel == VM_ACCEL_TCG && h->tsc_khz)
		buf_printf(&b, " tsc_early_khz=%u", h->tsc_khz);
	/* TCG emulates no TSC-deadline timer, so the kernel calibrates the
	 * local APIC timer against the PIT (~0.3 s of emulated CPU, see
	 * docs/kernel.md); one vCPU can take its tick from the PIT instead. */
	if (vm_tcg_single(h, c))
		buf_puts(&b, " nolapic_timer");
	if (!h->kernel.builtin) {
		/* Debian's kernel has the i8042 driver built in; microvm has
		 * no keyboard controller to find. */
		buf_puts(&b, " i8042.noaux i8042.nokbd i8042.nopnp");
	}
	/* guest-init connects to the host (CID 2) on this port instead of
	 * looking for the virtio-serial port (docs/guest-init.md). */
	if (vm_use_vsock(h, c))
		buf_printf(&b, " ucrt.vsock=%u", vs ? vs->port : 0);
	if (c->cmdline && *c->cmdline)
		buf_printf(&b, " %s", c->cmdline);
	return buf_steal(&b);
}

/* The agent channel's device: a virtio-serial port on an inherited
 * socketpair, or vhost-vsock on an inherited /dev/vhost-vsock fd whose
 * CID ucrt set already (QEMU needs no access to the device node). */
static void vm_argv_agent(char ***v, const struct vm_host *h, const struct vm_config *c,
			  const struct vm_vsock_ids *vs)
{
	if (!c->agent)
		return;
	if (vm_use_vsock(h, c)) {
		strv_push(v, "-device");
		vm_pushf(v, "vhost-vsock-device,guest-cid=%u,vhostfd=%d", vs ? vs->cid : 0, VM_FD_VHOST);
		return;
	}
	strv_push(v, "-device");
	strv_push(v, "virtio-serial-device,max_ports=2");
	strv_push(v, "-chardev");
	vm_pushf(v, "socket,id=agent,fd=%d", VM_FD_AGENT);
	strv_push(v, "-device");
	strv_push(v, "virtserialport,chardev=agent,name=" VM_AGENT_PORT);
}

/* Template RAM (docs/vm.md, Templates). x-ignore-shared leaves a shared
 * backend's pages out of the migration stream (they are in the file), so
 * the state is ~50 KB; the clone must set it too to read that stream,
 * hence -incoming defer.
 * The clone's private mapping never writes the file; nothing discards
 * its pages (no balloon, vm_argv_balloon): QEMU 7.2 would punch holes in
 * the file. The stream goes through an inherited fd: exec: URIs need a
 * shell, which -sandbox spawn=deny forbids. */
static void vm_argv_template(char ***v, const struct vm_config *c)
{
	if (!c->mem_path)
		return;
	/* The file is opened by ucrt (files.c) and named by its fd. */
	strv_push(v, "-object");
	vm_pushf(v, "memory-backend-file,id=mem,size=%uM,mem-path=/proc/self/fd/%u,share=%s",
		 c->mem_mib ? c->mem_mib : VM_DEFAULT_MEM_MIB, vm_fd_ram(c), c->mem_shared ? "on" : "off");
	/* QEMU 7.2 has no -global for x-ignore-shared: the capability is
	 * set over QMP before migrate / migrate-incoming (template.c). */
	if (c->incoming) {
		strv_push(v, "-incoming");
		strv_push(v, "defer");
	}
}

/* microvm's virtio-mmio transports (QEMU 7.2, counted): 8 with acpi=off,
 * on IRQs 5-12 of the one IO-APIC the MP table describes; 24 with ACPI,
 * whose tables add a second IO-APIC. A ninth device with our kernel is
 * refused ("No 'virtio-bus' bus found"), which the guest sees as a VM
 * that never connects: hence vm_config_check before QEMU starts.
 * Our kernel finds virtio-mmio devices on the command line (QEMU appends
 * virtio_mmio.device=), so it needs no ACPI; Debian's kernel lacks
 * VIRTIO_MMIO_CMDLINE_DEVICES and finds them in ACPI tables. */
bool vm_acpi(const struct vm_host *h)
{
	return !h->kernel.builtin;
}

unsigned vm_device_slots(const struct vm_host *h)
{
	return vm_acpi(h) ? VM_SLOTS_ACPI : VM_SLOTS_NOACPI;
}

unsigned vm_devices_needed(const struct vm_config *c)
{
	return (c->agent ? 1 : 0) + MIN(c->ndisks, VM_MAX_DISKS) + MIN(c->nshares, VM_MAX_SHARES) +
	       (c->mac ? 1 : 0);
}

int vm_config_check(const struct vm_host *h, const struct vm_config *c, struct err *err)
{
	unsigned need = vm_devices_needed(c), have = vm_device_slots(h);
	struct buf b = BUF_INIT;
	const char *sep = "";
	int r;

	/* vm_argv leaves out what does not fit the arrays: refuse instead. */
	if (c->ndisks > VM_MAX_DISKS)
		return err_set(err, E2BIG, "too many disks: %u, at most %u", c->ndisks, VM_MAX_DISKS);
	if (c->nshares > VM_MAX_SHARES)
		return err_set(err, E2BIG, "too many shares: %u, at most %u", c->nshares, VM_MAX_SHARES);
	if (need <= have)
		return 0;
	/* Disk 0 (vda) is the root disk of every VM ucrt starts. */
	if (c->nshares) {
		buf_printf(&b, "%u share%s", c->nshares, c->nshares == 1 ? "" : "s");
		sep = " + ";
	}
	if (c->ndisks) {
		buf_printf(&b, "%sroot disk", sep);
		sep = " + ";
	}
	if (c->ndisks > 1)
		buf_printf(&b, " + %u data disk%s", c->ndisks - 1, c->ndisks == 2 ? "" : "s");
	if (c->agent) {
		buf_printf(&b, "%sagent", sep);
		sep = " + ";
	}
	if (c->mac)
		buf_printf(&b, "%snetwork", sep);
	r = err_set(err, E2BIG, "too many mounts: %s need %u virtio devices, this VM has %u (microvm %s ACPI)",
		    b.data ? b.data : "", need, have, vm_acpi(h) ? "with" : "without");
	buf_free(&b);
	return r;
}

/* Free-page reporting (docs/vm.md, Memory): the guest's balloon driver
 * hands pages that stay free back to QEMU, which drops them (MADV_DONTNEED
 * on anonymous RAM), so a long-running VM's host memory falls when the
 * guest frees memory. The balloon is never inflated: -m stays the guest's
 * size. Only for RAM that is not a template's file: a template must not
 * lose pages its clones map, and a clone must keep the template's device
 * set; QEMU <= 8.0 also punches holes in the file when a private file
 * mapping is discarded. Last of the devices, and only while a transport is
 * free: data mounts keep the slots they had. */
static void vm_argv_balloon(char ***v, const struct vm_host *h, const struct vm_config *c)
{
	if (c->mem_path || vm_devices_needed(c) >= vm_device_slots(h))
		return;
	strv_push(v, "-device");
	strv_push(v, "virtio-balloon-device,free-page-reporting=on");
}

char **vm_argv(const struct vm_host *h, const struct vm_config *c, const struct vm_vsock_ids *vs)
{
	char **v = NULL;
	_cleanup_free_ char *cmdline = vm_cmdline(h, c, vs);
	bool kvm = h->accel == VM_ACCEL_KVM;

	strv_push(&v, h->qemu);
	strv_push(&v, "-M");
	/* ACPI or not: vm_acpi. */
	/* The RTC stays: it is where a TCG guest gets the wall clock. */
	/* The legacy PIC stays even for one vCPU: with pic=off a guest's
	 * timed sleeps (sleep 2, ping's interval) never wake up under TCG. */
	vm_pushf(&v, "microvm,accel=%s,acpi=%s%s", kvm ? "kvm" : "tcg",
		 vm_acpi(h) ? "on" : "off", c->mem_path ? ",memory-backend=mem" : "");
	/* TCG's "max" CPU has what x86-64-v2/v3 images (RHEL 9...) require;
	 * the default qemu64 model lacks SSE4.2 and POPCNT. */
	strv_push(&v, "-cpu");
	strv_push(&v, kvm ? "host" : "max");
	strv_push(&v, "-nodefaults");
	strv_push(&v, "-no-user-config");
	strv_push(&v, "-display");
	strv_push(&v, "none");
	strv_push(&v, "-no-reboot");
	strv_push(&v, "-m");
	vm_pushf(&v, "%u", c->mem_mib ? c->mem_mib : VM_DEFAULT_MEM_MIB);
	vm_argv_template(&v, c);
	strv_push(&v, "-smp");
	vm_pushf(&v, "%u", c->cpus ? c->cpus : 1);

	/* Inherited files (files.c): QEMU opens no path of its own. */
	strv_push(&v, "-kernel");
	vm_pushf(&v, "/proc/self/fd/%d", VM_FD_KERNEL);
	if (h->initrd) {
		strv_push(&v, "-initrd");
		vm_pushf(&v, "/proc/self/fd/%d", VM_FD_INITRD);
	}
	strv_push(&v, "-append");
	strv_push(&v, cmdline);

	/* Sockets handed over already connected (fd=N): no socket files. */
	strv_push(&v, "-chardev");
	vm_pushf(&v, "socket,id=qmp,fd=%d", VM_FD_QMP);
	strv_push(&v, "-mon");
	strv_push(&v, "chardev=qmp,mode=control");
	strv_push(&v, "-chardev");
	vm_pushf(&v, "socket,id=con,fd=%d", VM_FD_CONSOLE);
	strv_push(&v, "-serial");
	strv_push(&v, "chardev:con");
	vm_argv_agent(&v, h, c, vs);
	for (unsigned i = 0; i < c->ndisks && i < VM_MAX_DISKS; i++) {
		const struct vm_disk *d = &c->disks[i];
		unsigned fd = vm_fd_disk(c, i), bfd = vm_fd_backing(c, i) + 1;
		_cleanup_free_ char *backing = NULL;

		/* Fd set N holds inherited fd N (and N+1, its read-write
		 * twin): file=/dev/fdset/N. */
		for (unsigned f = fd; f <= fd + vm_disk_rw(d); f++) {
			strv_push(&v, "-add-fd");
			vm_pushf(&v, "fd=%u,set=%u", f, fd);
		}
		if (d->backing) {
			strv_push(&v, "-add-fd");
			vm_pushf(&v, "fd=%u,set=%u", bfd, bfd);
			backing = xasprintf(",backing.driver=raw,backing.file.filename=/dev/fdset/%u", bfd);
		}
		/* werror/rerror=report: a host write that fails (the store's
		 * filesystem full under an overlay or snapshot file) reaches
		 * the guest as an I/O error. QEMU's default (enospc) pauses the
		 * VM, which then hangs until a timeout. virtio-blk carries no
		 * ENOSPC: the guest sees EIO. */
		strv_push(&v, "-drive");
		vm_pushf(&v, "file=/dev/fdset/%u,format=%s,if=none,id=vd%c%s%s%s", fd,
			 d->qcow2 ? "qcow2" : "raw", 'a' + i,
			 d->readonly ? ",readonly=on" : ",discard=unmap,werror=report,rerror=report",
			 d->snapshot ? ",snapshot=on" : "", backing ? backing : "");
		strv_push(&v, "-device");
		if (d->serial) {
			_cleanup_free_ char *serial = vm_qemu_escape(d->serial);
			vm_pushf(&v, "virtio-blk-device,drive=vd%c,serial=%s", 'a' + i, serial);
		} else {
			vm_pushf(&v, "virtio-blk-device,drive=vd%c", 'a' + i);
		}
	}
	for (unsigned i = 0; i < c->nshares && i < VM_MAX_SHARES; i++) {
		const struct vm_share *sh = &c->shares[i];
		_cleanup_free_ char *tag = vm_qemu_escape(sh->tag);

		strv_push(&v, "-fsdev");
		/* mapped-xattr: what the guest creates belongs to QEMU's user
		 * (ucrt-qemu when ucrt is root, else who ran ucrt) with the guest's owner and mode kept in
		 * user.virtfs.* xattrs; fmode/dmode are the host modes. A
		 * filesystem without user xattrs (tmpfs before 6.6) gets
		 * "none": the guest's chown is ignored unless ucrt is root. */
		vm_pushf(&v, "local,id=fs%u,path=/proc/self/fd/%u,security_model=%s%s%s", i, vm_fd_share(c, i),
			 sh->xattr ? "mapped-xattr,fmode=0644,dmode=0755" : "none",
			 sh->readonly ? ",readonly=on" : "", sh->remap ? ",multidevs=remap" : "");
		strv_push(&v, "-device");
		vm_pushf(&v, "virtio-9p-device,fsdev=fs%u,mount_tag=%s", i, tag);
	}
	if (c->mac) {
		/* A tap is opened by modules/net and inherited (fd=N): QEMU
		 * needs no privileges and no helper. QEMU 7.2 refuses
		 * vnet_hdr= next to fd= ("invalid with fd="): it probes the
		 * fd for IFF_VNET_HDR itself and then passes offloads on. */
		_cleanup_free_ char *mac = vm_qemu_escape(c->mac);

		/* A template's device has no backend (tap_fd -1): the guest
		 * never brings it up before its clones get theirs. */
		bool backend = c->netdev == VM_NETDEV_USER || c->tap_fd >= 0;
		if (c->netdev == VM_NETDEV_USER) {
			strv_push(&v, "-netdev");
			vm_pushf(&v, "user,id=n0,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3,ipv6=off%s",
				 c->user_fwd ? c->user_fwd : "");
		} else if (c->tap_fd >= 0) {
			strv_push(&v, "-netdev");
			if (c->netdev == VM_NETDEV_STREAM)
				vm_pushf(&v, "stream,id=n0,server=off,addr.type=fd,addr.str=%d", VM_FD_TAP);
			else
				vm_pushf(&v, "tap,id=n0,fd=%d", VM_FD_TAP);
		}
		strv_push(&v, "-device");
		vm_pushf(&v, "virtio-net-device,%smac=%s", backend ? "netdev=n0," : "", mac);
	}
	vm_argv_balloon(&v, h, c);
	if (h->sandbox) {
		strv_push(&v, "-sandbox");
		strv_push(&v, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	}
	return v;
}
