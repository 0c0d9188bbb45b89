/* modules/container: containers on top of images, VMs and the agent.
 *
 *  - spec:    the process to run, from the image config and docker-style
 *             overrides (entrypoint/cmd, env, working dir, user);
 *  - image:   an image in the store -> rootfs/<chain-id>.ext4, built once
 *             per chain id (locked, atomic) and shared read-only;
 *  - state:   <root>/containers/<id>/ (config.json, state.json, logs,
 *             overlay disk), listing, liveness of a dead ucrt's VMs;
 *  - launch:  one container on the reactor: QEMU + agent session + the
 *             main process, extra processes (exec), stop/kill;
 *  - parallel: N instances of one container from one reactor;
 *  - supervisor: the process that owns a detached container's VM.
 *
 * docs/run.md describes the behaviour; docs/protocol.md the guest side. */
#ifndef UCRT_CONTAINER_H
#define UCRT_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"	/* struct loop_op in struct ctr_sink */
#include "registry/registry.h"	/* the pull's options and result */

struct buf;
struct check_report;
struct err;
struct loop;
struct oci_image_config;
struct store;
struct vm_host;

#define CTR_ID_LEN 64		/* hex characters of a container id */
#define CTR_SHORT_ID 12

/* ---- the process (spec.c) ------------------------------------------------*/

/* What the command line says; NULL / unset fields leave the image's. */
struct ctr_overrides {
	char *const *cmd;		/* CMD ARG... after the image, may be NULL */
	const char *entrypoint;		/* --entrypoint ("" = none) */
	bool entrypoint_set;
	char *const *env;		/* "K=V" in order, later wins */
	const char *workdir;		/* -w */
	const char *user;		/* -u USER[:GROUP] */
	/* TERM of a tty process when neither the image nor -e set one: the
	 * caller's terminal type; NULL or "": xterm, docker's default. */
	const char *term;
};

struct ctr_spec {
	char **argv;			/* entrypoint + cmd, non-empty */
	char **env;			/* "K=V", keys unique */
	char *cwd;			/* absolute */
	char *user;			/* as given ("" = root) */
	uint32_t uid, gid;
	bool tty, stdin_open;
	char *root;			/* a pod container's root in the guest (pod.c), or NULL */
};

/* Docker's rules: --entrypoint replaces the image's entrypoint and drops
 * its cmd; CMD args replace the image's cmd; -e entries override image env
 * by key; PATH gets a default when the image has none. The user stays a
 * string here (resolved against the image's /etc/passwd later). */
int ctr_spec_build(const struct oci_image_config *img, const struct ctr_overrides *o,
		   struct ctr_spec *out, struct err *err);
void ctr_spec_free(struct ctr_spec *s);
/* Set or replace "key=value" in a "K=V" vector. */
void ctr_env_set(char ***env, const char *key, const char *value);
const char *ctr_env_get(char *const *env, const char *key);

/* "-e K=V" / "-e K" (value from lookup, dropped when it returns NULL). */
int ctr_env_arg(char ***env, const char *arg, const char *(*lookup)(const char *key),
		struct err *err);
/* --env-file: K=V lines, "#" comments, blank lines; "K" alone as -e K. */
int ctr_env_file(char ***env, const char *path, const char *(*lookup)(const char *key),
		 struct err *err);

/* USER[:GROUP] (names or numbers) against passwd/group file text (either
 * may be NULL). A name not found is an error; a number needs no entry. A
 * user without group gets its passwd gid; *home (malloc'ed, may be NULL)
 * its home directory. */
int ctr_user_resolve(const char *user, const char *passwd, const char *group,
		     uint32_t *uid, uint32_t *gid, char **home, struct err *err);

/* Read a small file out of an ext4 image (symlinks inside the image are
 * followed within it). -ENOENT when absent. */
int ctr_disk_read_file(const char *disk, const char *path, size_t max, char **out,
		       struct err *err);

/* Resolve spec->user against the image disk and fill uid/gid, HOME. */
int ctr_spec_resolve_user(struct ctr_spec *s, const char *disk, struct err *err);

/* ---- data mounts (mount.c) ----------------------------------------------*/

/* CTR_MOUNT_EMULATOR: the qemu-user disk of a foreign-architecture image
 * (emulator.c); guest-init registers it with binfmt_misc and unmounts it. */
enum ctr_mount_type { CTR_MOUNT_BIND, CTR_MOUNT_VOLUME, CTR_MOUNT_DISK, CTR_MOUNT_TMPFS, CTR_MOUNT_EMULATOR };

struct ctr_mount {
	enum ctr_mount_type type;
	char *src;			/* host path or volume name as given; NULL for tmpfs */
	char *dst;			/* absolute, normalised path in the container */
	bool readonly;
	bool create;			/* -v: a missing host directory is created */
	/* A Kubernetes pod's share (pod.c): the containers' roots and mounts
	 * are mounted below it on the host; real owners, remapped inodes. */
	bool pod;
	char *opts;			/* tmpfs: "size=N,mode=M" (validated) */
	/* ctr_mounts_resolve: the directory QEMU exports (bind), or the disk
	 * image (volume, disk); for a single file, the private directory
	 * holding it and its name there. */
	char *host;
	char *file;
};

const char *ctr_mount_type_name(enum ctr_mount_type t);
/* -v HOST:DST[:ro|rw] or -v VOLUME:DST[:ro|rw] (docker's rule: a source
 * without '/' that does not start with '.' or '~' is a volume name). */
int ctr_mount_parse_v(const char *spec, struct ctr_mount *m, struct err *err);
/* --mount type=bind|volume|disk|tmpfs,src=,dst=[,readonly[=true|false]]
 * [,tmpfs-size=N][,tmpfs-mode=M]; a disk is read-only unless told. */
int ctr_mount_parse(const char *spec, struct ctr_mount *m, struct err *err);
/* --tmpfs DST[:size=N,mode=M] */
int ctr_mount_parse_tmpfs(const char *spec, struct ctr_mount *m, struct err *err);
void ctr_mount_clear(struct ctr_mount *m);
void ctr_mounts_free(struct ctr_mount *m, size_t n);
/* Host side, once, before the first start: real paths (a missing -v
 * directory is created), volumes looked up or created, single files
 * staged under containers/<id>/files/. Two mounts on one target fail. */
int ctr_mounts_resolve(const char *root, const char *id, struct ctr_mount *m, size_t n,
		       struct err *err);
/* An image's Volumes (paths) that no mount in m covers, appended to m: a
 * tmpfs each when the container goes away at exit (their data would go
 * with it), else a new volume named "<id prefix>-<n>" that outlives the
 * container, as docker's anonymous volumes do. */
int ctr_mounts_add_image_volumes(char *const *paths, const char *id, bool ephemeral,
				 struct ctr_mount **m, size_t *n, struct err *err);
