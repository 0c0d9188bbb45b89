/* `ucrt run`: options, image and container setup, then one of three
 * ways to run: foreground (stdio bridged on the reactor), detached (a
 * supervisor process owns the VM) or --parallel N instances. The work is
 * in modules/container; this file is the terminal and the command line. */
#include "cli.h"
#include "host-info.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "container/container.h"
#include "err.h"
#include "log.h"
#include "loop.h"
#include "oci/oci.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

struct run_opts {
	bool create;			/* `ucrt create`: make it, do not start it */
	bool rm, detach, tty, interactive, quiet, tls_verify, pull_never, publish_all;
	const char *name, *workdir, *user, *entrypoint, *kernel, *accel, *rootfs, *hostname;
	bool entrypoint_set;
	char **env;
	char **labels;			/* --label KEY=VALUE */
	char **env_file;		/* --env-file lines: under every -e (docker) */
	unsigned cpus, mem_mib;
	unsigned parallel, max_concurrent;
	const char *output_dir;
	struct ctr_net_opts net;
	const char *image;
	char **cmd;
	struct ctr_mount *mounts;	/* -v, --mount, --tmpfs in order */
	size_t nmounts;
	bool read_only;
	bool no_template;
	struct oci_platform platform;	/* --platform; os NULL: the host's */
	struct ctr_policy_opts policy;	/* --restart, --health-*: policy.json */
};

static void run_usage(FILE *f, bool create)
{
	if (create)
		fprintf(f, "Usage: ucrt create [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
			"Create a container (image, disk, config) without starting it; print its id.\n"
			"`ucrt start` runs it. Options as for `ucrt run` (without -d and --parallel):\n\n");
	else
		fprintf(f, "Usage: ucrt run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
			"Run a command in a new container (its own microVM).\n\n");
	fprintf(f,
		"  --rm                 remove the container when it exits\n"
		"  -d, --detach         run in the background, print the container id\n"
		"  -i, --interactive    keep stdin open and stream it to the process\n"
		"  -t, --tty            allocate a terminal\n"
		"      --name NAME      container name\n"
		"  -l, --label K[=V]    set a label (ps --filter label=K, inspect)\n"
		"  -e, --env K[=V]      set an environment variable\n"
		"      --env-file FILE  read K=V lines\n"
		"  -w, --workdir DIR    working directory inside the container\n"
		"  -u, --user U[:G]     user (name or uid) and group\n"
		"      --entrypoint P   override the image's entrypoint\n"
		"      --hostname NAME  the guest's hostname (default: short id)\n"
		"      --cpus N         virtual CPUs (default 1)\n"
		"  -m, --memory SIZE    guest memory (default 256M)\n"
		"      --kernel PATH    guest kernel\n"
		"      --accel auto|kvm|tcg\n"
		"      --platform OS/ARCH[/VARIANT]  the image's platform (e.g. linux/arm64;\n"
		"                       a foreign one runs under qemu-user, see `ucrt info`)\n"
		"      --pull missing|never\n"
		"      --tls-verify=false  allow plain HTTP to a non-local registry\n"
		"      --rootfs DISK    run on an ext4 disk instead of an image (no image config)\n"
		"      --parallel N     run N instances (UCRT_TASK_INDEX=0..N-1, UCRT_TASK_COUNT=N)\n"
		"      --max-concurrent M  at most M of them at once\n"
		"      --output-dir DIR per-instance output files instead of prefixed lines\n"
		"      --network none|bridge|user  bridge: own address on the host bridge (default as\n"
		"                       root); user: passt or QEMU's slirp (default otherwise)\n"
		"                           or loopback only (default otherwise)\n"
		"      --ip ADDR        the container's address on the bridge\n"
		"      --dns ADDR       DNS server for the guest (repeatable; default: the host's)\n"
		"      --network-policy allow-all|deny-all|allow=CIDR[:PORT],...  egress filter\n"
		"  -p, --publish [IP:][HOSTPORT:]PORT[/tcp|udp]  publish a port on the host\n"
		"                       (no HOSTPORT: a free one; see `ucrt port`)\n"
		"  -P, --publish-all    publish every port the image EXPOSEs on free host ports\n"
		"  -v, --volume SRC:DST[:ro|rw]  share a host directory or file (SRC a path),\n"
		"                       or attach a named volume (SRC a name)\n"
		"      --mount type=bind|volume|disk|tmpfs,src=S,dst=D[,readonly]\n"
		"                       disk: an ext4 image, read-only by default\n"
		"      --tmpfs DST[:size=N,mode=M]  a tmpfs in the guest\n"
		"      --read-only      mount the root disk read-only (/tmp and /run stay tmpfs)\n"
		"      --no-template    boot the VM cold instead of restoring it from a VM\n"
		"                       template (UCRT_TEMPLATES=off: always)\n"
		"      --restart no|on-failure[:N]|always|unless-stopped  restart a detached\n"
		"                       container when it ends (docker's backoff)\n"
		"      --health-cmd CMD     check health with CMD (sh -c) in the container\n"
		"      --health-interval D  between checks (default 30s)\n"
		"      --health-timeout D   a check taking longer fails (default 30s)\n"
		"      --health-retries N   failures in a row that make it unhealthy (default 3)\n"
		"      --health-start-period D  failures then do not count (default 0s)\n"
		"      --no-healthcheck     ignore the image's HEALTHCHECK\n"
		"  -q, --quiet          no pull progress\n");
}

