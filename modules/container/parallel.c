/* --parallel N: N instances of one container from this one reactor, at
 * most M at a time. Instance i gets UCRT_TASK_INDEX=i and
 * UCRT_TASK_COUNT=N; its output lines go to our stdout/stderr prefixed
 * with "[i] " (or whole to <output-dir>/task-<i>.log). The summary counts
 * successes and failures and gives start latency (launch -> process
 * started) and total duration (launch -> VM gone) percentiles. While an
 * instance's VM runs, a record of it (instances.c) lets `ucrt ps` list it
 * (name "<--name or task>-<i>", labels ucrt.parallel.group/index/count),
 * and the run's request socket (instance-ctl.c) lets `ucrt stop` and
 * `ucrt kill` reach it: that instance ends, failed with its status (143,
 * 137, or what its process made of the signal), the others go on. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "buf.h"
#include "container/container-internal.h"
#include "err.h"
#include "log.h"
#include "loop.h"
#include "str.h"
#include "util.h"
#include "vm/vm.h"

struct par;

struct par_inst {
	struct par *par;
	unsigned idx;
	struct ctr_config cfg;		/* shallow copy of the template, own env/name */
	struct ctr *c;
	struct ctr_proc *p;
	struct buf line[3];		/* partial output line per channel */
	struct ctr_sink file;
	bool have_file, launched, done, recorded;
	int status;
	char id[CTR_ID_LEN + 1];	/* of its record for ps */
	uint64_t t_launch, latency, duration;
	char error[256];
};

struct par {
	struct loop *l;
	const struct ctr_parallel_opts *o;
	struct par_inst *v;
	unsigned next, running, finished;
	struct ctr_sink out, err;
	int signo;
	struct loop_signal sigs[2];
	uint64_t t_begin;
	unsigned max;			/* instances at once */
	int rec_dfd;			/* the records' directory, -1: none kept */
	char group[CTR_ID_LEN + 1];	/* this run's id; labels carry its short form */
	pid_t self;
	uint64_t self_start;
	uint64_t rec_ns;		/* spent writing records (the debug log says) */
	unsigned recs;
	struct ctr_ictl *ictl;		/* stop/kill requests; NULL: none served */
};

uint64_t ctr_percentile(const uint64_t *sorted, size_t n, unsigned pct)
{
	if (!n)
		return 0;
	/* nearest rank: ceil(pct/100 * n), 1-based */
	size_t rank = ((size_t)pct * n + 99) / 100;
	return sorted[rank ? rank - 1 : 0];
}

static struct ctr_sink *par_sink(struct par_inst *in, int chan)
{
	if (in->have_file)
		return &in->file;
	return chan == PROTO_CHAN_STDERR ? &in->par->err : &in->par->out;
}

static void par_emit(struct par_inst *in, int chan, const char *data, size_t len)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "[%u] ", in->idx);
	buf_append(&b, data, len);
	ctr_sink_write(par_sink(in, chan), b.data, b.len);
	buf_free(&b);
}

static void par_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof,
		       void *ud)
{
	struct par_inst *in = ud;
	struct buf *lb = &in->line[chan == PROTO_CHAN_STDERR ? 2 : 1];

	if (in->have_file) {
		ctr_sink_write(&in->file, data, len);
	} else {
		/* Whole lines only, so instances never interleave mid-line. */
		buf_append(lb, data, len);
		char *nl;
		while (lb->len && (nl = memchr(lb->data, '\n', lb->len))) {
			size_t n = (size_t)(nl - lb->data) + 1;
			par_emit(in, chan, lb->data, n);
			buf_consume(lb, n);
		}
		if (eof && lb->len) {
			buf_putc(lb, '\n');
			par_emit(in, chan, lb->data, lb->len);
			buf_reset(lb);
		}
	}
	ctr_sink_credit(par_sink(in, chan), p, chan, (uint32_t)len);
}

static void par_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct par_inst *in = ud;

	in->latency = ctr_start_latency(in->c);
}

static const struct ctr_proc_ops par_proc_ops = {
	.started = par_started,
	.output = par_output,
};

static void par_launch_more(struct par *pr);

static void par_flush_lines(struct par_inst *in)
{
	for (int chan = 1; chan <= 2; chan++) {
		struct buf *lb = &in->line[chan];
		if (lb->len) {
			buf_putc(lb, '\n');
			par_emit(in, chan, lb->data, lb->len);
		}
		buf_free(lb);
	}
}

