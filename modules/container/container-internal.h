/* Private to modules/container. */
#ifndef UCRT_CONTAINER_INTERNAL_H
#define UCRT_CONTAINER_INTERNAL_H

#include <sys/socket.h>
#include <sys/un.h>

#include "container/container.h"

struct agent_config;
struct json_doc;
struct json_writer;
struct store;
struct vm_config;

/* Mounts attached to one VM (mount.c): shares and disks added to vc, the
 * disks' attach locks held, the guest's mount list ready for CONFIG. */
struct ctr_mounts_live;
int ctr_mounts_attach(const struct ctr_config *cfg, struct vm_config *vc, struct ctr_mounts_live **out,
		      struct err *err);
void ctr_mounts_agent(const struct ctr_mounts_live *lv, struct agent_config *ac);
/* Does the VM have disks attached read-write (volumes, disks)? */
bool ctr_mounts_rw_disks(const struct ctr_mounts_live *lv);
/* Release the locks (the VM is gone). NULL is fine. */
void ctr_mounts_detach(struct ctr_mounts_live *lv);
/* config.json's "mounts" (docker false) or inspect's "Mounts" (docker
 * true, docker's keys); and back from config.json. */
void ctr_mounts_json(struct json_writer *w, const struct ctr_mount *m, size_t n, bool docker);
int ctr_mounts_from_json(const struct json_doc *d, int arr, struct ctr_mount **out, size_t *n);

/* A VM restored from a template (template-use.c). */
#include "template/template.h"
struct vm_host;
struct ctr_clone {
	bool active;
	int state_fd;		/* the template's state, until QEMU has it */
	struct tmpl_files files;	/* vm_config points into it */
	char *cmdline;		/* the ucrt.* parameters RESUME carries */
	bool has_mac;
	uint8_t mac[6];
};
/* Make vc a clone when templates are in use and one fits (true), else
 * leave it a cold boot and have the template built in the background. */
bool ctr_template_attach(const char *name, const struct vm_host *h, struct vm_config *vc,
			 struct ctr_clone *cl);
/* vm_start of the clone failed (its files went away): release the clone
 * and boot vc cold; vm_start's result. */
struct loop;
struct vm;
struct vm_events;
int ctr_template_detach(const char *name, struct loop *l, const struct vm_host *h, struct vm_config *vc,
			const struct vm_events *ev, void *data, struct ctr_clone *cl, struct vm **out,
			struct err *err);
/* QEMU runs: close what it inherited. */
void ctr_clone_started(struct ctr_clone *cl);
/* The guest's first frame from the host: RESUME. */
int ctr_clone_resume(const struct ctr_clone *cl, int agent_fd);
void ctr_clone_release(struct ctr_clone *cl);

/* top (relative to the cwd) as a pax tar on fd: what `ucrt cp` sends to
 * guest-init's --tar-extract (cp.c). */
int ctr_cp_write_tar(int fd, const char *top, struct err *err);

/* "k": v, or "k": null when v is NULL (state.c). */
void ctr_jw_kstr(struct json_writer *w, const char *k, const char *v);

/* `run`'s pull of a missing image norm_ref (full "domain/path:tag"),
 * with progress lines on stderr (pull.c). */
int ctr_image_pull(struct loop *l, struct store *s, const char *norm_ref,
		   const struct ctr_image_opts *o, struct err *err);

/* Streaming pull (stream.c): a registry layer hook that writes the image's
 * disk rootfs/<chain-hex>.ext4 while the layers download. ctr_stream_end
 * runs in the pull's fiber after reg_pull: it waits for the writer and
 * returns pull_status when the pull failed, else the disk's status (0 also
 * when nothing was streamed) with err filled: a pull whose disk failed
 * fails. */
struct ctr_stream;
struct ctr_stream *ctr_stream_new(struct loop *l, struct store *s);
void ctr_stream_hook(struct ctr_stream *st, struct reg_layer_hook *hk);
int ctr_stream_end(struct ctr_stream *st, int pull_status, struct err *err);
void ctr_stream_free(struct ctr_stream *st);

/* store_rootfs_lock, then the temp files a killed build of that disk left
 * are removed (image.c). Release with store_rootfs_unlock. */
int ctr_disk_lock(struct store *s, const char *chain, bool wait, struct err *err);

/* ctl.sock wire format. The client sends one request line: "stop SECS",
 * "kill SIGNO" (answered "ok\n" or "error ...\n"), "wait" (answered
 * "EXITCODE\n" at the end), "exec {json spec}" or "attach {json}"; after
 * an exec or attach line both sides exchange frames: u8 type, u32 length
 * (little-endian), payload. */