enum {
	O_RM = 256, O_NAME, O_ENVFILE, O_ENTRYPOINT, O_CPUS, O_KERNEL, O_ACCEL, O_PARALLEL, O_MAXC,
	O_OUTDIR, O_ROOTFS, O_PULL, O_TLS, O_HOSTNAME, O_MOUNT, O_TMPFS, O_READONLY, O_PLATFORM,
	O_NOTEMPLATE,
	/* in the order of enum ctr_net_opt */
	/* in the order of enum ctr_health_opt */
	O_HEALTH_CMD = 768, O_HEALTH_INTERVAL, O_HEALTH_TIMEOUT, O_HEALTH_RETRIES, O_HEALTH_START,
	O_NO_HEALTH, O_RESTART,
	O_NETWORK = 512, O_IP, O_DNS, O_NETPOLICY, O_PUBLISH,
};

static const struct option run_longopts[] = {
	{ "rm", no_argument, NULL, O_RM },
	{ "detach", no_argument, NULL, 'd' },
	{ "interactive", no_argument, NULL, 'i' },
	{ "tty", no_argument, NULL, 't' },
	{ "name", required_argument, NULL, O_NAME },
	{ "label", required_argument, NULL, 'l' },
	{ "env", required_argument, NULL, 'e' },
	{ "env-file", required_argument, NULL, O_ENVFILE },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "entrypoint", required_argument, NULL, O_ENTRYPOINT },
	{ "hostname", required_argument, NULL, O_HOSTNAME },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "memory", required_argument, NULL, 'm' },
	{ "kernel", required_argument, NULL, O_KERNEL },
	{ "accel", required_argument, NULL, O_ACCEL },
	{ "pull", required_argument, NULL, O_PULL },
	{ "platform", required_argument, NULL, O_PLATFORM },
	{ "tls-verify", required_argument, NULL, O_TLS },
	{ "rootfs", required_argument, NULL, O_ROOTFS },
	{ "parallel", required_argument, NULL, O_PARALLEL },
	{ "max-concurrent", required_argument, NULL, O_MAXC },
	{ "output-dir", required_argument, NULL, O_OUTDIR },
	{ "network", required_argument, NULL, O_NETWORK },
	{ "ip", required_argument, NULL, O_IP },
	{ "dns", required_argument, NULL, O_DNS },
	{ "network-policy", required_argument, NULL, O_NETPOLICY },
	{ "publish", required_argument, NULL, 'p' },
	{ "publish-all", no_argument, NULL, 'P' },
	{ "volume", required_argument, NULL, 'v' },
	{ "mount", required_argument, NULL, O_MOUNT },
	{ "tmpfs", required_argument, NULL, O_TMPFS },
	{ "read-only", no_argument, NULL, O_READONLY },
	{ "no-template", no_argument, NULL, O_NOTEMPLATE },
	{ "restart", required_argument, NULL, O_RESTART },
	{ "health-cmd", required_argument, NULL, O_HEALTH_CMD },
	{ "health-interval", required_argument, NULL, O_HEALTH_INTERVAL },
	{ "health-timeout", required_argument, NULL, O_HEALTH_TIMEOUT },
	{ "health-retries", required_argument, NULL, O_HEALTH_RETRIES },
	{ "health-start-period", required_argument, NULL, O_HEALTH_START },
	{ "no-healthcheck", no_argument, NULL, O_NO_HEALTH },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int run_parse_uint(const char *opt, const char *s, unsigned max, unsigned *out)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v == 0 || v > max) {
		cli_error("invalid %s '%s' (want 1..%u)", opt, s, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int run_parse_one(struct run_opts *o, int c, struct err *e)
{
	uint64_t v;

	switch (c) {
	case O_RM: o->rm = true; break;
	case 'd': o->detach = true; break;
	case 'i': o->interactive = true; break;
	case 't': o->tty = true; break;
	case 'q': o->quiet = true; break;
	case O_NAME: o->name = optarg; break;
	case 'w': o->workdir = optarg; break;
	case 'u': o->user = optarg; break;
	case O_HOSTNAME: o->hostname = optarg; break;
	case O_ENTRYPOINT: o->entrypoint = optarg; o->entrypoint_set = true; break;
	case O_KERNEL: o->kernel = optarg; break;
	case O_ROOTFS: o->rootfs = optarg; break;
	case O_OUTDIR: o->output_dir = optarg; break;
	case 'e':
		if (ctr_env_arg(&o->env, optarg, cli_getenv, e) < 0)
			goto bad;
		break;
	case 'l':
		if (ctr_label_arg(&o->labels, optarg, e) < 0)
			goto bad;
		break;
	case O_ENVFILE:
		if (ctr_env_file(&o->env_file, optarg, cli_getenv, e) < 0)
			goto bad;
		break;
	case O_CPUS: {
		/* docker takes fractions (--cpus 1.5): a VM needs whole CPUs. */
		char *end;
		double d = strtod(optarg, &end);
		if (*end || d <= 0 || d > 64) {
			cli_error("invalid --cpus '%s' (want 1..64)", optarg);
			return -EINVAL;
		}
		o->cpus = (unsigned)d + ((double)(unsigned)d < d);
		break;
	}
	case 'm':
		if (str_to_size(optarg, &v) < 0 || v < (64u << 20) || v > (1ull << 40)) {
			cli_error("invalid --memory '%s' (want a size from 64M, like 512M or 2G)", optarg);
			return -EINVAL;
		}
		o->mem_mib = (unsigned)(v >> 20);
		break;
	case O_ACCEL: {
		enum vm_accel a;
		if (vm_accel_parse(optarg, &a) < 0) {
			cli_error("invalid --accel '%s' (want auto, kvm or tcg)", optarg);
			return -EINVAL;
		}
		o->accel = optarg;
		break;
	}
	case O_PULL:
		if (strcmp(optarg, "missing") && strcmp(optarg, "never")) {
			cli_error("invalid --pull '%s' (want missing or never)", optarg);
			return -EINVAL;
		}
		o->pull_never = strcmp(optarg, "never") == 0;
		break;
	case O_TLS:
		o->tls_verify = strcmp(optarg, "false") != 0;
		break;
	case O_PARALLEL: return run_parse_uint("--parallel", optarg, 100000, &o->parallel);
	case O_MAXC: return run_parse_uint("--max-concurrent", optarg, 100000, &o->max_concurrent);
	case O_NETWORK: case O_IP: case O_DNS: case O_NETPOLICY: case 'p':
		if (ctr_net_opt_set(&o->net, (enum ctr_net_opt)((c == 'p' ? O_PUBLISH : c) - O_NETWORK),
				    optarg, e) < 0)
			goto bad;
		break;
	case 'P': o->publish_all = true; break;
	case 'v': case O_MOUNT: case O_TMPFS: {
		struct ctr_mount m;
		int r = c == 'v' ? ctr_mount_parse_v(optarg, &m, e)
			: c == O_MOUNT ? ctr_mount_parse(optarg, &m, e) : ctr_mount_parse_tmpfs(optarg, &m, e);
		if (r < 0)
			goto bad;
		o->mounts = xrealloc(o->mounts, (o->nmounts + 1) * sizeof(*o->mounts));
		o->mounts[o->nmounts++] = m;
		break;
	}
	case O_READONLY: o->read_only = true; break;
	case O_NOTEMPLATE: o->no_template = true; break;
	case O_RESTART:
		if (ctr_restart_parse(optarg, &o->policy.restart, e) < 0)
			goto bad;
		break;
	case O_HEALTH_CMD: case O_HEALTH_INTERVAL: case O_HEALTH_TIMEOUT: case O_HEALTH_RETRIES:
	case O_HEALTH_START: case O_NO_HEALTH:
		if (ctr_health_opt_set(&o->policy.health, (enum ctr_health_opt)(c - O_HEALTH_CMD),
				       optarg ? optarg : "", e) < 0)
			goto bad;
		break;
	case O_PLATFORM: {
		struct err pe = { 0 };
		oci_platform_free(&o->platform);
		if (oci_platform_parse(optarg, &o->platform, &pe) < 0) {
			cli_error("--platform: %s", err_msg(&pe));
			return -EINVAL;
		}
		break;
	}
	case 'h':
		run_usage(stdout, o->create);
		return 1;
	default:
		run_usage(stderr, o->create);
		return -EINVAL;
	}
	return 0;
bad:
	cli_error("%s", err_msg(e));
	return -EINVAL;
}

/* 0: parsed; 1: --help printed; < 0: error printed. */
static int run_parse(struct run_opts *o, int argc, char **argv)
{
	struct err e = { 0 };
	int c, r;

	o->tls_verify = true;
	/* '+': options end at the image; the command's own follow it. */
	while ((c = getopt_long(argc, argv, "+dite:w:u:m:qhv:l:p:P", run_longopts, NULL)) != -1) {
		r = run_parse_one(o, c, &e);
		if (r != 0)
			return r;
	}
	/* -e wins over --env-file whatever their order: the file's lines
	 * go first, later entries override earlier ones. */
	for (char **kv = o->env; kv && *kv; kv++)
		strv_push(&o->env_file, *kv);
	strv_free(o->env);
	o->env = TAKE_PTR(o->env_file);
	if (!o->rootfs) {
		if (optind >= argc) {
			cli_error("\"ucrt %s\" requires an image: ucrt %s [OPTIONS] IMAGE [COMMAND [ARG...]]",
				  o->create ? "create" : "run", o->create ? "create" : "run");
			return -EINVAL;
		}
		o->image = argv[optind++];
	}
	o->cmd = argv + optind;
	if (o->create && (o->parallel || o->detach)) {
		cli_error("\"ucrt create\" takes neither -d nor --parallel (`ucrt start` starts it detached)");
		return -EINVAL;
	}
	if (o->parallel && (o->detach || o->tty)) {
		cli_error("--parallel cannot be combined with -d or -t");
		return -EINVAL;
	}
	if (o->max_concurrent && !o->parallel) {
		cli_error("--max-concurrent needs --parallel");
		return -EINVAL;
	}
	if (o->output_dir && !o->parallel) {
		cli_error("--output-dir needs --parallel");
		return -EINVAL;
	}
	if (o->policy.restart.mode != CTR_RESTART_NO && ((!o->detach && !o->create) || o->rm || o->parallel)) {
		cli_error(o->rm ? "conflicting options: --restart and --rm" :
			  "--restart needs -d: the detached container's supervisor restarts it");
		return -EINVAL;
	}
	if (o->publish_all && o->net.mode == CTR_NET_NONE) {
		cli_error("-P needs --network bridge (and CAP_NET_ADMIN)");
		return -EINVAL;
	}
	if (ctr_net_opts_finish(&o->net, o->parallel ? o->parallel : 1, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return -EINVAL;
	}
	return 0;
}

static int run_host(struct cli_ctx *ctx, const struct run_opts *o, struct vm_host *h)
{
	_cleanup_free_ char *cache = xasprintf("%s/vm", ctx->root);
	struct vm_host_opts ho = { .kernel = o->kernel, .cache_dir = cache };
	struct err e = { 0 };
	int r;

	if (o->accel)
		vm_accel_parse(o->accel, &ho.accel);
	/* The store root first, private (mkdir -p would make it 0755). */
	if ((r = mkdir_p_at(AT_FDCWD, ctx->root, 0700)) < 0 || (r = mkdir_p_at(AT_FDCWD, cache, 0755)) < 0) {
		cli_error("creating %s: %s", cache, strerror(-r));
		return -EIO;
	}
	if (vm_host_probe(h, &ho, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return -EIO;
	}
	cli_accel_notice(ctx, h->accel_note);
	return 0;
}

/* The container's own settings; modules/container does the rest (image,
 * spec, mounts, container directory). */
static int run_prepare(struct cli_ctx *ctx, struct run_opts *o, struct ctr_image *img,
		       struct ctr_config *cfg)
{
	/* a pull run starts draws image pull's bars, on stderr */
	struct cli_progress pg;
	cli_progress_init(&pg, stderr, o->quiet);
	struct ctr_run_request rq = {
		.image = o->image, .rootfs = o->rootfs,
		.image_opts = { .pull_missing = !o->pull_never, .tls_verify = o->tls_verify,
				.quiet = o->quiet, .platform = o->platform.os ? &o->platform : NULL,
				.progress = cli_progress_event, .progress_arg = &pg },
		.ov = { .cmd = o->cmd, .entrypoint = o->entrypoint, .entrypoint_set = o->entrypoint_set,
			.env = o->env, .workdir = o->workdir, .user = o->user, .term = getenv("TERM") },
		.tty = o->tty, .interactive = o->interactive, .hostname = o->hostname,
		.instances = o->parallel > 0, .net = &o->net, .publish_all = o->publish_all,
		.policy = &o->policy,
	};
	struct err e = { 0 };
	int r;

	*cfg = (struct ctr_config){
		.name = o->name ? xstrdup(o->name) : NULL,
		.rm = o->rm,
		.detach = o->detach,
		.cpus = o->cpus,
		.mem_mib = o->mem_mib,
		.kernel = o->kernel ? xstrdup(o->kernel) : NULL,
		.accel = o->accel ? xstrdup(o->accel) : NULL,
		.read_only = o->read_only,
		.labels = TAKE_PTR(o->labels),
		.mounts = TAKE_PTR(o->mounts),
		.nmounts = o->nmounts,
	};
	o->nmounts = 0;
	r = ctr_run_prepare(cli_loop(), ctx->root, &rq, img, cfg, &e);
	cli_progress_end(&pg);
	if (r < 0)
		cli_error("%s", err_msg(&e));
	return r;
}

/* ---- foreground: stdio and signals bridged on the reactor ---- */

struct fg {
	struct loop *l;
	const char *root;
	const struct ctr_config *cfg;
	struct ctr_nethost *net;
	const struct ctr_net_opts *net_opts;
	struct ctr *c;
	struct ctr_proc *p;
	struct ctr_sink out, err;
	struct ctr_log log;
	bool have_log, done, stdin_eof, stdin_dead;
	int status, early_signal;
	unsigned nint;
	struct err e;
	struct ctr_state st;
	struct loop_op in_op;
	size_t in_len, in_off;
	char inbuf[PROTO_MAX_PAYLOAD];
	struct loop_signal sigs[6];
	unsigned nsigs;
};

static struct termios fg_saved_tio;
static bool fg_tio_saved;

static void fg_tty_restore(void)
{
	if (fg_tio_saved) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &fg_saved_tio);
		fg_tio_saved = false;
	}
}

static void fg_tty_raw(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &fg_saved_tio) < 0)
		return;
	fg_tio_saved = true;
	atexit(fg_tty_restore);
	t = fg_saved_tio;
	cfmakeraw(&t);
	tcsetattr(STDIN_FILENO, TCSADRAIN, &t);
}