static void par_done(struct ctr *c, int status, const struct err *err, void *ud)
{
	struct par_inst *in = ud;
	struct par *pr = in->par;

	in->done = true;
	in->status = status;
	in->duration = loop_now_ns() - in->t_launch;
	if (err && err->code)
		snprintf(in->error, sizeof(in->error), "%s", err_msg(err));
	if (!in->have_file)
		par_flush_lines(in);
	if (in->recorded) {
		ctr_instance_remove(pr->rec_dfd, in->id);
		in->recorded = false;
	}
	ctr_sink_forget(&pr->out, in->p);
	ctr_sink_forget(&pr->err, in->p);
	if (in->have_file)
		ctr_sink_forget(&in->file, in->p);
	ctr_free(in->c);
	in->c = NULL;
	in->p = NULL;
	pr->running--;
	pr->finished++;
	par_launch_more(pr);
}

static void par_instance_config(struct par *pr, struct par_inst *in)
{
	const struct ctr_config *t = pr->o->cfg;
	char v[16];

	in->cfg = *t;
	in->cfg.name = xasprintf("%s-%u", t->name ? t->name : "task", in->idx);
	in->cfg.hostname = xasprintf("task-%u", in->idx);
	in->cfg.spec.env = strv_dup(t->spec.env);
	snprintf(v, sizeof(v), "%u", in->idx);
	ctr_env_set(&in->cfg.spec.env, "UCRT_TASK_INDEX", v);
	snprintf(v, sizeof(v), "%u", pr->o->n);
	ctr_env_set(&in->cfg.spec.env, "UCRT_TASK_COUNT", v);
	ctr_env_set(&in->cfg.spec.env, "HOSTNAME", in->cfg.hostname);
}

/* After the spawns of a batch (par_launch_more), so the record costs no
 * instance's start anything it waits for: a few hundred bytes, one create
 * and one rename (~0.1 ms). A run that cannot keep records still runs
 * (ps just does not list it). */
static void par_record(struct par *pr, struct par_inst *in)
{
	const struct ctr_config *t = pr->o->cfg;
	char v[64];

	if (pr->rec_dfd < 0 || in->done || in->recorded)
		return;
	uint64_t t0 = loop_now_ns();
	struct ctr_instance r = { .name = in->cfg.name, .group = xstrndup(pr->group, CTR_SHORT_ID),
				  .index = in->idx, .count = pr->o->n, .image = t->image, .argv = t->spec.argv,
				  .labels = strv_dup(t->labels), .created = (int64_t)time(NULL),
				  .owner = pr->self, .owner_start = pr->self_start };
	ctr_instance_new_id(in->id);
	memcpy(r.id, in->id, sizeof(r.id));
	snprintf(v, sizeof(v), CTR_LABEL_GROUP "=%s", r.group);
	strv_push(&r.labels, v);
	snprintf(v, sizeof(v), CTR_LABEL_INDEX "=%u", in->idx);
	strv_push(&r.labels, v);
	snprintf(v, sizeof(v), CTR_LABEL_COUNT "=%u", pr->o->n);
	strv_push(&r.labels, v);
	int e = ctr_instance_write(pr->rec_dfd, &r);
	if (e < 0)
		log_debug("parallel: record of instance %u for ps: %s", in->idx, strerror(-e));
	in->recorded = e == 0;
	free(r.group);
	strv_free(r.labels);
	pr->recs++;
	pr->rec_ns += loop_now_ns() - t0;
}

static void par_launch(struct par *pr, struct par_inst *in)
{
	_cleanup_free_ char *console = NULL;
	struct ctr_events ev = { .done = par_done };
	struct err e = { 0 };

	par_instance_config(pr, in);
	if (pr->o->output_dir) {
		_cleanup_free_ char *path = xasprintf("%s/task-%u.log", pr->o->output_dir, in->idx);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ctr_sink_init(&in->file, pr->l, fd);
			in->have_file = true;
		} else {
			log_warn("%s: %s (output goes to the terminal)", path, strerror(errno));
		}
		console = xasprintf("%s/task-%u.console.log", pr->o->output_dir, in->idx);
	}
	struct ctr_launch lo = { .cfg = &in->cfg, .host = pr->o->host, .console_log = console,
				 .t_image = pr->o->t_image, .t_disk = pr->o->t_disk,
				 .net = pr->o->net, .net_opts = pr->o->net_opts };
	in->launched = true;
	in->t_launch = lo.t0 = loop_now_ns();
	pr->running++;
	if (ctr_start(pr->l, &lo, &ev, &par_proc_ops, in, &in->c, &e) < 0) {
		in->done = true;
		in->status = 125;
		snprintf(in->error, sizeof(in->error), "%s", err_msg(&e));
		pr->running--;
		pr->finished++;
		return;
	}
	in->p = ctr_main(in->c);
	ctr_manual_credit(in->c);
}

