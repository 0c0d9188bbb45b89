/* modules/vm: QEMU microvm launcher.
 *
 * Two steps. vm_host_probe() runs once per process, before VMs start (it
 * reads files and may write the initramfs cache: blocking setup work): it
 * picks QEMU, the accelerator, the kernel and the initramfs. vm_start()
 * then launches one VM on the reactor; many VMs can share one vm_host.
 *
 * QEMU gets connected socketpairs for QMP, the serial console and, with
 * the virtio-serial transport, the agent port (no socket files, no accept,
 * no path limits). With the vsock transport QEMU gets a /dev/vhost-vsock fd
 * whose guest CID ucrt reserved, and ucrt accepts guest-init's connection
 * on its own AF_VSOCK listener. Files are opened by ucrt and inherited too
 * (disks through QEMU's fd sets, the kernel, initramfs and 9p shares as
 * /proc/self/fd/N), so QEMU needs no access to any path. Every other fd is
 * closed before exec; the child dies with ucrt (PR_SET_PDEATHSIG). When
 * ucrt is root, QEMU runs as an unprivileged user (default ucrt-qemu) with
 * no capabilities and no_new_privs (docs/security.md). docs/vm.md has the
 * details and measurements. */
#ifndef UCRT_VM_H
#define UCRT_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct loop;
struct vm;

enum vm_accel { VM_ACCEL_AUTO, VM_ACCEL_KVM, VM_ACCEL_TCG };

/* "auto", "kvm", "tcg" -> enum; -EINVAL otherwise. */
int vm_accel_parse(const char *s, enum vm_accel *out);
const char *vm_accel_name(enum vm_accel a);

/* How guest-init reaches the host (docs/protocol.md, Transport). */
enum vm_transport { VM_TRANSPORT_AUTO, VM_TRANSPORT_SERIAL, VM_TRANSPORT_VSOCK };

#define VM_VHOST_VSOCK_DEV "/dev/vhost-vsock"

/* "auto", "serial", "vsock" -> enum; -EINVAL otherwise. */
int vm_transport_parse(const char *s, enum vm_transport *out);
const char *vm_transport_name(enum vm_transport t);
/* Resolve want against the host: vsock needs dev (NULL: /dev/vhost-vsock)
 * to open read-write and AF_VSOCK sockets to exist. AUTO falls back to
 * SERIAL and leaves the reason in why; VSOCK fails with err naming dev. */
int vm_transport_select(enum vm_transport want, const char *dev, enum vm_transport *out,
			char *why, size_t whylen, struct err *err);

struct vm_kernel {
	char *path;
	char *release;		/* uname -r of that kernel when known */
	char *modules_dir;	/* /lib/modules/<release> when drivers are modules */
	bool builtin;		/* ucrt's own kernel: drivers built in, no ACPI */
};

struct vm_host {
	char *qemu;		/* path of qemu-system-x86_64 */
	enum vm_accel accel;	/* resolved: KVM or TCG */
	char accel_note[200];	/* why TCG was chosen (one-line notice), or "" */
	bool sandbox;		/* QEMU has seccomp: pass -sandbox on,... */
	uint32_t tsc_khz;	/* host TSC rate = a TCG guest's TSC rate; 0 unknown */
	struct vm_kernel kernel;
	char *init;		/* guest-init binary */
	char *initrd;		/* initramfs to boot with (cached) */
	enum vm_transport transport;	/* resolved: SERIAL or VSOCK */
	/* Who QEMU runs as. drop: ucrt is root and QEMU switches to uid/gid
	 * (supplementary group: /dev/kvm's under KVM, none else) and loses
	 * every capability before exec; without drop QEMU keeps ucrt's
	 * credentials (ucrt is not root, or --qemu-user root). */
	bool drop;
	uid_t uid;
	gid_t gid;
	gid_t kvm_gid;		/* (gid_t)-1: no supplementary group */
	/* QEMU stays root with only these capabilities (bits of
	 * CAP_*; the bounding set is cut to them before exec): 0 = no such
	 * limit (drop, or --qemu-user root). */
	uint64_t root_caps;
	char user[64];		/* name, for messages */
};