static void fg_winsize(uint16_t *rows, uint16_t *cols)
{
	struct winsize ws = { 0 };

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
}

static void fg_stdin_read(struct fg *f);

static void fg_stdin_pump(struct fg *f)
{
	while (f->in_off < f->in_len) {
		ssize_t n = ctr_stdin(f->p, f->inbuf + f->in_off, f->in_len - f->in_off);
		if (n < 0) {
			f->stdin_dead = true;
			return;
		}
		if (n == 0)
			return;	/* out of credit: stdin_ready resumes */
		f->in_off += (size_t)n;
	}
	f->in_off = f->in_len = 0;
	if (f->stdin_eof) {
		ctr_stdin_eof(f->p);
		f->stdin_dead = true;
		return;
	}
	fg_stdin_read(f);
}

static void fg_stdin_done(struct loop_op *op, int res, uint32_t flags)
{
	struct fg *f = container_of(op, struct fg, in_op);

	if (f->done || f->stdin_dead || res == -ECANCELED)
		return;
	if (res <= 0)
		f->stdin_eof = true;
	else
		f->in_len = (size_t)res;
	fg_stdin_pump(f);
}

static void fg_stdin_read(struct fg *f)
{
	f->in_op.cb = fg_stdin_done;
	if (loop_read(f->l, &f->in_op, STDIN_FILENO, f->inbuf, sizeof(f->inbuf), (uint64_t)-1) < 0) {
		ctr_stdin_eof(f->p);
		f->stdin_dead = true;
	}
}

