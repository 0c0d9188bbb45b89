/* `ucrt vm boot`: boot microVMs to guest-init's first frame, then quit them
 * over QMP, and print the timeline. A diagnosis tool (which kernel, which
 * accelerator, where the time goes) and the measuring end of bench/boot.sh. */
#include "cli.h"

#include "agent/agent.h"
#include "err.h"
#include "log.h"
#include "loop.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define VMB_LIMIT_S 300u	/* a guest that never says hello */

struct vmb {
	struct loop *l;
	struct vm_host host;
	struct vm_config cfg;
	struct vm *vm;
	struct agent *ag;
	struct loop_timer limit;	/* a guest that never says hello */
	unsigned count, done;
	double *hello_ms, *exit_ms;
	int status;
};

static void vmb_usage(FILE *f)
{
	fprintf(f, "Usage: ucrt vm boot [--kernel PATH] [--accel auto|kvm|tcg] [--disk IMG.ext4]\n"
		   "           [--count N] [--cpus N] [--memory MIB] [--cmdline ARGS] [--console FILE]\n"
		   "Boot microVMs until guest-init says hello, quit them over QMP and print\n"
		   "hello_ms (QEMU spawned -> first frame from guest-init) and exit_ms.\n");
}

static int vmb_next(struct vmb *b);

static void vmb_ready(struct agent *a, const struct agent_hello *h, void *ud)
{
	struct vmb *b = ud;

	vm_stamp(b->vm, VM_T_AGENT);
	loop_timer_stop(b->l, &b->limit);
	log_debug("vm boot: guest kernel %s", h->kernel);
	vm_quit(b->vm, 2000);
}

static void vmb_closed(struct agent *a, int err, const char *msg, void *ud)
{
	if (err)
		log_debug("vm boot: agent: %s", msg ? msg : strerror(-err));
}

static const struct agent_ops vmb_agent_ops = { .ready = vmb_ready, .closed = vmb_closed };

static void vmb_timeout(struct loop_timer *t)
{
	struct vmb *b = t->data;

	if (b->vm)
		vm_quit(b->vm, 2000);
}

static double vmb_ms(struct vm *vm, enum vm_phase p)
{
	uint64_t t = vm_time(vm, p), s = vm_time(vm, VM_T_SPAWNED);
	return t && s ? (double)(t - s) / 1e6 : -1;
}

static void vmb_agent(struct vm *vm, int fd, const struct err *e, void *data)
{
	struct vmb *b = data;

	if (fd < 0) {
		cli_error("boot %u: %s", b->done + 1, e ? e->msg : strerror(-fd));
		b->status = EXIT_RUNTIME;
		vm_quit(vm, 2000);
		return;
	}
	agent_new(&b->ag, b->l, fd, &vmb_agent_ops, b);
}

static void vmb_exited(struct vm *vm, int wstatus, void *data)
{
	struct vmb *b = data;
	double hello = vmb_ms(vm, VM_T_AGENT), ex = vmb_ms(vm, VM_T_EXITED);

	printf("boot %u: hello_ms=%.1f exit_ms=%.1f qmp_ms=%.1f\n", b->done + 1, hello, ex,
	       vmb_ms(vm, VM_T_QMP));
	fflush(stdout);
	if (hello < 0 && !b->status) {
		cli_error("boot %u: guest-init never said hello%s%s", b->done + 1,
			  vm_qemu_stderr(vm)[0] ? "; qemu: " : "", vm_qemu_stderr(vm));
		b->status = EXIT_RUNTIME;
	}
	b->hello_ms[b->done] = hello;
	b->exit_ms[b->done] = ex;
	b->done++;
	loop_timer_stop(b->l, &b->limit);
	agent_free(b->ag);
	b->ag = NULL;
	vm_free(vm);
	b->vm = NULL;
	if (b->done == b->count || b->status || vmb_next(b) < 0)
		loop_stop(b->l);
}

static int vmb_next(struct vmb *b)
{
	struct vm_events ev = { .exited = vmb_exited, .agent = vmb_agent };
	struct err e = { 0 };
	int r;

	r = vm_start(b->l, &b->host, &b->cfg, &ev, b, &b->vm, &e);
	if (r < 0) {
		cli_error("%s", err_msg(&e));
		b->status = EXIT_RUNTIME;
		return r;
	}
	loop_timer_start(b->l, &b->limit, VMB_LIMIT_S * 1000000000ull);
	return 0;
}

static int vmb_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int vmb_parse(int argc, char **argv, struct vm_host_opts *o, struct vmb *b)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "accel", required_argument, NULL, 'a' },
		{ "disk", required_argument, NULL, 'd' },   { "count", required_argument, NULL, 'n' },
		{ "cpus", required_argument, NULL, 'c' },   { "memory", required_argument, NULL, 'm' },
		{ "cmdline", required_argument, NULL, 'x' }, { "console", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'a':
			if (vm_accel_parse(optarg, &o->accel) < 0) {
				cli_error("--accel: want auto, kvm or tcg, not '%s'", optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			b->cfg.disks[0] = (struct vm_disk){ .path = optarg, .readonly = true };
			b->cfg.ndisks = 1;
			break;
		case 'n': case 'c': case 'm':
			if (str_to_u64(optarg, &v) < 0 || v == 0 || v > 65536) {
				cli_error("invalid number '%s'", optarg);
				return -EINVAL;
			}
			*(c == 'n' ? &b->count : c == 'c' ? &b->cfg.cpus : &b->cfg.mem_mib) = (unsigned)v;
			break;
		case 'x': b->cfg.cmdline = optarg; break;
		case 'C': b->cfg.console_log = optarg; break;
		case 'h': vmb_usage(stdout); return 1;
		default: vmb_usage(stderr); return -EINVAL;
		}
	}
	if (optind != argc) {
		vmb_usage(stderr);
		return -EINVAL;
	}
	return 0;
}

int cmd_vm_boot(struct cli_ctx *ctx, int argc, char **argv)
{
	struct vmb b = {
		.count = 1,
		.cfg = { .name = "boot", .agent = true, .agent_timeout_ms = VMB_LIMIT_S * 1000u },
	};
	struct vm_host_opts o = { 0 };
	_cleanup_free_ char *cache = xasprintf("%s/vm", ctx->root);
	struct err e = { 0 };
	int r;

	r = vmb_parse(argc, argv, &o, &b);
	if (r != 0)
		return r > 0 ? 0 : EXIT_RUNTIME;
	o.cache_dir = cache;
	if (vm_host_probe(&b.host, &o, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if (b.host.accel_note[0])
		log_info("%s", b.host.accel_note);
	printf("kernel=%s accel=%s transport=%s\n", b.host.kernel.path, vm_accel_name(b.host.accel),
	       vm_transport_name(b.host.transport));
	b.l = cli_loop();
	loop_timer_init(&b.limit, vmb_timeout, &b);
	b.hello_ms = xcalloc(b.count, sizeof(double));
	b.exit_ms = xcalloc(b.count, sizeof(double));
	if (vmb_next(&b) == 0)
		loop_run(b.l);
	if (b.done == b.count && b.count > 1 && !b.status) {
		qsort(b.hello_ms, b.count, sizeof(double), vmb_cmp);
		qsort(b.exit_ms, b.count, sizeof(double), vmb_cmp);
		printf("median: hello_ms=%.1f exit_ms=%.1f (%u boots)\n", b.hello_ms[b.count / 2],
		       b.exit_ms[b.count / 2], b.count);
	}
	free(b.hello_ms);
	free(b.exit_ms);
	vm_host_release(&b.host);
	return b.status;
}