/* Container id's mounts as docker's inspect "Mounts" array (Type, Name,
 * Source, Destination, RW); [] when it has none or cannot be read. */
struct json_writer;
void ctr_mounts_inspect_json(struct json_writer *w, const char *root, const char *id);

/* ---- images (image.c) ----------------------------------------------------*/

struct ctr_image {
	char *ref;			/* as resolved ("127.0.0.1:5000/busybox:latest") */
	char *id;			/* config digest, or "" for a plain disk */
	char *chain_id;
	char *disk;			/* rootfs/<chain-id>.ext4, read-only, shared */
	struct oci_image_config *config;	/* never NULL (empty for a plain disk) */
	uint64_t t_ready;		/* loop_now_ns() when the image was in the store */
	uint64_t t_disk;		/* ... when its disk was ready */
	bool pulled;
	struct store *store;		/* open, locked shared while the image is used */
};

struct reg_progress;
struct ctr_image_opts {
	bool pull_missing;		/* pull through the registry when not in the store */
	bool tls_verify;
	bool quiet;
	const struct oci_platform *platform;	/* --platform; NULL: the host's */
	/* Per-layer progress of a pull (the CLI's bars, as `image pull`
	 * draws them); NULL: a line per layer on stderr. Not called when
	 * quiet. */
	void (*progress)(void *arg, const struct reg_progress *p);
	void *progress_arg;
};

/* Find (and pull if allowed and missing) image ref in the store at root,
 * then make sure its disk exists. Runs blocking setup and reactor work on
 * l. */
int ctr_image_get(struct loop *l, const char *root, const char *ref,
		  const struct ctr_image_opts *o, struct ctr_image *out, struct err *err);
/* A plain ext4 disk (development, benchmarks): no image config. */
int ctr_image_from_disk(const char *disk, struct ctr_image *out, struct err *err);
void ctr_image_release(struct ctr_image *img);

/* ---- pulling (pull.c) ------------------------------------------------------
 * The one pull of the program (`image pull`, and `run` of a missing
 * image): the registry client on the reactor l, in a fiber of its own, the
 * blobs into store s (open, its lock held shared by the caller), the name
 * recorded, and with stream_disk the image's disk rootfs/<chain>.ext4
 * written while the layers download (docs/rootfs.md, "Streaming pull"):
 * a pull whose disk fails fails. */
struct ctr_pull_opts {
	const struct reg_opts *reg;		/* NULL: reg_opts_default() */
	const struct oci_platform *platform;	/* NULL: the host's */
	reg_progress_fn progress;		/* NULL: silent */
	void *progress_arg;
	bool stream_disk;
};
int ctr_pull(struct loop *l, struct store *s, const struct oci_ref *ref, const struct ctr_pull_opts *o,
	     struct reg_pull_result *res, struct err *err);

/* ---- from a command line to a container (prepare.c) ---------------------*/

struct ctr_net_opts;
struct ctr_config;

/* What `run` asks for beyond the container's own settings. */
struct ctr_run_request {
	const char *image;		/* reference; NULL when rootfs is given */
	const char *rootfs;		/* --rootfs: a plain ext4 disk, no image config */
	struct ctr_image_opts image_opts;
	struct ctr_overrides ov;	/* merged into the image's process */
	bool tty, interactive;
	const char *hostname;		/* NULL: the short id */
	bool instances;			/* --parallel: not kept, no container directory */
	/* Written to network.json (may be NULL); with publish_all (-P) the
	 * image's ExposedPorts are added to its ports first. */
	struct ctr_net_opts *net;
	bool publish_all;
	/* --restart and the health options, resolved against the image's
	 * Healthcheck into policy.json (may be NULL). */
	const struct ctr_policy_opts *policy;
};
/* Get the image (pulling it when missing and allowed), then fill cfg:
 * image, id, disk, the process spec, the emulator and image-volume mounts,
 * all mounts resolved. cfg comes in with the container's own settings
 * (name, rm, detach, cpus, mem_mib, kernel, accel, read_only, mounts and
 * any other config.json field); cpus 0 means 1, accel NULL "auto". Unless
 * rq->instances, containers/<id>/ is created with config.json,
 * network.json and, for a kept container, its overlay; on failure nothing
 * of it is left. img is released by the caller (also on failure), cfg
 * freed with ctr_config_free. */
int ctr_run_prepare(struct loop *l, const char *root, const struct ctr_run_request *rq,
		    struct ctr_image *img, struct ctr_config *cfg, struct err *err);
/* The process of `exec` in container cfg: o->cmd, the container's env
 * with o->env over it, o->workdir (absolute) or the container's, o->user
 * (resolved in the image) or the container's uid/gid. */
int ctr_exec_spec(const struct ctr_config *cfg, const struct ctr_overrides *o, bool tty, bool stdin_open,
		  struct ctr_spec *out, struct err *err);

/* ---- foreign-architecture images (emulator.c) ----------------------------*/

/* How this host runs an image of os/arch/variant. */
enum ctr_platform_how { CTR_PLATFORM_NATIVE, CTR_PLATFORM_EMULATED, CTR_PLATFORM_UNSUPPORTED };
struct ctr_platform_info {
	char platform[48];		/* "linux/arm64" */
	enum ctr_platform_how how;
	char emulator[256];		/* host path of qemu-ARCH-static, "" when native */
	bool emulator_found;
};
/* Every platform ucrt knows, for `ucrt info`; out has room for n. Returns
 * how many were written. */
size_t ctr_platforms(struct ctr_platform_info *out, size_t n);
/* How the image with this config's os/arch/variant runs here; for an
 * emulated one, where its emulator is (found or not). */
enum ctr_platform_how ctr_platform_probe(const char *os, const char *arch, const char *variant,
					  struct ctr_platform_info *info);
/* The binfmt_misc register line of an emulated platform, with interp as
 * the interpreter's path in the guest and the F flag; NULL when native or
 * unknown. */
char *ctr_emulator_binfmt(const char *arch, const char *variant, const char *interp);
/* For an image this host cannot run natively: the emulator's disk, built
 * once under root/emulators/ and cached, appended to *m as a read-only
 * CTR_MOUNT_EMULATOR (already resolved). Native images: nothing. Errors
 * name the missing emulator and its Debian package. */
int ctr_emulator_mount(const char *root, const struct oci_image_config *img, struct ctr_mount **m,
		       size_t *n, struct err *err);

/* ---- state on disk (state.c) --------------------------------------------*/

enum ctr_status { CTR_CREATED, CTR_RUNNING, CTR_EXITED, CTR_DEAD };
const char *ctr_status_name(enum ctr_status s);