unsigned ctr_parallel_max(unsigned n, unsigned ncpu, uint64_t avail_mib, unsigned mem_mib, bool kvm)
{
	uint64_t by_cpu = (uint64_t)(ncpu ? ncpu : 1) * (kvm ? 16 : 4);
	uint64_t per_vm = (uint64_t)(mem_mib ? mem_mib : 256) + 64;
	uint64_t by_mem = avail_mib * 8 / 10 / per_vm;
	uint64_t m = MIN(MIN((uint64_t)n, by_cpu), by_mem);

	return m ? (unsigned)m : 1;
}

unsigned ctr_parallel_default_max(unsigned n, unsigned mem_mib, bool kvm)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t avail_kib = 0;
	char *text = NULL, *p;
	size_t len;

	if (read_file_at(AT_FDCWD, "/proc/meminfo", 1 << 16, &text, &len) == 0 &&
	    (p = strstr(text, "MemAvailable:")))
		avail_kib = strtoull(p + 13, NULL, 10);
	free(text);
	/* Without /proc/meminfo: assume room for all, the CPUs still bound it. */
	return ctr_parallel_max(n, ncpu > 0 ? (unsigned)ncpu : 1, avail_kib ? avail_kib / 1024 : UINT64_MAX / 16,
				mem_mib, kvm);
}

static void par_launch_more(struct par *pr)
{
	unsigned max = pr->max, first = pr->next;

	while (!pr->signo && pr->next < pr->o->n && pr->running < max)
		par_launch(pr, &pr->v[pr->next++]);
	for (unsigned i = first; i < pr->next; i++)
		if (pr->v[i].c)
			par_record(pr, &pr->v[i]);
}

static void par_signal(struct loop_signal *s, int signo)
{
	struct par *pr = s->data;

	if (!pr->signo)
		fprintf(stderr, "ucrt: %s: stopping %u running instance(s)\n", strsignal(signo), pr->running);
	pr->signo = signo;
	for (unsigned i = 0; i < pr->next; i++) {
		if (pr->v[i].c && !pr->v[i].done)
			ctr_kill_vm(pr->v[i].c);
	}
}

/* `ucrt stop` / `ucrt kill` of instance rq->index (instance-ctl.c). */
static int par_request(void *ud, const struct ctr_ireq *rq, char *why, size_t cap)
{
	struct par *pr = ud;
	struct par_inst *in = rq->index < pr->o->n ? &pr->v[rq->index] : NULL;

	if (!in || !in->c || in->done) {
		snprintf(why, cap, "no running instance %u in this run", rq->index);
		return -ESRCH;
	}
	log_debug("parallel: %s %u %u requested", rq->op == CTR_IREQ_STOP ? "stop" : "kill", rq->index,
		  rq->arg);
	if (rq->op == CTR_IREQ_STOP)
		ctr_stop(in->c, rq->arg * 1000u);
	else if (rq->arg == SIGKILL || ctr_signal(in->p, (int)rq->arg) < 0)
		/* SIGKILL ends the VM as docker kill does (137); a signal
		 * the guest cannot take yet (booting) ends it too. */
		ctr_kill_vm(in->c);
	return 0;
}

static int par_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void par_print_dist(const char *what, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), par_cmp);
	if (!n) {
		fprintf(stderr, "  %-15s (none)\n", what);
		return;
	}
	fprintf(stderr, "  %-15s p50 %.3fs  p90 %.3fs  p99 %.3fs  max %.3fs\n", what,
		(double)ctr_percentile(v, n, 50) / 1e9, (double)ctr_percentile(v, n, 90) / 1e9,
		(double)ctr_percentile(v, n, 99) / 1e9, (double)v[n - 1] / 1e9);
}

static int par_summary(struct par *pr)
{
	unsigned n = pr->o->n, ok = 0, failed = 0, notrun = 0;
	uint64_t *lat = xcalloc(n, sizeof(uint64_t)), *dur = xcalloc(n, sizeof(uint64_t));
	size_t nl = 0, nd = 0;
	double wall = (double)(loop_now_ns() - pr->t_begin) / 1e9;

	for (unsigned i = 0; i < n; i++) {
		struct par_inst *in = &pr->v[i];
		if (!in->launched) {
			notrun++;
			continue;
		}
		if (in->status == 0)
			ok++;
		else
			failed++;
		if (in->latency)
			lat[nl++] = in->latency;
		dur[nd++] = in->duration;
	}
	fprintf(stderr, "parallel: %u instance(s): %u succeeded, %u failed", n, ok, failed);
	if (notrun)
		fprintf(stderr, ", %u not run", notrun);
	fprintf(stderr, " in %.2fs (%.2f containers/s)\n", wall, wall > 0 ? (double)(ok + failed) / wall : 0);
	for (unsigned i = 0; i < n; i++) {
		struct par_inst *in = &pr->v[i];
		if (in->launched && in->status != 0)
			fprintf(stderr, "  [%u] exit %d%s%s\n", i, in->status, in->error[0] ? ": " : "",
				in->error);
	}
	par_print_dist("start latency", lat, nl);
	par_print_dist("total duration", dur, nd);
	free(lat);
	free(dur);
	if (pr->signo)
		return 128 + pr->signo;
	if (failed || notrun)
		return ok == 0 && failed == n ? (pr->v[0].status == 125 ? 125 : 1) : 1;
	return 0;
}