#define VM_QEMU_USER "ucrt-qemu"

struct vm_host_opts {
	enum vm_accel accel;	/* VM_ACCEL_AUTO: detect */
	const char *qemu;	/* NULL: $UCRT_QEMU, else qemu-system-x86_64 on PATH */
	const char *kernel;	/* NULL: $UCRT_KERNEL, built kernel, Debian cloud kernel */
	const char *init;	/* NULL: $UCRT_INIT, next to ucrt, ../libexec/ucrt */
	const char *cache_dir;	/* initramfs cache (e.g. <store root>/vm); required */
	/* VM_TRANSPORT_AUTO: $UCRT_AGENT_TRANSPORT (auto|serial|vsock) when
	 * set, else vsock when /dev/vhost-vsock is usable, else serial. */
	enum vm_transport transport;
	/* When ucrt is root: the user QEMU runs as (name or uid); NULL:
	 * $UCRT_QEMU_USER, else VM_QEMU_USER; "root" keeps QEMU as root.
	 * When ucrt is not root QEMU runs as the invoking user, and naming
	 * anyone else here is an error. */
	const char *qemu_user;
	/* QEMU serves a 9p share with real ownership (security_model=none:
	 * the OCI runtime's bundle root, whose files podman and containerd
	 * own for the container's uids): it has to stay root, with only the
	 * file capabilities that needs, unless a user is named. */
	bool qemu_owns_files;
};

int vm_host_probe(struct vm_host *h, const struct vm_host_opts *o, struct err *err);
void vm_host_release(struct vm_host *h);

/* Pieces of the probe, usable alone. */
/* Fill h->drop/uid/gid/kvm_gid/root_caps/user for the user named (NULL:
 * the default, see vm_host_opts.qemu_user and qemu_owns_files). h->accel
 * must be resolved. */
int vm_qemu_user_resolve(struct vm_host *h, const char *name, bool owns_files, struct err *err);
enum vm_accel vm_accel_detect(char *why, size_t whylen);
int vm_kernel_find(struct vm_kernel *k, const char *path, struct err *err);
void vm_kernel_release(struct vm_kernel *k);

/* Initramfs (uncompressed newc cpio): /init = init, /dev/console, and for a
 * modular kernel /modules/<name>.ko + /modules/order with the virtio and
 * ext4 drivers and their dependencies (from modules.dep), loaded in that
 * order by guest-init. Cached in cache_dir by content; *out is the path. */
int vm_initramfs_get(const char *cache_dir, const char *init, const struct vm_kernel *k,
		     char **out, struct err *err);
/* Write one to path (no cache). modules_dir NULL: no modules. */
int vm_initramfs_write(const char *path, const char *init, const char *modules_dir,
		       struct err *err);

/* Copy-on-write overlay: a qcow2 (v3, 64 KiB clusters) whose backing file
 * is the raw image at backing (absolute path), of the same size. */
int vm_overlay_create(const char *path, const char *backing, struct err *err);

/* How many disks and shares a vm_config can hold. How many devices fit
 * in a VM is vm_device_slots(): fewer than these together. */
#define VM_MAX_DISKS 12
#define VM_MAX_SHARES 16

struct vm_disk {
	const char *path;
	/* A qcow2 overlay's raw backing image (the path its header names):
	 * ucrt opens it read-only and QEMU gets the fd instead of the name.
	 * NULL: QEMU opens whatever backing file the header names itself,
	 * with its own (unprivileged) rights. */
	const char *backing;
	bool qcow2;		/* else raw */
	bool readonly;
	bool snapshot;		/* QEMU snapshot=on: writes go to a temp file */
	const char *serial;	/* virtio-blk serial the guest finds it by, or NULL */
};

/* A host directory exported over virtio-9p (QEMU's local backend, which
 * opens every path component with O_NOFOLLOW below path). Files the guest
 * creates belong to QEMU's user, the one who ran ucrt; with xattr the
 * guest's view of owner and mode is kept in user.virtfs.* xattrs
 * (security_model=mapped-xattr), else chown from the guest is dropped
 * (none). readonly is enforced by QEMU, not by the guest. */