/* Parse an "exec" request's JSON spec (what ctr_ctl_exec sends): args
 * (non-empty), env, cwd, root (absolute, no ".."), uid, gid, tty, stdin,
 * rows, cols. -EINVAL when
 * it is not that; sp is then empty. */
int ctr_ctl_parse_exec(const char *json, size_t len, struct ctr_spec *sp, uint16_t *rows, uint16_t *cols);
/* Parse an "attach" request's JSON: stdin, release, rows, cols (all
 * optional; out-of-range sizes ignored). -EINVAL when it is not an
 * object. */
int ctr_ctl_parse_attach(const char *json, size_t len, bool *stdin_open, bool *release,
			 uint16_t *rows, uint16_t *cols);
/* ctr_detach with hold (ctr_supervise's): returns once the VM runs held
 * and ctl.sock listens. */
int ctr_spawn_supervisor(const char *self_exe, const char *root, const char *id, bool hold,
			 struct err *err);
/* ucrt cp (cp.c): an entry name the guest sent, accepted only below top
 * (its first component), relative, without ".."; written to out with top
 * replaced by newtop. */
bool ctr_cp_entry_name(const char *name, const char *top, const char *newtop, char *out, size_t cap);
/* ucrt cp with a stopped container's disk (cp.c, cp-stopped.c): takes its
 * start.lock (no `start` while the copy uses the overlay), makes sure it
 * did not start meanwhile and reads its config, which must name an
 * overlay. Returns the lock's fd, held until the copy is done, with *cfg
 * read (the caller frees it); or -errno with err set. */
int ctr_cp_lock_stopped(const char *root, const char *id, struct ctr_config *cfg, struct err *err);
#define CTR_CTL_MAX_FRAME (64u * 1024u)
enum {
	CTR_CTL_STDIN = 'i',		/* client: stdin bytes */
	CTR_CTL_STDIN_EOF = 'e',	/* client: end of stdin */
	CTR_CTL_RESIZE = 'r',		/* client: u16 rows, u16 cols */
	CTR_CTL_SIGNAL = 's',		/* client: u32 signal */
	CTR_CTL_STDOUT = 'o',		/* supervisor: output */
	CTR_CTL_STDERR = 'E',
	CTR_CTL_EXIT = 'x',		/* supervisor: i32 docker status, last frame */
	CTR_CTL_FAIL = 'f',		/* supervisor: error text, last frame */
	CTR_CTL_ALIVE = 'a',		/* supervisor: the guest answered after a signal */
};

/* How long a client's signal may wait for the guest's sign of life
 * (ctr_probe) before the signal counts as lost; the client gives its
 * supervisor CTR_CTL_ALIVE_MS to report that or end the container. */
#define CTR_SIGNAL_PROBE_MS 5000u
#define CTR_CTL_ALIVE_MS 15000u

/* Unix socket address of dirfd/name (a supervisor's ctl.sock, a
 * parallel run's request socket), short even when the directory's path
 * is long: bound/connected through /proc/self/fd. -ENAMETOOLONG. */
int ctr_sock_addr(int dirfd, const char *name, struct sockaddr_un *sa, socklen_t *len);
/* A request line out on fd, then the reply until the peer hangs up or
 * cap - 1 bytes (NUL-terminated): its length, or -errno of the write. A
 * blocking client's call (the CLI). */
int ctr_ctl_exchange(int fd, const char *line, size_t len, char *reply, size_t cap);

/* The request socket of a `run --parallel` (instance-ctl.c). */
#define CTR_ICTL_SUFFIX ".sock"
/* "<group's first CTR_SHORT_ID chars>-<pid>.sock" */
void ctr_ictl_sock_name(const char *group, pid_t pid, char *buf, size_t cap);
/* One request line (without its '\n'): 0, -EINVAL for a bad line,
 * -ERANGE for numbers out of range. */
int ctr_ireq_parse(const char *line, size_t len, struct ctr_ireq *out);
/* The line for rq, '\n' included; its length or -ENOBUFS. */
int ctr_ireq_format(const struct ctr_ireq *rq, char *buf, size_t cap);
/* The run's handler: 0 when done, else < 0 and why (a short sentence). */
typedef int (*ctr_ireq_fn)(void *ud, const struct ctr_ireq *rq, char *why, size_t cap);
struct ctr_ictl;
/* Listen in the directory dfd (dup'ed) under group's name and this pid,
 * serving on l; fn runs for each valid request. -errno. */
int ctr_ictl_open(struct loop *l, int dfd, const char *group, ctr_ireq_fn fn, void *ud, struct ctr_ictl **out);
/* Unlink the socket, hang up on clients; the memory goes once the
 * cancelled ops completed (loop_drain). NULL is fine. */
void ctr_ictl_close(struct ctr_ictl *s);

#endif