static void fg_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct fg *f = ud;

	/* state.json already names QEMU: fg_run wrote it right after
	 * ctr_start, which spawns the VM before returning. */
	if (err == 0 && f->cfg->spec.stdin_open)
		fg_stdin_read(f);
}

static void fg_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof, void *ud)
{
	struct fg *f = ud;
	struct ctr_sink *s = chan == PROTO_CHAN_STDERR ? &f->err : &f->out;

	ctr_sink_write(s, data, len);
	if (f->have_log)
		ctr_log_write(&f->log, chan, data, len);
	ctr_sink_credit(s, p, chan, (uint32_t)len);
}

static void fg_stdin_ready(struct ctr_proc *p, void *ud)
{
	struct fg *f = ud;

	if (!f->stdin_dead && f->in_off < f->in_len)
		fg_stdin_pump(f);
}

static void fg_done(struct ctr *c, int status, const struct err *err, void *ud)
{
	struct fg *f = ud;

	f->done = true;
	f->status = status;
	if (err && err->code)
		f->e = *err;
}

static const struct ctr_proc_ops fg_proc_ops = {
	.started = fg_started,
	.output = fg_output,
	.stdin_ready = fg_stdin_ready,
};

static void fg_signal(struct loop_signal *s, int signo)
{
	struct fg *f = s->data;

	if (signo == SIGWINCH) {
		uint16_t rows = 0, cols = 0;
		fg_winsize(&rows, &cols);
		if (rows && cols)
			ctr_resize(f->p, rows, cols);
		return;
	}
	/* `ucrt stop` past its grace (CTR_STOP_KILL_SIGNAL): end the VM as
	 * docker's stop does, Exited (137). */
	if (signo == CTR_STOP_KILL_SIGNAL) {
		ctr_kill_vm(f->c);
		return;
	}
	/* docker's sig-proxy: the signal goes to the container's process.
	 * Before it runs, or on the third Ctrl-C, the VM just ends. */
	if (signo == SIGINT)
		f->nint++;
	if (!ctr_process_started(f->c) || f->nint >= 3 || ctr_signal(f->p, signo) < 0) {
		if (!ctr_process_started(f->c))
			f->early_signal = signo;
		ctr_kill_vm(f->c);
	}
}