struct vm_share {
	const char *tag;	/* mount tag, at most 31 bytes */
	const char *path;	/* absolute, resolved */
	bool readonly;
	bool xattr;		/* path's filesystem takes user xattrs */
	bool remap;		/* other filesystems are mounted below path (multidevs=remap:
				 * inode numbers stay unique in the guest) */
};

/* Guest memory when none is asked for (run -m, vm_config.mem_mib 0). */
#define VM_DEFAULT_MEM_MIB 256

struct vm_config {
	const char *name;	/* for messages */
	unsigned cpus;		/* 0: 1 */
	unsigned mem_mib;	/* 0: VM_DEFAULT_MEM_MIB */
	struct vm_disk disks[VM_MAX_DISKS];	/* vda, vdb... */
	unsigned ndisks;
	struct vm_share shares[VM_MAX_SHARES];
	unsigned nshares;
	const char *cmdline;	/* appended to the kernel command line (ucrt.*) */
	const char *console_log;	/* serial console appended here; NULL: dropped */
	bool agent;		/* a host<->guest agent channel (vm_events.agent) */
	/* vsock: how long to wait for guest-init's connection before
	 * vm_events.agent reports -ETIMEDOUT; 0: VM_AGENT_TIMEOUT_MS. */
	unsigned agent_timeout_ms;
	/* Network: a virtio-net device, only when mac is set (a zeroed
	 * config's tap_fd 0 is not a tap). Its frames go to a tap (tap_fd),
	 * to a connected stream socket in tap_fd (passt's end, QEMU's
	 * 4-byte length framing), or to QEMU's own user-mode stack (slirp:
	 * 10.0.2.0/24, host 10.0.2.2, DNS 10.0.2.3; tap_fd unused). The fd
	 * stays the caller's; QEMU inherits a copy as VM_FD_TAP. A template
	 * (mem_shared) may have tap_fd -1: a device without a backend. */
	const char *mac;	/* "02:75:0a:58:00:02" */
	enum vm_netdev { VM_NETDEV_TAP, VM_NETDEV_STREAM, VM_NETDEV_USER } netdev;
	const char *user_fwd;	/* VM_NETDEV_USER: ",hostfwd=..." options, or NULL */
	int tap_fd;
	/* Templates (template.c, docs/vm.md): guest RAM is the file mem_path
	 * (on tmpfs). A template maps it shared (mem_shared: the booted
	 * guest's memory ends up in the file) and writes its device state
	 * with vm_save; a clone maps it private copy-on-write (the file is
	 * never written) and restores from migrate_fd (incoming) at start.
	 * QEMU inherits a copy of migrate_fd; it stays the caller's.
	 * Without mem_path + incoming, migrate_fd is not looked at. */
	const char *mem_path;
	bool mem_shared;
	bool incoming;
	int migrate_fd;
};

/* Startup timeline (CLOCK_MONOTONIC ns, 0 = not reached). The vm module
 * stamps SPAWNED, CONSOLE, QMP and EXITED; the caller stamps the rest. */
enum vm_phase {
	VM_T_START,		/* vm_start called */
	VM_T_SPAWNED,		/* QEMU forked */
	VM_T_QMP,		/* QMP handshake done */
	VM_T_CONSOLE,		/* first byte on the serial console */
	VM_T_AGENT,		/* first frame from guest-init */
	VM_T_PROCESS,		/* container process started */
	VM_T_EXITED,		/* QEMU reaped */
	VM_T_COUNT
};
void vm_stamp(struct vm *vm, enum vm_phase p);
uint64_t vm_time(const struct vm *vm, enum vm_phase p);
/* One debug line with every reached phase relative to VM_T_START. */
void vm_log_timeline(const struct vm *vm);

#define VM_AGENT_TIMEOUT_MS 120000u

