/* Private to modules/vm. */
#ifndef UCRT_VM_INTERNAL_H
#define UCRT_VM_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"
#include "vm/vm.h"

/* Fixed fd numbers inside the QEMU child (argv names them). */
#define VM_FD_QMP 3
#define VM_FD_CONSOLE 4
#define VM_FD_AGENT 5
#define VM_FD_TAP 6
#define VM_FD_FIRST_FREE 7

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

/* argv.c */
bool vm_kernel_is_elf(const char *path);

#endif
