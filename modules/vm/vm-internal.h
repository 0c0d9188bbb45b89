/* Private to modules/vm. */
#ifndef UCRT_VM_INTERNAL_H
#define UCRT_VM_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"
#include "vm/vm.h"

/* Fixed fd numbers inside the QEMU child (argv names them). */
#define VM_FD_QMP 3
#define VM_FD_CONSOLE 4
#define VM_FD_AGENT 5
#define VM_FD_TAP 6
#define VM_FD_VHOST 7		/* /dev/vhost-vsock, guest CID already set */
#define VM_FD_FIRST_FREE 8
/* Files ucrt opened for QEMU (files.c), from VM_FD_FIRST_FREE on: the
 * kernel, the initramfs, each disk's fd set (read-only, read-write when
 * writable) followed by its backing image when it has one, then each
 * share's directory. */
#define VM_FD_KERNEL 8
#define VM_FD_INITRD 9
#define VM_FD_FILES 10
#define VM_MAX_FILES (2 + 3 * VM_MAX_DISKS + VM_MAX_SHARES + 2)
bool vm_disk_rw(const struct vm_disk *d);
unsigned vm_fd_disk(const struct vm_config *c, unsigned i);	/* first fd of the set */
unsigned vm_fd_backing(const struct vm_config *c, unsigned i);	/* last fd of the set */
unsigned vm_fd_share(const struct vm_config *c, unsigned i);
/* A template's or clone's RAM file (mem_path, then passed as
 * /proc/self/fd/N) and a clone's migration stream, after the shares. */
unsigned vm_fd_ram(const struct vm_config *c);
unsigned vm_fd_migrate(const struct vm_config *c);
/* Open them in that order into fds (VM_MAX_FILES long, -1 where none);
 * *n is how many slots are used. On failure nothing stays open. */
int vm_files_open(const struct vm_host *h, const struct vm_config *c, int *fds, unsigned *n,
		  struct err *err);
void vm_files_close(int *fds, unsigned n);

/* Who QEMU runs as (user.c). vm_confine runs in the child between fork
 * and exec: drop to h's user when h->drop, then no_new_privs; on failure
 * it says why on fd 2 and exits 127. */
bool vm_user_can_read(const struct vm_host *h, const char *path);
void vm_confine(const struct vm_host *h);
/* In the child of a clone into new PID and mount namespaces, before
 * vm_confine: / becomes a recursive slave (nothing mounted here reaches
 * the host) and a proc of QEMU's own PID namespace covers /proc, so QEMU
 * sees no other process. Where the kernel refuses, the host's /proc stays
 * and a line on fd 2 says so. */
void vm_ns_proc(void);

/* newc cpio writer (cpio.c). */
struct vm_cpio {
	FILE *f;
	uint32_t ino;
	int error;		/* first -errno seen */
};
void vm_cpio_init(struct vm_cpio *c, FILE *f);
void vm_cpio_dir(struct vm_cpio *c, const char *name, unsigned mode);
void vm_cpio_file(struct vm_cpio *c, const char *name, unsigned mode, const void *data, size_t len);
void vm_cpio_node(struct vm_cpio *c, const char *name, unsigned mode, unsigned major, unsigned minor);
/* Writes the trailer and flushes; returns 0 or the first -errno. */
int vm_cpio_finish(struct vm_cpio *c);

/* Modules to load for a modular kernel, dependencies first (initramfs.c).
 * Returns a strv of paths relative to modules_dir. */
int vm_modules_resolve(const char *modules_dir, char ***out, struct err *err);

/* QMP client (qmp.c), owned by struct vm. */
struct vm_qmp_req;
struct vm_qmp {
	struct vm *vm;
	int fd;
	bool ready;		/* capabilities negotiated */
	bool dead;
	int64_t last_id;	/* ids from 1; 0 is the handshake */
	struct loop_op rd, wr;
	char rbuf[4096];
	struct buf in;		/* partial line */
	struct buf out;		/* queued commands */
	size_t out_inflight;	/* bytes of out being written */
	struct vm_qmp_req *head, *tail;	/* awaiting a reply, in order */
	struct vm_qmp_req *pending;	/* queued before the handshake */
};
/* One QMP line, parsed (pure, fuzzed by tests/fuzz/fuzz-qmp.c). val points
 * into line: the "return" value's JSON, or the error's "desc" string. */