/* Everything needed to launch it again (config.json). */
struct ctr_config {
	char id[CTR_ID_LEN + 1];
	char *name;
	char *image;			/* reference as given */
	char *image_id;
	char *disk;			/* image disk */
	char *overlay;			/* qcow2 in the container dir, or NULL (snapshot) */
	char *hostname;
	bool rm;			/* removed when it ends */
	bool detach;
	unsigned cpus, mem_mib;
	char *kernel;			/* NULL: default */
	char *accel;			/* "auto", "kvm", "tcg" */
	int64_t created;		/* unix seconds */
	struct ctr_spec spec;
	struct ctr_mount *mounts;	/* resolved (ctr_mounts_resolve) */
	size_t nmounts;
	bool read_only;			/* --read-only: root disk mounted read-only */
	/* An OCI bundle's root filesystem (bundle.c): this host directory,
	 * shared over 9p, is the guest's root instead of disk/overlay (a
	 * bundle whose root.path is an ext4 file sets disk instead). */
	char *root_dir;
	/* Its network namespace joined to the VM (bundle-net.c), or NULL. */
	struct ctr_bundle_net *bundle_net;
	char **labels;			/* --label: "KEY=VALUE", keys unique (labels.c) */
};

/* --label KEY[=VALUE] (labels.c): add to *labels, replacing an earlier
 * KEY as docker does; a missing value is "". -EINVAL with err naming the
 * argument for an empty key or a control character. */
int ctr_label_arg(char ***labels, const char *arg, struct err *err);

/* state.json: who owns the VM, and how it ended. */
struct ctr_state {
	enum ctr_status status;
	pid_t owner;			/* ucrt or supervisor pid */
	uint64_t owner_start;		/* its start time (/proc/PID/stat field 22) */
	pid_t qemu;
	uint64_t qemu_start;
	int exit_code;			/* -1 while unknown */
	int64_t started, finished;	/* unix seconds, 0 unknown */
	char error[256];		/* why it failed to start or died */
	/* --restart (restart.c): restarts by this supervisor, waiting for
	 * the next one now, and whether the user stopped it (stop, kill). */
	unsigned restart_count;
	bool restarting, user_stop;
};

void ctr_config_free(struct ctr_config *c);

/* Random 64-hex id; default name "<adjective>_<id prefix>" when name NULL.
 * Creates containers/<id>/ (fails with -EEXIST when the name is taken). */
int ctr_create(const char *root, struct ctr_config *c, struct err *err);
int ctr_config_write(const char *root, const struct ctr_config *c, struct err *err);
int ctr_config_read(const char *root, const char *id, struct ctr_config *c, struct err *err);
int ctr_state_write(const char *root, const char *id, const struct ctr_state *s);
int ctr_state_read(const char *root, const char *id, struct ctr_state *s);
/* Path of a file in the container's dir (malloc'ed). */
char *ctr_path(const char *root, const char *id, const char *file);
/* Full id of a container named name, or whose id starts with it (unique). */
int ctr_find(const char *root, const char *name_or_id, char id[CTR_ID_LEN + 1], struct err *err);
/* All ids, sorted by creation time (oldest first). */
int ctr_list(const char *root, char ***ids);
/* Current status: a "running" container whose owner or QEMU died is
 * "dead" (its QEMU is killed if the owner died and it lingers); state.json
 * is updated. */
enum ctr_status ctr_refresh(const char *root, const char *id, struct ctr_state *s);
/* Remove the container's directory (kills a lingering QEMU first when
 * force; else -EBUSY when running). */
int ctr_remove(const char *root, const char *id, bool force, struct err *err);
/* Process start time in clock ticks since boot, 0 when gone. */
uint64_t ctr_proc_start_time(pid_t pid);
/* pid is alive and still the process that started at start. */
bool ctr_proc_alive(pid_t pid, uint64_t start);

/* ---- consistency check (check.c, `ucrt system check`) ------------------*/

struct ctr_check_stats {
	unsigned containers;	/* checked */
};
/* Every container's config.json and state.json: unreadable files,
 * "running" with a dead owner, ended --rm containers, temp files of dead
 * writers; records of --parallel instances whose run died (instances.c).
 * With repair: mark dead, remove, delete. Each problem goes to
 * rep (core/check.h; what: "container <short id>") and adds to its
 * counts. */
int ctr_check(const char *root, bool repair, struct check_report *rep, struct ctr_check_stats *st,
	      struct err *err);

/* ---- one container on the reactor (launch.c) ---------------------------*/

struct ctr;
struct ctr_proc;
struct agent_stats;
struct agent_ps;

struct ctr_proc_ops {
	/* Started (err 0) or failed to start in the guest (err > 0). */
	void (*started)(struct ctr_proc *p, int err, const char *msg, void *ud);
	void (*output)(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof,
		       void *ud);
	void (*stdin_ready)(struct ctr_proc *p, void *ud);
	/* The process ended: docker exit status (128+N for a signal). */
	void (*exit)(struct ctr_proc *p, int status, void *ud);
};

struct ctr_events {
	/* The VM is gone. status: the main process's docker status, or 125
	 * with err filled when the container could not run to the end. */
	void (*done)(struct ctr *c, int status, const struct err *err, void *ud);
	/* The guest answered a liveness probe (optional). */
	void (*alive)(struct ctr *c, void *ud);
	/* Its counters with that answer (optional; modules/agent's struct:
	 * only modules/container reads it). */
	void (*stats)(struct ctr *c, const struct agent_stats *st, void *ud);
	/* The answer to ctr_request_top (optional). */
	void (*top)(struct ctr *c, const struct agent_ps *ps, size_t n, bool trunc, void *ud);
	/* guest-init is configured: execs may run, and a held main process
	 * waits for ctr_release (optional). */
	void (*ready)(struct ctr *c, void *ud);
};

struct ctr_launch {
	const struct ctr_config *cfg;
	const struct vm_host *host;
	const char *console_log;	/* NULL: dropped */
	/* The console log goes away with the container (--rm): failure
	 * messages quote its last lines instead of naming it. */
	bool console_gone;
	uint16_t rows, cols;		/* initial tty size */
	uint64_t t0;			/* loop_now_ns() at command start (timeline) */
	uint64_t t_image, t_disk;	/* image / disk ready, 0 unknown */
	/* Network (netcfg.c): a tap + lease + filter for the VM when net is
	 * set and net_opts says bridge; NULL: loopback only. */
	struct ctr_nethost *net;
	const struct ctr_net_opts *net_opts;
	/* Boot the VM and configure the guest, but start the main process
	 * only at ctr_release (an OCI runtime's create, then start). */
	bool hold;
};

int ctr_start(struct loop *l, const struct ctr_launch *o, const struct ctr_events *ev,
	      const struct ctr_proc_ops *main_ops, void *ud, struct ctr **out, struct err *err);
/* Start the main process of a container launched with hold: at once when
 * the guest is ready, else as soon as it is. -EALREADY when it was
 * released already or never held. */
int ctr_release(struct ctr *c);
/* A held container that is not to run after all: guest-init ends its
 * execs, syncs the disks and powers off (events.done follows). -EALREADY
 * once its main process was started: ctr_stop is for that. */