static void fg_watch_signals(struct fg *f, bool tty)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, CTR_STOP_KILL_SIGNAL };

	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		if (sigs[i] == SIGWINCH && !tty)
			continue;
		if (loop_signal_watch(f->l, &f->sigs[f->nsigs], sigs[i], fg_signal, f) == 0)
			f->nsigs++;
	}
}

static bool fg_finished(const struct fg *f)
{
	return f->done && ctr_sink_idle(&f->out) && ctr_sink_idle(&f->err) &&
	       (!f->have_log || ctr_log_idle(&f->log)) && !loop_op_active(&f->in_op);
}

static void fg_open_log(struct fg *f)
{
	f->have_log = ctr_log_open(&f->log, f->l, f->root, f->cfg->id) == 0;
}

static int fg_run(struct fg *f, const struct vm_host *h, const struct ctr_image *img, uint64_t t0)
{
	const struct ctr_config *cfg = f->cfg;
	_cleanup_free_ char *console = ctr_path(f->root, cfg->id, "console.log");
	struct ctr_launch lo = { .cfg = cfg, .host = h, .console_log = console, .t0 = t0,
				 .console_gone = cfg->rm,
				 .t_image = img->t_ready, .t_disk = img->t_disk,
				 .net = f->net, .net_opts = f->net_opts };
	struct ctr_events ev = { .done = fg_done };

	if (cfg->spec.tty)
		fg_winsize(&lo.rows, &lo.cols);
	ctr_sink_init(&f->out, f->l, STDOUT_FILENO);
	ctr_sink_init(&f->err, f->l, STDERR_FILENO);
	if (!cfg->rm)
		fg_open_log(f);
	f->st = (struct ctr_state){ .status = CTR_RUNNING, .owner = getpid(), .exit_code = -1,
				    .started = (int64_t)time(NULL) };
	f->st.owner_start = ctr_proc_start_time(f->st.owner);
	fg_watch_signals(f, cfg->spec.tty);
	if (ctr_start(f->l, &lo, &ev, &fg_proc_ops, f, &f->c, &f->e) < 0) {
		f->done = true;
		f->status = EXIT_RUNTIME;
		return -EIO;
	}
	f->p = ctr_main(f->c);
	ctr_manual_credit(f->c);
	f->st.qemu = ctr_qemu_pid(f->c);
	f->st.qemu_start = ctr_proc_start_time(f->st.qemu);
	ctr_state_write(f->root, cfg->id, &f->st);
	if (cfg->spec.tty && cfg->spec.stdin_open && isatty(STDIN_FILENO))
		fg_tty_raw();
	while (!fg_finished(f)) {
		if (f->done && loop_op_active(&f->in_op))
			loop_cancel(f->l, &f->in_op);
		if (loop_run_once(f->l, true) < 0)
			break;
	}
	return 0;
}