static bool par_finished(struct par *pr)
{
	if (pr->finished < pr->next || (!pr->signo && pr->next < pr->o->n))
		return false;
	if (!ctr_sink_idle(&pr->out) || !ctr_sink_idle(&pr->err))
		return false;
	for (unsigned i = 0; i < pr->next; i++) {
		if (pr->v[i].have_file && !ctr_sink_idle(&pr->v[i].file))
			return false;
	}
	return true;
}

int ctr_parallel_run(struct loop *l, const struct ctr_parallel_opts *o)
{
	struct par pr = { .l = l, .o = o, .t_begin = loop_now_ns(), .rec_dfd = -1 };
	int status;

	if (o->output_dir && mkdir_p_at(AT_FDCWD, o->output_dir, 0755) < 0) {
		fprintf(stderr, "ucrt: creating %s: %s\n", o->output_dir, strerror(errno));
		return 125;
	}
	pr.max = o->max_concurrent;
	if (!pr.max) {
		pr.max = ctr_parallel_default_max(o->n, o->cfg->mem_mib, o->host && o->host->accel == VM_ACCEL_KVM);
		if (pr.max < o->n)
			log_info("parallel: at most %u instances at once on this host (--max-concurrent sets it)",
				 pr.max);
	}
	if (o->root) {
		pr.rec_dfd = ctr_instances_open(o->root, true);
		if (pr.rec_dfd < 0) {
			_cleanup_free_ char *dir = ctr_instances_dir(o->root);
			log_debug("parallel: no records for ps in %s: %s", dir, strerror(-pr.rec_dfd));
		}
		pr.self = getpid();
		pr.self_start = ctr_proc_start_time(pr.self);
		ctr_instance_new_id(pr.group);
	}
	/* Before the first record: an instance ps lists can be stopped. */
	if (pr.rec_dfd >= 0) {
		int r = ctr_ictl_open(l, pr.rec_dfd, pr.group, par_request, &pr, &pr.ictl);
		if (r < 0)
			log_debug("parallel: no socket for stop/kill: %s", strerror(-r));
	}
	pr.v = xcalloc(o->n, sizeof(*pr.v));
	for (unsigned i = 0; i < o->n; i++)
		pr.v[i] = (struct par_inst){ .par = &pr, .idx = i };
	ctr_sink_init(&pr.out, l, STDOUT_FILENO);
	ctr_sink_init(&pr.err, l, STDERR_FILENO);
	loop_signal_watch(l, &pr.sigs[0], SIGINT, par_signal, &pr);
	loop_signal_watch(l, &pr.sigs[1], SIGTERM, par_signal, &pr);
	par_launch_more(&pr);
	while (!par_finished(&pr)) {
		if (loop_run_once(l, true) < 0)
			break;
	}
	loop_signal_unwatch(l, &pr.sigs[0]);
	loop_signal_unwatch(l, &pr.sigs[1]);
	ctr_ictl_close(pr.ictl);	/* freed by loop_drain below */
	status = par_summary(&pr);
	if (pr.recs)
		log_debug("parallel: %u records for ps written in %.3f ms", pr.recs, (double)pr.rec_ns / 1e6);
	loop_drain(l);
	for (unsigned i = 0; i < o->n; i++) {
		struct par_inst *in = &pr.v[i];
		if (in->have_file) {
			close(in->file.fd);
			ctr_sink_release(&in->file);
		}
		if (in->recorded)
			ctr_instance_remove(pr.rec_dfd, in->id);
		if (in->launched) {
			free(in->cfg.name);
			free(in->cfg.hostname);
			strv_free(in->cfg.spec.env);
		}
	}
	ctr_sink_release(&pr.out);
	ctr_sink_release(&pr.err);
	if (pr.rec_dfd >= 0)
		close(pr.rec_dfd);
	free(pr.v);
	return status;
}