int ctr_power_off(struct ctr *c);
/* The main process (valid from ctr_start until ctr_free). */
struct ctr_proc *ctr_main(struct ctr *c);
/* Run another process in the running container; a tty one starts at
 * rows x cols (the caller's window: `exec -t` must not begin at another
 * size and change later), 0 meaning the container's current size. */
int ctr_exec(struct ctr *c, const struct ctr_spec *s, uint16_t rows, uint16_t cols, const struct ctr_proc_ops *ops,
	     void *ud, struct ctr_proc **out);
/* Forget a proc's callbacks (its owner is going away). */
void ctr_proc_detach(struct ctr_proc *p);
ssize_t ctr_stdin(struct ctr_proc *p, const void *data, size_t len);
int ctr_stdin_eof(struct ctr_proc *p);
/* Forward a signal; the guest must then answer a liveness probe within
 * a few seconds (ctr_probe) or the container ends as unresponsive. */
int ctr_signal(struct ctr_proc *p, int signo);
int ctr_resize(struct ctr_proc *p, uint16_t rows, uint16_t cols);
/* Output credit by hand: after ctr_manual_credit, the guest may send only
 * what ctr_credit granted back (the caller grants as its writes drain). */
void ctr_manual_credit(struct ctr *c);
int ctr_credit(struct ctr_proc *p, int chan, uint32_t bytes);
/* SIGTERM to the main process, then after grace_ms the VM is ended. */
void ctr_stop(struct ctr *c, unsigned grace_ms);
/* End the VM now (QMP quit, then SIGKILL). */
void ctr_kill_vm(struct ctr *c);
/* Ask guest-init for a sign of life now (a STATS request; events.alive
 * reports the answer). None within deadline_ms, or within the guest
 * timeout of the periodic probes (30 s, $UCRT_GUEST_TIMEOUT), ends the
 * container with 125 and an error naming the unresponsive guest and
 * QEMU's run state. -ESRCH before the guest is ready or after the end. */
int ctr_probe(struct ctr *c, unsigned deadline_ms);
/* Ask guest-init for its process list (events.top answers). -ESRCH
 * before the guest is ready or after the end. */
int ctr_request_top(struct ctr *c);
pid_t ctr_qemu_pid(const struct ctr *c);
bool ctr_process_started(const struct ctr *c);
/* Startup phases as one debug line ("image ready", "disk ready", ...). */
void ctr_log_timeline(const struct ctr *c);
/* ns from t0 to the main process start (0 when it never started). */
uint64_t ctr_start_latency(const struct ctr *c);
void ctr_free(struct ctr *c);

/* ---- output sinks (sink.c) ----------------------------------------------
 * A queue of bytes written to one fd through the reactor. Output credit
 * goes back to the guest only while the queue is short, so a slow reader
 * (a pipe, a terminal) slows the container instead of growing memory. */
struct ctr_sink_grant;
struct ctr_sink {
	struct loop *l;
	int fd;
	struct buf *q, *inflight;
	struct loop_op op;
	bool failed;			/* write error (EPIPE...): data is dropped */
	struct ctr_sink_grant *grants;
	size_t ngrants;
};
void ctr_sink_init(struct ctr_sink *s, struct loop *l, int fd);
void ctr_sink_write(struct ctr_sink *s, const void *data, size_t len);
/* Hand n bytes of credit back for p/chan now or once the queue drained. */
void ctr_sink_credit(struct ctr_sink *s, struct ctr_proc *p, int chan, uint32_t n);
/* Drop grants for p (its container is going away). */
void ctr_sink_forget(struct ctr_sink *s, struct ctr_proc *p);
bool ctr_sink_idle(const struct ctr_sink *s);
void ctr_sink_release(struct ctr_sink *s);

/* ---- a kept container's output (log.c) ----------------------------------
 * output.log: the bytes as written; output.idx: per chunk, when it came
 * and on which channel (format in log.c). */
struct ctr_log {
	struct ctr_sink data, idx;	/* credit for the output goes by data */
	uint64_t off;			/* output.log's size */
	bool open;
};
/* Open both for appending on l. -errno. */
int ctr_log_open(struct ctr_log *lg, struct loop *l, const char *root, const char *id);
/* A chunk of chan's output (PROTO_CHAN_STDOUT/STDERR), stamped now. */
void ctr_log_write(struct ctr_log *lg, int chan, const void *data, size_t len);
bool ctr_log_idle(const struct ctr_log *lg);
void ctr_log_close(struct ctr_log *lg);

/* Reading it back line by line (`ucrt logs`), each line with the time
 * and channel of the chunk its first byte came in (0 and stdout for
 * bytes no index record covers: logs from before the index existed). */
struct ctr_log_line {
	int64_t time_ns;		/* CLOCK_REALTIME, 0 unknown */
	int chan;
	uint64_t seq;			/* 1, 2, ... */
};
struct ctr_log_piece {
	const uint8_t *data;		/* valid until the next call */
	size_t len;
	bool start, end;		/* first piece of its line; ends with '\n' */
	const struct ctr_log_line *line;
};
struct ctr_log_reader;
int ctr_log_reader_open(const char *root, const char *id, struct ctr_log_reader **out);
/* The next piece of a line: 1, or 0 when there is nothing more now (a
 * follower tries again later), or -errno. all: also bytes the index
 * does not cover yet (the writer is gone); else stop where it ends. */
int ctr_log_next(struct ctr_log_reader *r, bool all, struct ctr_log_piece *pc);
void ctr_log_reader_free(struct ctr_log_reader *r);
/* --since/--until: RFC 3339 (zone optional: local), a date, Unix seconds
 * ("1700000000.5"), or a Go duration before now_ns ("10m", "1h30m",
 * "30s"). -EINVAL otherwise. */
int ctr_log_time_parse(const char *s, int64_t now_ns, int64_t *out_ns);
/* RFC 3339 in UTC with nanoseconds, docker's -t format. */
void ctr_log_time_format(int64_t ns, char *out, size_t cap);

/* ---- --parallel (parallel.c) --------------------------------------------*/

struct ctr_parallel_opts {
	const char *root;		/* the store root: records for ps (NULL: none) */
	unsigned n, max_concurrent;	/* max 0: ctr_parallel_default_max */
	const char *output_dir;		/* per-instance logs; NULL: prefixed lines */
	const struct ctr_config *cfg;	/* template (spec env gets the task vars) */
	const struct vm_host *host;
	uint64_t t0, t_image, t_disk;
	struct ctr_nethost *net;	/* as in ctr_launch: every instance */
	const struct ctr_net_opts *net_opts;
};

/* Runs all instances on l (returns when every one ended or was stopped by
 * SIGINT/SIGTERM), prints the summary on stderr. Returns the exit status:
 * 0 when all succeeded, 1 when an instance failed, 130/143 when
 * interrupted, 125 when none could start. */
int ctr_parallel_run(struct loop *l, const struct ctr_parallel_opts *o);