static int run_foreground(struct cli_ctx *ctx, const struct ctr_config *cfg, const struct vm_host *h,
			  const struct ctr_image *img, uint64_t t0, struct ctr_nethost *net,
			  const struct ctr_net_opts *net_opts)
{
	struct fg *f = xcalloc(1, sizeof(*f));
	int status;

	f->l = cli_loop();
	f->root = ctx->root;
	f->cfg = cfg;
	f->net = net;
	f->net_opts = net_opts;
	fg_run(f, h, img, t0);
	fg_tty_restore();
	for (unsigned i = 0; i < f->nsigs; i++)
		loop_signal_unwatch(f->l, &f->sigs[i]);
	status = f->status;
	if (f->early_signal && !f->e.code)
		status = 128 + f->early_signal;
	if (f->e.code && !f->early_signal)
		cli_error("%s", err_msg(&f->e));
	f->st.status = CTR_EXITED;
	f->st.exit_code = status;
	f->st.finished = (int64_t)time(NULL);
	if (f->e.code)
		snprintf(f->st.error, sizeof(f->st.error), "%s", err_msg(&f->e));
	if (f->c)
		ctr_free(f->c);
	/* Let the freed VM's last ops complete before the loop goes. */
	loop_drain(f->l);
	if (cfg->rm)
		ctr_remove(ctx->root, cfg->id, true, NULL);
	else
		ctr_state_write(ctx->root, cfg->id, &f->st);
	ctr_sink_release(&f->out);
	ctr_sink_release(&f->err);
	if (f->have_log)
		ctr_log_close(&f->log);
	free(f);
	return status;
}