struct vm_events {
	/* QEMU exited and was reaped; wstatus as from waitpid. */
	void (*exited)(struct vm *vm, int wstatus, void *data);
	/* The agent channel (config.agent) is connected: fd is the host end,
	 * a stream socket the callee now owns (hand it to agent_new). Both
	 * transports call this the same way, once, from the reactor after
	 * vm_start returned: virtio-serial on the next loop round (the
	 * socketpair exists from the start), vsock once guest-init connected
	 * from this VM's CID. On failure fd is -errno and err says why (e.g.
	 * -ETIMEDOUT: no connection within agent_timeout_ms). Not called
	 * after QEMU exited (exited reports that) or after vm_free. Without
	 * this callback the channel is closed. */
	void (*agent)(struct vm *vm, int fd, const struct err *err, void *data);
};

int vm_start(struct loop *l, const struct vm_host *h, const struct vm_config *c,
	     const struct vm_events *ev, void *data, struct vm **out, struct err *err);

/* The per-VM ids of the vsock transport: the guest CID vm_start reserved
 * on /dev/vhost-vsock and the host port guest-init connects to. */
struct vm_vsock_ids {
	uint32_t cid, port;
};
/* microvm's virtio-mmio transports, one per virtio device (QEMU 7.2,
 * counted): VM_SLOTS_NOACPI with acpi=off, which ucrt's kernel boots with
 * (h->kernel.builtin), VM_SLOTS_ACPI with ACPI (a distribution kernel). */
#define VM_SLOTS_NOACPI 8u
#define VM_SLOTS_ACPI 24u
bool vm_acpi(const struct vm_host *h);
unsigned vm_device_slots(const struct vm_host *h);
/* The virtio devices c needs: the agent channel, each disk, each share,
 * the network. The free-page-reporting balloon of a cold VM is not
 * counted: it only takes a slot that is left over. */
unsigned vm_devices_needed(const struct vm_config *c);
/* 0 when c's devices fit h's VM, else -E2BIG and err says what needs how
 * many ("too many mounts: 7 shares + root disk + agent need 9 virtio
 * devices, this VM has 8 (microvm without ACPI)"). vm_start checks this
 * before anything is opened or spawned. */
int vm_config_check(const struct vm_host *h, const struct vm_config *c, struct err *err);
/* Build the QEMU argv vm_start would use (tests, --log-level trace). vs
 * is used when h->transport is VM_TRANSPORT_VSOCK and c->agent is set. */
char **vm_argv(const struct vm_host *h, const struct vm_config *c, const struct vm_vsock_ids *vs);
pid_t vm_pid(const struct vm *vm);
/* QEMU not reaped yet (QMP requests can still be answered). */
bool vm_running(const struct vm *vm);
/* QEMU's own messages on stderr (last 4 KiB), NUL-terminated. */
const char *vm_qemu_stderr(const struct vm *vm);

/* QMP. cb gets res 0 and the "return" value's JSON text, or -EIO with the
 * QMP error text, or -ECONNRESET when QEMU went away. */
typedef void (*vm_qmp_cb)(struct vm *vm, int res, const char *json, size_t len, void *data);
int vm_qmp(struct vm *vm, const char *execute, const char *args_json, vm_qmp_cb cb, void *data);
/* Save a template VM (config.mem_path + mem_shared): write its device
 * state (not its RAM, which is the file) to fd (QEMU gets a copy over
 * QMP; fd stays the caller's). cb gets 0 once the stream
 * is complete (QEMU then holds the guest stopped), or -errno with QEMU's
 * reason in msg. vm_quit it after. */
typedef void (*vm_save_cb)(struct vm *vm, int res, const char *msg, void *data);
int vm_save(struct vm *vm, int fd, vm_save_cb cb, void *data);

/* QMP "quit"; SIGKILL after grace_ms when QEMU is still there. */
void vm_quit(struct vm *vm, unsigned grace_ms);
void vm_kill(struct vm *vm, int sig);

/* Release: a running QEMU gets SIGKILL; the memory goes once it is reaped
 * and every pending op has completed (safe inside any vm callback). */
void vm_free(struct vm *vm);

#endif