/* How many VMs of mem_mib each to run at once when the user does not say:
 * VMs started together beyond what the CPUs can boot only queue inside
 * the hypervisor (start latencies then measure the queue), and beyond the
 * host's available memory they swap or fail. 4 per CPU under TCG (a boot
 * is CPU-bound), 16 per CPU with KVM, and what fits in 80 % of the
 * available memory at the guest's size plus QEMU's own ~64 MiB; at least
 * 1, at most n. */
unsigned ctr_parallel_max(unsigned n, unsigned ncpu, uint64_t avail_mib, unsigned mem_mib, bool kvm);
/* The same for this host (CPUs online, MemAvailable). */
unsigned ctr_parallel_default_max(unsigned n, unsigned mem_mib, bool kvm);

/* Percentile (0..100) of sorted values, nearest rank. */
uint64_t ctr_percentile(const uint64_t *sorted, size_t n, unsigned pct);

/* ---- running --parallel instances, for ps (instances.c) -----------------
 * One record per running instance in the runtime dir (not under root:
 * nothing of it is data), written by the run once the instance's QEMU is
 * spawned and removed when its VM is gone. A record whose owner (pid and
 * start time) is dead is stale: readers skip it and, sweeping, delete it. */
#define CTR_LABEL_GROUP "ucrt.parallel.group"	/* the run's short id */
#define CTR_LABEL_INDEX "ucrt.parallel.index"	/* UCRT_TASK_INDEX */
#define CTR_LABEL_COUNT "ucrt.parallel.count"	/* UCRT_TASK_COUNT */
struct ctr_instance {
	char id[CTR_ID_LEN + 1];
	char *name;			/* "<--name or task>-<index>" */
	char *group;			/* CTR_SHORT_ID hex characters, one per run */
	unsigned index, count;
	char *image;
	char **argv;
	char **labels;			/* "K=V": the run's --label ones and CTR_LABEL_* */
	int64_t created;		/* unix seconds: its launch */
	pid_t owner;			/* the `ucrt run --parallel` */
	uint64_t owner_start;
};
/* <runtime dir>/instances/<hash of root's real path>: /run/ucrt as root,
 * else $XDG_RUNTIME_DIR/ucrt, else /tmp/ucrt-<uid> (malloc'ed). */
char *ctr_instances_dir(const char *root);
/* That directory's fd (made 0700 first with create), or -errno; -EPERM
 * when it or the runtime dir is not ours alone. */
int ctr_instances_open(const char *root, bool create);
void ctr_instance_new_id(char id[CTR_ID_LEN + 1]);
/* Replace in's record atomically (temp + rename, no fsync). -errno. */
int ctr_instance_write(int dfd, const struct ctr_instance *in);
void ctr_instance_remove(int dfd, const char *id);
void ctr_instance_free(struct ctr_instance *in);
void ctr_instances_free(struct ctr_instance *v, size_t n);
/* A stale record (in NULL: unreadable, or a write that died before its
 * rename), whose owner pid was owner (0 unknown); removed when swept. */
typedef void (*ctr_instance_stale_fn)(void *arg, const struct ctr_instance *in, const char *file,
				      pid_t owner, bool removed);
/* Every record of root's instances: live ones into *out (sorted by
 * launch, then run and index; out may be NULL), stale ones to stale (may
 * be NULL) and deleted when sweep. 0 also when there is no directory. */
int ctr_instances_scan(const char *root, bool sweep, ctr_instance_stale_fn stale, void *arg,
		       struct ctr_instance **out, size_t *n);
/* The live ones, stale records swept (what ps shows). */
int ctr_instances_list(const char *root, struct ctr_instance **out, size_t *n);

/* ---- stop and kill of one running instance (instance-ctl.c) ------------
 * The run serves these on "<group>-<pid>.sock" in the instances
 * directory; `ucrt stop`, `kill` and `rm -f` send them. */
#define CTR_IREQ_MAX 64			/* bytes of a request line */
enum ctr_ireq_op { CTR_IREQ_STOP, CTR_IREQ_KILL };
struct ctr_ireq {
	enum ctr_ireq_op op;
	unsigned index;			/* UCRT_TASK_INDEX */
	unsigned arg;			/* stop: grace seconds (<= 3600); kill: signal 1..64 */
};
/* The running instance whose name is what, or whose id starts with it
 * (*out freed with ctr_instance_free); -ENOENT when none. */
int ctr_instance_find(const char *root, const char *what, struct ctr_instance *out);
/* Send rq to in's run; 0 once it accepted and, with wait_ms, once the
 * instance's VM is gone (its record removed), -ETIMEDOUT after wait_ms.
 * err says why the run refused (no such running index...). */
int ctr_instance_request(const char *root, const struct ctr_instance *in, const struct ctr_ireq *rq,
			 unsigned wait_ms, struct err *err);

/* VM templates (template-use.c, docs/vm.md): from now on ctr_start
 * restores VMs from the template of their shape under the store root
 * when one exists, and has it built in the background when not ($UCRT_TEMPLATES=off
 * turns this off). NULL: cold boots only (the default). */
void ctr_templates_use(const char *root);

/* ---- detached (supervisor.c) -------------------------------------------*/

/* Double fork: the grandchild (setsid, stdio on /dev/null) re-executes
 * self_exe as `ucrt --root ROOT __supervise ID`, which owns the VM. The
 * caller waits until the container runs (or failed). */
int ctr_detach(const char *self_exe, const char *root, const char *id, struct err *err);
/* The supervisor's body (in the re-executed process). hold: boot the
 * VM, start the process when the first attach asks for it (start -a). */
int ctr_supervise(const char *root, const char *id, bool hold);

/* Client side of the supervisor's socket (ctl.sock in the container dir). */
int ctr_ctl_connect(const char *root, const char *id, struct err *err);
/* "stop SECS" / "kill SIG": returns 0 when the supervisor accepted. */
int ctr_ctl_simple(const char *root, const char *id, const char *cmd, struct err *err);

/* Exec through the supervisor: a blocking client for the CLI (a poll loop
 * on the terminal and the socket; the reactor is not needed here). Returns
 * the process's docker status or 125/126/127. */
int ctr_ctl_exec(const char *root, const char *id, const struct ctr_spec *s, struct err *err);

/* ---- stats and top of a detached container (ctl.c) ---------------------*/

/* The guest's counters as its supervisor last sampled them, with the
 * sample before (CPU % is over the interval between the two). */
struct ctr_usage {
	bool has_cpu;			/* the guest counts CPU time */
	uint64_t cpu_busy_ns, cpu_total_ns, prev_busy_ns, prev_total_ns;
	uint32_t ncpus;
	uint64_t mem_total, mem_available, blk_read, blk_write;
	uint32_t pids;
};
int ctr_ctl_stats(const char *root, const char *id, struct ctr_usage *u, struct err *err);
/* docker's CPU %: 100 per CPU busy; -1 when unknown. */
double ctr_usage_cpu_percent(const struct ctr_usage *u);