enum vm_qmp_kind { VM_QMP_OTHER, VM_QMP_GREETING, VM_QMP_EVENT, VM_QMP_REPLY };
struct vm_qmp_msg {
	enum vm_qmp_kind kind;
	int64_t id;		/* replies; -1 otherwise */
	bool ok;		/* "return" rather than "error" */
	const char *val;
	size_t vlen;
	char event[64];
};
int vm_qmp_parse(const char *line, size_t len, struct vm_qmp_msg *m);

void vm_qmp_open(struct vm_qmp *q, struct vm *vm, int fd);
int vm_qmp_send(struct vm_qmp *q, const char *execute, const char *args_json,
		vm_qmp_cb cb, void *data);
/* Send fd to QEMU (SCM_RIGHTS on one space, which QMP's parser skips)
 * for a following "getfd"; -EBUSY while a command is being written. */
int vm_qmp_pass_fd(struct vm_qmp *q, int fd);
/* Fail every request with -ECONNRESET; stop reading. */
void vm_qmp_shutdown(struct vm_qmp *q);
void vm_qmp_free(struct vm_qmp *q);

/* Hooks from qmp.c into launch.c. */
struct loop *vm_loop(struct vm *vm);
void vm_op_ref(struct vm *vm);
void vm_op_unref(struct vm *vm);

/* The virtio-serial port name guest-init looks for; equal to
 * PROTO_PORT_NAME in agent/proto.h (checked by tests/unit/vm). */
#define VM_AGENT_PORT "ucrt.agent"

/* template.c: a clone's QMP steps (capability, migrate-incoming). */
void vm_incoming_start(struct vm *vm, unsigned fd);
const char *vm_name(const struct vm *vm);
int vm_pass_fd(struct vm *vm, int fd);

/* argv.c */
bool vm_kernel_is_elf(const char *path);

/* vsock.c: host side of the vsock transport. */

/* Guest CIDs are picked in [VM_CID_MIN, VM_CID_MAX]: 0-2 are reserved
 * (hypervisor, local, host) and -1U is VMADDR_CID_ANY. */
#define VM_CID_MIN 3u
#define VM_CID_MAX 0x7fffffffu
#define VM_CID_TRIES 64u

/* Claim cid for the vhost fd: 0, or -errno (-EADDRINUSE: another VM, or
 * this host's own CID when it is itself a guest, has it). */
typedef int (*vm_cid_set_fn)(int vhost_fd, uint64_t cid);
int vm_vhost_set_cid(int vhost_fd, uint64_t cid);
/* Claim a CID on vhost_fd with set, trying start (clamped into the
 * range), start+1, ... (wrapping) while the answer is EADDRINUSE, at most
 * VM_CID_TRIES times. */
int vm_cid_pick(int vhost_fd, uint32_t start, vm_cid_set_fn set, uint32_t *cid, struct err *err);
/* Open dev (/dev/vhost-vsock) and claim a CID from a random start; returns
 * the fd (to be inherited by QEMU as VM_FD_VHOST) or -errno. */
int vm_vhost_open(const char *dev, uint32_t *cid, struct err *err);
/* A listening AF_VSOCK stream socket on VMADDR_CID_ANY and a port the
 * kernel chose; returns the fd or -errno. */
int vm_vsock_listen(uint32_t *port, struct err *err);
/* True when an accepted peer address is this VM's guest: AF_VSOCK, long
 * enough, svm_cid == cid. Anything else is another VM (or a host process)
 * knocking on our port. */
bool vm_vsock_peer_ok(const struct sockaddr *sa, socklen_t len, uint32_t cid);

/* Accepts on a listening socket from the reactor until a peer passes
 * vm_vsock_peer_ok (others are closed at once) or timeout_ns passes.
 * cb runs once: fd >= 0 the connection (the callee owns it), or -errno
 * with err saying why. It may free the acceptor; free it in any case. */
struct vm_acceptor;
typedef void (*vm_acceptor_cb)(void *data, int fd, const struct err *err);
/* Takes listen_fd (closed on failure too). */
int vm_acceptor_start(struct loop *l, int listen_fd, uint32_t cid, uint32_t port,
		      uint64_t timeout_ns, vm_acceptor_cb cb, void *data, struct vm_acceptor **out);
/* Stop (no more callbacks) and release; the listening fd is closed. */
void vm_acceptor_free(struct vm_acceptor *a);
/* Connections refused so far (tests, messages). */
unsigned vm_acceptor_refused(const struct vm_acceptor *a);

#endif
