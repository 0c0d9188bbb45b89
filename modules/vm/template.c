/* Saving a template VM (docs/vm.md, Templates): the x-ignore-shared
 * capability, the state file's fd over QMP (getfd), migrate to it, polled
 * with query-migrate until QEMU says completed or failed. The RAM stays in
 * the shared mem_path file; the stream is only the device state. A
 * clone's side: the capability, then migrate-incoming from the fd it
 * inherited. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "log.h"
#include "str.h"
#include "util.h"
#include "vm-internal.h"

#define VM_SAVE_POLL_MS 10u
#define VM_SAVE_POLLS 3000u	/* 30 s: the stream is ~50 KB */

#define VM_MIGRATE_FDNAME "ucrt-template"

struct vm_saver {
	struct vm *vm;
	int fd;
	vm_save_cb cb;
	void *data;
	struct loop_timer poll;
	unsigned polls;
};

static void vm_save_end(struct vm_saver *s, int res, const char *msg)
{
	struct vm *vm = s->vm;

	loop_timer_stop(vm_loop(vm), &s->poll);
	s->cb(vm, res, msg, s->data);
	free(s);
	vm_op_unref(vm);
}

static void vm_save_status(struct vm *vm, int res, const char *json, size_t len, void *data)
{
	struct vm_saver *s = data;
	struct json_doc d = { 0 };
	_cleanup_free_ char *status = NULL, *why = NULL;
	char msg[300];

	if (res < 0) {
		snprintf(msg, sizeof(msg), "query-migrate: %.*s", (int)MIN(len, 200u), json ? json : "");
		vm_save_end(s, res, msg);
		return;
	}
	if (json_parse(&d, json, len, 256) == 0) {
		status = json_str(&d, json_get(&d, 0, "status"));
		why = json_str(&d, json_get(&d, 0, "error-desc"));
	}
	json_free(&d);
	if (status && strcmp(status, "completed") == 0) {
		vm_save_end(s, 0, NULL);
	} else if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
		snprintf(msg, sizeof(msg), "migration %s: %s", status, why ? why : "no reason given");
		vm_save_end(s, -EIO, msg);
	} else if (++s->polls >= VM_SAVE_POLLS) {
		vm_save_end(s, -ETIMEDOUT, "migration did not complete");
	} else {
		loop_timer_start(vm_loop(vm), &s->poll, VM_SAVE_POLL_MS * 1000000ull);
	}
}

static void vm_save_poll(struct loop_timer *t)
{
	struct vm_saver *s = t->data;
	int r = vm_qmp(s->vm, "query-migrate", NULL, vm_save_status, s);

	if (r < 0)
		vm_save_end(s, r, "QMP is gone");
}

static void vm_save_started(struct vm *vm, int res, const char *json, size_t len, void *data)
{
	struct vm_saver *s = data;
	char msg[300];

	if (res < 0) {
		snprintf(msg, sizeof(msg), "migrate: %.*s", (int)MIN(len, 200u), json ? json : "");
		vm_save_end(s, res, msg);
		return;
	}
	vm_save_poll(&s->poll);
}

/* QEMU 7.2's outgoing fd: migration wants a named fd (getfd), not a
 * number it inherited. */
static void vm_save_gotfd(struct vm *vm, int res, const char *json, size_t len, void *data)
{
	struct vm_saver *s = data;
	char msg[300];
	int r;

	if (res < 0) {
		snprintf(msg, sizeof(msg), "getfd: %.*s", (int)MIN(len, 200u), json ? json : "");
		vm_save_end(s, res, msg);
		return;
	}
	r = vm_qmp(vm, "migrate", "{\"uri\":\"fd:" VM_MIGRATE_FDNAME "\"}", vm_save_started, s);
	if (r < 0)
		vm_save_end(s, r, "QMP is gone");
}

#define VM_IGNORE_SHARED "{\"capabilities\":[{\"capability\":\"x-ignore-shared\",\"state\":true}]}"

static void vm_incoming_done(struct vm *vm, int res, const char *json, size_t len, void *data)
{
	/* The guest runs once the stream is loaded (no -S); a failure ends
	 * QEMU, whose stderr the exited event then carries. */
	if (res < 0 && res != -ECONNRESET) {
		log_warn("vm %s: restoring from the template: %.*s", vm_name(vm), (int)MIN(len, 200u),
			 json ? json : "");
		vm_kill(vm, SIGKILL);
	}
}

void vm_incoming_start(struct vm *vm, unsigned fd)
{
	char args[64];

	snprintf(args, sizeof(args), "{\"uri\":\"fd:%u\"}", fd);
	/* Queued in order before the QMP handshake completes. */
	if (vm_qmp(vm, "migrate-set-capabilities", VM_IGNORE_SHARED, vm_incoming_done, NULL) < 0 ||
	    vm_qmp(vm, "migrate-incoming", args, vm_incoming_done, NULL) < 0)
		vm_kill(vm, SIGKILL);
}

static void vm_save_caps(struct vm *vm, int res, const char *json, size_t len, void *data)
{
	struct vm_saver *s = data;
	char msg[300];
	int r;

	if (res < 0) {
		snprintf(msg, sizeof(msg), "migrate-set-capabilities: %.*s", (int)MIN(len, 200u), json ? json : "");
		vm_save_end(s, res, msg);
		return;
	}
	/* Not stopped first: the stream then records a running guest and a
	 * clone runs as soon as it is loaded (a paused source's clones would
	 * stay paused until a "cont" after completion: one more round trip).
	 * The guest waits in a read and the RAM is not in the stream, so the
	 * one pass happens with the VM stopped by QEMU at completion. */
	r = vm_pass_fd(vm, s->fd);
	if (r < 0) {
		vm_save_end(s, r, "passing the state file to QEMU");
		return;
	}
	r = vm_qmp(vm, "getfd", "{\"fdname\":\"" VM_MIGRATE_FDNAME "\"}", vm_save_gotfd, s);
	if (r < 0)
		vm_save_end(s, r, "QMP is gone");
}

int vm_save(struct vm *vm, int fd, vm_save_cb cb, void *data)
{
	struct vm_saver *s;
	int r;

	if (!vm_running(vm))
		return -ESRCH;
	s = xcalloc(1, sizeof(*s));
	s->vm = vm;
	s->fd = fd;
	s->cb = cb;
	s->data = data;
	loop_timer_init(&s->poll, vm_save_poll, s);
	vm_op_ref(vm);
	r = vm_qmp(vm, "migrate-set-capabilities", VM_IGNORE_SHARED, vm_save_caps, s);
	if (r < 0) {
		free(s);
		vm_op_unref(vm);
	}
	return r;
}