/* One guest process. */
struct ctr_ps {
	uint32_t pid, ppid, uid;
	char state;
	uint64_t cpu_ms, rss;
	char cmd[257];
};
/* The guest's processes (kernel threads and guest-init left out); *out
 * malloc'ed. trunc: the guest had more than one answer holds. */
int ctr_ctl_top(const char *root, const char *id, struct ctr_ps **out, size_t *n, bool *trunc,
		struct err *err);

/* ---- ucrt cp with a running detached container (cp.c) -----------------
 * The guest's side is guest-init as a tar tool (guest-init/tar.c), run as
 * an exec: container paths resolve inside the guest. docker's rule for
 * the destination: into it when it is a directory, else as its name. */
int ctr_cp_from(const char *root, const char *id, const char *cpath, const char *hostdst, struct err *err);
int ctr_cp_to(const char *root, const char *id, const char *hostsrc, const char *cpath, struct err *err);
/* From a stopped container: its overlay flattened (qemu-img) and unpacked
 * (libext2fs) in a scratch directory, the path resolved with that as the
 * root (openat2 RESOLVE_IN_ROOT), then copied out like ctr_cp_from. Holds
 * start.lock meanwhile. */
int ctr_cp_from_disk(const char *root, const char *id, const char *cpath, const char *hostdst, struct err *err);
/* Into a stopped container (cp-stopped.c): its VM boots on the overlay
 * with the main process held, the copy runs as for ctr_cp_to, guest-init
 * powers off (syncing the disk). Its state is left as it was; holds
 * start.lock meanwhile. */
int ctr_cp_to_stopped(const char *root, const char *id, const char *hostsrc, const char *cpath, struct err *err);

/* ---- lifecycle of kept containers (lifecycle.c, ctl.c) -----------------*/

/* Attach to a detached container's main process: its output from now on
 * (or from the start with release), the caller's stdin when stdin_open
 * (the container was created with -i), signals forwarded, the terminal
 * raw when tty. release: start the process of a container held by
 * ctr_start_detached. Blocks; returns the container's exit status, or
 * 125 with err filled. */
struct ctr_attach_opts {
	bool stdin_open, tty, release;
};
int ctr_ctl_attach(const char *root, const char *id, const struct ctr_attach_opts *o,
		   struct err *err);

/* Start a created or ended container in the background: a fresh
 * supervisor boots a fresh VM on its kept overlay disk. hold: the process
 * starts only when ctr_ctl_attach releases it (start -a loses no
 * output). Returns 0 when started, 1 when it already runs (nothing
 * done). Concurrent starts of one container are serialised by a lock. */
int ctr_start_detached(const char *self_exe, const char *root, const char *id, bool hold,
		       struct err *err);
/* docker stop: SIGTERM, the VM ended after secs; 0 also when it was not
 * running. A process that ignores SIGTERM ends as Exited (137): a
 * foreground `ucrt run` that owns it gets CTR_STOP_KILL_SIGNAL past the
 * grace and ends its VM so (SIGKILL only if it does not). */
#define CTR_STOP_KILL_SIGNAL SIGUSR2
int ctr_stop_wait(const char *root, const char *id, unsigned secs, struct err *err);
/* Block until the container is not running (a created one must first
 * run); its exit code, or -errno with err filled (e.g. removed before
 * its end could be read). */
int ctr_wait(const char *root, const char *id, struct err *err);

/* ---- restart policy and health check (restart.c, health.c) -------------
 * policy.json in the container directory holds both; the detached
 * supervisor applies them. docs/run.md. */

enum ctr_restart_mode { CTR_RESTART_NO, CTR_RESTART_ON_FAILURE, CTR_RESTART_ALWAYS,
			CTR_RESTART_UNLESS_STOPPED };
struct ctr_restart {
	enum ctr_restart_mode mode;
	unsigned max;			/* on-failure:N (0: no limit) */
};
/* --restart no|on-failure[:N]|always|unless-stopped */
int ctr_restart_parse(const char *s, struct ctr_restart *r, struct err *err);
/* The same text back ("on-failure:3"); len >= 32 always fits. */
void ctr_restart_format(const struct ctr_restart *r, char *buf, size_t len);
const char *ctr_restart_mode_name(enum ctr_restart_mode m);
/* Does a container that ended with status after count restarts start
 * again? Never when the user stopped it. */
bool ctr_restart_wanted(const struct ctr_restart *r, int status, unsigned count, bool user_stop);
/* docker's backoff: 100 ms, doubling per restart, at most
 * CTR_RESTART_MAX_DELAY_MS; a run of CTR_RESTART_RESET_MS or more starts
 * the doubling over. *step counts the doublings. */
#define CTR_RESTART_MAX_DELAY_MS 60000u
#define CTR_RESTART_RESET_MS 10000u
uint64_t ctr_restart_delay_ms(unsigned *step, uint64_t uptime_ms);
/* `ucrt start --all` (a host reboot): always, and unless-stopped unless
 * the user stopped it. */
bool ctr_restart_at_boot(const struct ctr_restart *r, bool user_stop);

/* A health check, resolved from the image's Healthcheck and the options. */
struct ctr_health_cfg {
	char **test;			/* the process to exec; NULL: no check */
	uint64_t interval_ms, timeout_ms, start_period_ms;
	unsigned retries;
};
#define CTR_HEALTH_DEFAULT_MS 30000u	/* interval and timeout */
#define CTR_HEALTH_DEFAULT_RETRIES 3u

/* --health-cmd, --health-interval, --health-timeout, --health-retries,
 * --health-start-period, --no-healthcheck */
enum ctr_health_opt { CTR_HEALTH_CMD, CTR_HEALTH_INTERVAL, CTR_HEALTH_TIMEOUT, CTR_HEALTH_RETRIES,
		      CTR_HEALTH_START_PERIOD, CTR_HEALTH_NONE };
struct ctr_health_opts {
	const char *cmd;		/* run as sh -c CMD */
	bool none;
	uint64_t interval_ms, timeout_ms, start_period_ms;	/* 0: unset */
	unsigned retries;		/* 0: unset */
};
/* One option, validated; err names it. */
int ctr_health_opt_set(struct ctr_health_opts *o, enum ctr_health_opt which, const char *value,
		       struct err *err);
/* Go's duration syntax as docker takes it: "30s", "1m30s", "500ms", "2h";
 * at least 1 ms, at most a day. */
int ctr_duration_parse(const char *s, uint64_t *ms);
struct oci_healthcheck;
/* The image's check with the options over it (docker's rules: each option
 * replaces one field; --no-healthcheck or Test ["NONE"] means none;
 * ["CMD-SHELL", c] runs /bin/sh -c c). */
int ctr_health_resolve(const struct oci_healthcheck *img, const struct ctr_health_opts *o,
		       struct ctr_health_cfg *out, struct err *err);