int cmd_run(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run(ctx, argc, argv, false);
}

/* A created container: its state says so, and nobody owns it yet. */
static int run_create_only(struct cli_ctx *ctx, const struct ctr_config *cfg)
{
	struct ctr_state st = { .status = CTR_CREATED, .exit_code = -1 };
	int r = ctr_state_write(ctx->root, cfg->id, &st);

	if (r < 0) {
		cli_error("container %.12s: writing state.json: %s", cfg->id, strerror(-r));
		ctr_remove(ctx->root, cfg->id, true, NULL);
		return EXIT_RUNTIME;
	}
	printf("%s\n", cfg->id);
	return 0;
}

int cli_run(struct cli_ctx *ctx, int argc, char **argv, bool create)
{
	struct run_opts o = { .create = create };
	struct ctr_image img = { 0 };
	struct ctr_config cfg = { 0 };
	struct vm_host host = { 0 };
	struct ctr_nethost *nh = NULL;
	uint64_t t0 = loop_now_ns();
	struct err e = { 0 };
	int r, status = EXIT_RUNTIME;

	r = run_parse(&o, argc, argv);
	if (r != 0) {
		strv_free(o.env);
		strv_free(o.env_file);
		strv_free(o.labels);
		ctr_mounts_free(o.mounts, o.nmounts);
		oci_platform_free(&o.platform);
		ctr_net_opts_free(&o.net);
		return r > 0 ? 0 : EXIT_RUNTIME;
	}
	if (!o.create && o.tty && !isatty(STDIN_FILENO) && o.interactive) {
		cli_error("the input device is not a TTY");
		goto out;
	}
	if (!o.create && run_host(ctx, &o, &host) < 0)
		goto out;
	/* Once per process, before any VM (blocking netlink/nftables setup);
	 * a detached container's supervisor opens its own. */
	if (o.net.mode == CTR_NET_BRIDGE && !o.detach && !o.create &&
	    ctr_nethost_open(ctx->root, &nh, &e) < 0) {
		cli_error("%s", err_msg(&e));
		goto out;
	}
	/* A port already taken fails before anything is made (a detached
	 * container's supervisor binds them again for real). */
	if (o.net.ports && ctr_ports_check(&o.net, &e) < 0) {
		cli_error("%s", err_msg(&e));
		goto out;
	}
	if (run_prepare(ctx, &o, &img, &cfg) < 0)
		goto out;
	/* VM templates (docs/vm.md); a detached container's supervisor
	 * decides by the same variable, which it inherits. */
	if (o.no_template)
		setenv("UCRT_TEMPLATES", "off", 1);
	ctr_templates_use(o.no_template ? NULL : ctx->root);
	if (o.create) {
		status = run_create_only(ctx, &cfg);
	} else if (o.parallel) {
		struct ctr_parallel_opts po = {
			.root = ctx->root, .n = o.parallel, .max_concurrent = o.max_concurrent, .output_dir = o.output_dir,
			.cfg = &cfg, .host = &host, .t0 = t0, .t_image = img.t_ready, .t_disk = img.t_disk,
			.net = nh, .net_opts = &o.net,
		};
		status = ctr_parallel_run(cli_loop(), &po);
	} else if (o.detach) {
		/* The supervisor re-opens everything from config.json. */
		if (ctr_detach("/proc/self/exe", ctx->root, cfg.id, &e) < 0) {
			cli_error("%s", err_msg(&e));
			ctr_remove(ctx->root, cfg.id, true, NULL);
		} else {
			printf("%s\n", cfg.id);
			status = 0;
		}
	} else {
		status = run_foreground(ctx, &cfg, &host, &img, t0, nh, &o.net);
	}
out:
	ctr_config_free(&cfg);
	ctr_image_release(&img);
	vm_host_release(&host);
	ctr_nethost_close(nh);
	ctr_net_opts_free(&o.net);
	strv_free(o.env);
	strv_free(o.env_file);
	strv_free(o.labels);
	ctr_mounts_free(o.mounts, o.nmounts);
	oci_platform_free(&o.platform);
	return status;
}