void ctr_health_cfg_free(struct ctr_health_cfg *h);

struct ctr_policy {
	struct ctr_restart restart;
	struct ctr_health_cfg health;
};
/* What the command line says. */
struct ctr_policy_opts {
	struct ctr_restart restart;
	struct ctr_health_opts health;
};
/* durable as for ctr_net_opts_write. */
int ctr_policy_write(const char *root, const char *id, const struct ctr_policy *p, bool durable,
		     struct err *err);
/* Absent file: no restart, no check. */
int ctr_policy_read(const char *root, const char *id, struct ctr_policy *p, struct err *err);
void ctr_policy_free(struct ctr_policy *p);

/* `ucrt start --all` (the boot unit): every ended container whose policy
 * brings it back at boot (ctr_restart_at_boot) is started detached;
 * report gets each one's name and error (code 0: started). Returns how
 * many failed, or -EIO when the containers cannot be listed. */
int ctr_start_all(const char *self_exe, const char *root,
		  void (*report)(const char *name, const struct err *e, void *ud), void *ud);

/* A detached container's health as the supervisor last wrote it
 * (health.json): "starting", "healthy", "unhealthy", or "" without a
 * check or while it does not run. */
void ctr_health_status(const char *root, const char *id, char *out, size_t len);
/* inspect's State.Health: {"Status", "FailingStreak", "Log": [{"Start",
 * "End", "ExitCode", "Output"}]} (the last 5 checks), or null. */
void ctr_health_inspect_json(struct json_writer *w, const char *root, const char *id);
/* The checks of one running container, on the supervisor's reactor:
 * every interval an exec of cfg->test through the agent, killed after
 * the timeout; results to health.json. */
struct ctr_health;
struct ctr_health *ctr_health_start(struct loop *l, struct ctr *c, const char *root,
				    const struct ctr_config *cfg, const struct ctr_health_cfg *hc);
void ctr_health_stop(struct ctr_health *h);

/* ---- OCI runtime-spec bundles (bundle.c, docs/oci-runtime.md) ----------*/

struct ctr_bundle {
	struct ctr_config cfg;		/* root_dir, spec, mounts (unresolved), hostname,
					 * cpus/mem_mib, read_only; id and name left to the caller */
	bool terminal;			/* process.terminal: a pty via --console-socket */
	char *netns;			/* linux.namespaces network path, or NULL */
	char *oci_version;
	char **annotations;		/* "key", "value" pairs, NULL-terminated */
	char **ignored;			/* settings accepted but not applied (for the log) */
};

/* config.json text of the bundle at dir (relative root.path and mount
 * sources resolve against dir) -> b. Fails on what ucrt cannot honour:
 * no process args, a relative cwd, a root that is neither a directory nor
 * a regular file (an ext4 image, attached as a snapshot: never written).
 * UCRT_TASK_* are derived from a scheduler's variables in process.env. */
int ctr_bundle_parse(const char *json, size_t len, const char *dir, struct ctr_bundle *b,
		     struct err *err);
/* For a read-only root directory: the mount points the guest could not
 * create, made in the root on the host as runc does (bundle-mnt.c). */
int ctr_bundle_mountpoints(const struct ctr_bundle *b, struct err *err);
/* Read and parse <dir>/config.json. */
int ctr_bundle_load(const char *dir, struct ctr_bundle *b, struct err *err);
void ctr_bundle_free(struct ctr_bundle *b);
/* The per-container process (bundle-run.c), in the child `create` forks:
 * b->cfg.id names <root>/containers/<id>/ (made by the caller, with
 * start.fifo in it). Keeps fds 0-2, writes state.json (owner: this
 * process), writes 'R' (or 'E' and the error) to ready_fd once start,
 * kill and exec can reach it, boots and runs on the fifo's first byte,
 * forwards signals, serves exec on ctl.sock (ctr_ctl_exec). Returns the
 * container's exit status, for the caller to exit with. */
struct ctr_bundle_run {
	const char *root;
	int ready_fd;			/* -1: nobody waits */
	/* The container's stdout and stderr (fd 2 may then be a log for
	 * ucrt's own messages, which must not mix into the container's). */
	int out_fd, err_fd;
	void (*error)(const char *msg, void *ud);	/* why it ended, if it failed */
	void *ud;
};
int ctr_bundle_run(const struct ctr_bundle_run *o, struct ctr_bundle *b);
/* Kata's tcfilter model (bundle-net.c): enter the network namespace at
 * netns (this whole process, so QEMU inherits it), make a tap there and
 * join it to the namespace's interface with tc redirect both ways; the
 * guest takes that interface's MAC, IPv4 addresses, default route and
 * MTU. Set cfg.bundle_net to the result before ctr_start; NULL (and 0)
 * when the namespace has only loopback (podman --network none). */
struct ctr_bundle_net;
int ctr_bundle_net_open(const char *netns, struct ctr_bundle_net **out, struct err *err);
void ctr_bundle_net_close(struct ctr_bundle_net *n);
/* UCRT_TASK_INDEX and UCRT_TASK_COUNT from a scheduler's variables when
 * env has no UCRT_TASK_INDEX (taskenv.c): a Slurm array task's
 * SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT,
 * else a Slurm step's SLURM_PROCID and SLURM_NTASKS (0 and 1 for a
 * one-task step without SLURM_PROCID, as Slurm 22.05 gives containers),
 * else a Kubernetes
 * Indexed Job's JOB_COMPLETION_INDEX (the count is the manifest's). */
void ctr_task_env_derive(char ***env);

/* Copy an ext4 image's whole tree into dir (created; must not exist or be
 * empty) with libext2fs, read-only: owners, modes, times, symlinks, hard
 * links and device nodes as in the image (disk-extract.c). */
int ctr_disk_extract(const char *disk, const char *dir, struct err *err);

/* An OCI bundle from an image (bundle-make.c, `ucrt bundle create`):
 * dir/config.json from the image config and the overrides, and
 * dir/rootfs: the image's tree unpacked (a directory, shared over 9p), or
 * with as_disk its ext4 disk itself (a hard link to the store's, else a
 * copy), which ucrt-oci attaches read-only. */
struct ctr_bundle_make {
	const char *dir;
	const struct ctr_spec *spec;	/* resolved: argv, env, cwd, uid/gid */
	const char *disk;		/* the image's disk */
	const char *image_ref, *image_id;
	bool as_disk;
	bool writable;			/* root.readonly false (directory only) */
	unsigned cpus, mem_mib;		/* 0: the runtime's default */
};
int ctr_bundle_make(const struct ctr_bundle_make *o, struct err *err);
/* config.json text of such a bundle (malloc'ed). */
char *ctr_bundle_config_json(const struct ctr_bundle_make *o);

/* ---- Kubernetes pods: one VM per pod (pod.c, docs/scale-out.md) ---------*/

#define CTR_POD_GUEST_DIR "/run/ucrt-pod"	/* the pod share in the guest */
enum ctr_pod_role { CTR_POD_NONE, CTR_POD_SANDBOX, CTR_POD_MEMBER };
/* From the CRI's annotations (containerd's io.kubernetes.cri.* or
 * CRI-O's): a pod's sandbox, or a container of the pod *sandbox names. */
enum ctr_pod_role ctr_pod_role(char *const *annotations, const char **sandbox);
/* <root>/pods/<sandbox>[/<id>] (malloc'ed). */
char *ctr_pod_dir(const char *root, const char *sandbox, const char *id);
/* /run/ucrt-pod/<id>/rootfs: where a container's root is in the guest. */
char *ctr_pod_guest_root(const char *id);
/* VM vCPUs and memory from containerd's sandbox-cpu-quota/period and
 * sandbox-memory annotations (the pod's resources), when present. */
void ctr_pod_size(struct ctr_bundle *b);
/* The sandbox: its pod directory, shared into the VM at CTR_POD_GUEST_DIR
 * (a mount appended to b), and the VM sized by ctr_pod_size. */
int ctr_pod_sandbox_prepare(const char *root, const char *id, struct ctr_bundle *b, struct err *err);
/* A container of a running sandbox: its root and mounts bind-mounted
 * below the pod directory on the host (b->cfg.mounts used as given, not
 * resolved); a marker in <root>/containers/<id>/ names the sandbox. */
int ctr_pod_member_prepare(const char *root, const char *id, const char *sandbox, struct ctr_bundle *b,
			   struct err *err);
/* Detach a container's mounts and remove its empty directories; for the
 * sandbox, every container's and the pod directory. Never recursive rm. */
void ctr_pod_member_teardown(const char *root, const char *sandbox, const char *id);
void ctr_pod_sandbox_teardown(const char *root, const char *id);
/* For exec: 1 and *target (the sandbox, malloc'ed) and *guest_root
 * (replaced) when id is a pod's container, else 0. */
int ctr_pod_exec_target(const char *root, const char *id, char **target, char **guest_root);
/* The per-container process of a pod's container (instead of
 * ctr_bundle_run): state.json, ready, waits for start.fifo, then runs the
 * process in the sandbox's VM over its ctl.sock with fds 0-2 as stdio and
 * returns its status. */
int ctr_pod_member_run(const struct ctr_bundle_run *o, struct ctr_bundle *b, const char *sandbox);

/* Signal by number ("9"), name ("KILL", "SIGKILL", case-insensitive) or
 * real-time ("RTMIN+3"); -EINVAL otherwise. */
int ctr_signal_parse(const char *s);

/* ---- network (netcfg.c) -------------------------------------------------
 * --network none|bridge, --ip, --dns, --network-policy. The options live
 * in network.json in the container directory (the detached supervisor
 * reads them back), with what the VM got (address, MAC, tap) once it
 * runs. docs/network.md. */

struct json_writer;

/* USER: user-mode networking (passt, else QEMU's slirp), no privilege
 * needed: the default without CAP_NET_ADMIN (docs/network.md). */
enum ctr_net_mode { CTR_NET_DEFAULT, CTR_NET_NONE, CTR_NET_BRIDGE, CTR_NET_USER };
enum ctr_net_opt { CTR_NET_OPT_MODE, CTR_NET_OPT_IP, CTR_NET_OPT_DNS, CTR_NET_OPT_POLICY,
		   CTR_NET_OPT_PUBLISH };

struct ctr_net_opts {
	enum ctr_net_mode mode;
	char *ip;			/* --ip; NULL: the lowest free address */
	char **dns;			/* --dns (at most 3); NULL: the host's */
	char *policy;			/* --network-policy; NULL: allow-all */
	char **ports;			/* -p, canonical (net_port_format); NULL: none */
};

const char *ctr_net_mode_name(enum ctr_net_mode m);
/* One command-line option, validated (err names the option). */
int ctr_net_opt_set(struct ctr_net_opts *o, enum ctr_net_opt which, const char *value,
		    struct err *err);
/* After parsing: the default mode ($UCRT_NETWORK, else bridge with
 * CAP_NET_ADMIN, else user), then refuse what cannot be (--ip with none
 * or user or with several instances, --network-policy without bridge). */
int ctr_net_opts_finish(struct ctr_net_opts *o, unsigned instances, struct err *err);
void ctr_net_opts_free(struct ctr_net_opts *o);

/* ---- published ports (ports.c) -------------------------------------------
 * -p and -P: DNAT rules in ucrt's nftables table and a reserving socket
 * per host port, held by the VM's owner (modules/net, docs/network.md). */

/* -P: every port of the image's ExposedPorts ("80/tcp") that no -p
 * publishes yet, on a free host port. Malformed entries are skipped
 * (logged). */
void ctr_ports_expose(struct ctr_net_opts *o, char *const *exposed);
/* Before a detached start: are the fixed host ports free now? */
int ctr_ports_check(const struct ctr_net_opts *o, struct err *err);
/* A container's published ports while it runs, one "80/tcp -> 0.0.0.0:8080"
 * line each (docker port's format); filter "80" or "80/udp" keeps one
 * port. Returns how many lines. */
int ctr_ports_describe(const char *root, const char *id, const char *filter, struct buf *out,
		       struct err *err);
/* ps's PORTS: "0.0.0.0:8080->80/tcp, 127.0.0.1:9090->80/tcp" (appended;
 * nothing while the container does not run). */
void ctr_ports_summary(const char *root, const char *id, struct buf *out);
/* inspect's "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}. */
void ctr_ports_inspect_json(struct json_writer *w, const char *root, const char *id);
/* durable: fsync'd (a kept container's); a --rm one's dies with its run. */
int ctr_net_opts_write(const char *root, const char *id, const struct ctr_net_opts *o, bool durable,
		       struct err *err);
/* The options back from network.json (none when the file is absent). */
int ctr_net_load(const char *root, const char *id, struct ctr_net_opts *o, struct err *err);

/* network.json as last written, and whether the VM still holds it. */
struct ctr_net_status {
	struct ctr_net_opts opts;	/* free with ctr_net_opts_free */
	char ip[16], gateway[16], mac[18], tap[16];
	unsigned prefix;
	bool live;			/* its lease on that tap is held by a live process */
};
int ctr_net_status_read(const char *root, const char *id, struct ctr_net_status *st,
			struct err *err);
/* The "network" value of `ucrt inspect` (with live counters). */
void ctr_net_inspect_json(struct json_writer *w, const char *root, const char *id);

/* The host side (bridge, NAT, crash leftovers collected): once per
 * process, before VMs start. Blocking setup (netlink, nftables). */
struct ctr_nethost;
int ctr_nethost_open(const char *root, struct ctr_nethost **out, struct err *err);
void ctr_nethost_close(struct ctr_nethost *h);

#endif
