/* Health checks: the options and the image's Healthcheck resolved into one
 * check (kept in policy.json, restart.c), and the checks themselves, run
 * by a detached container's supervisor on its reactor: every interval the
 * test is exec'ed in the guest through the agent (as `ucrt exec` would),
 * killed after the timeout, and the verdict written to health.json in
 * docker's shape (Status, FailingStreak, Log of the last 5), where ps and
 * inspect read it. docs/run.md. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "container-internal.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "oci/oci.h"
#include "str.h"
#include "util.h"

#define CTR_HEALTH_FILE "health.json"
#define CTR_HEALTH_LOG 5		/* docker keeps the last 5 results */
#define CTR_HEALTH_OUTPUT 4096		/* bytes of output kept per check */
#define CTR_DURATION_MAX_MS 86400000ull

/* ---- options ---- */

int ctr_duration_parse(const char *s, uint64_t *ms)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	uint64_t total = 0;
	const char *p = s;

	if (!*p)
		return -EINVAL;
	while (*p) {
		uint64_t v = 0, frac = 0, fdiv = 1;
		size_t best = SIZE_MAX, blen = 0;
		bool digits = false;

		for (; *p >= '0' && *p <= '9'; p++, digits = true) {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > CTR_DURATION_MAX_MS * 1000)
				return -ERANGE;
		}
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
				if (fdiv < 1000000) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					fdiv *= 10;
				}
			}
		}
		if (!digits)
			return -EINVAL;
		/* The longest unit that matches ("ms" before "m"). */
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t n = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, n) == 0 && n > blen) {
				best = i;
				blen = n;
			}
		}
		if (best == SIZE_MAX)
			return -EINVAL;
		p += blen;
		total += v * units[best].ms + frac * units[best].ms / fdiv;
		if (total > CTR_DURATION_MAX_MS)
			return -ERANGE;
	}
	if (total == 0)
		return -EINVAL;
	*ms = total;
	return 0;
}

int ctr_health_opt_set(struct ctr_health_opts *o, enum ctr_health_opt which, const char *value,
		       struct err *err)
{
	static const char *const names[] = { "--health-cmd", "--health-interval", "--health-timeout",
		"--health-retries", "--health-start-period", "--no-healthcheck" };
	uint64_t v;

	switch (which) {
	case CTR_HEALTH_CMD:
		if (!value[0])
			return err_set(err, EINVAL, "--health-cmd: empty command");
		o->cmd = value;
		return 0;
	case CTR_HEALTH_NONE:
		o->none = true;
		return 0;
	case CTR_HEALTH_RETRIES:
		if (str_to_u64(value, &v) < 0 || v == 0 || v > 1000000)
			return err_set(err, EINVAL, "invalid --health-retries '%.40s' (want 1..1000000)", value);
		o->retries = (unsigned)v;
		return 0;
	case CTR_HEALTH_INTERVAL:
	case CTR_HEALTH_TIMEOUT:
	case CTR_HEALTH_START_PERIOD:
		if (ctr_duration_parse(value, &v) < 0)
			return err_set(err, EINVAL, "invalid %s '%.40s' (want a duration like 30s, 1m30s, 500ms)",
				       names[which], value);
		*(which == CTR_HEALTH_INTERVAL ? &o->interval_ms :
		  which == CTR_HEALTH_TIMEOUT ? &o->timeout_ms : &o->start_period_ms) = v;
		return 0;
	}
	return -EINVAL;
}

void ctr_health_cfg_free(struct ctr_health_cfg *h)
{
	strv_free(h->test);
	memset(h, 0, sizeof(*h));
}

static uint64_t ctr_ns_ms(int64_t ns)
{
	return ns > 0 ? MIN((uint64_t)ns / 1000000u, CTR_DURATION_MAX_MS) : 0;
}

int ctr_health_resolve(const struct oci_healthcheck *img, const struct ctr_health_opts *o,
		       struct ctr_health_cfg *out, struct err *err)
{
	char *const *t = img ? img->test : NULL;

	memset(out, 0, sizeof(*out));
	if (o->none) {
		if (o->cmd)
			return err_set(err, EINVAL, "--no-healthcheck conflicts with --health-cmd");
		return 0;
	}
	if (o->cmd) {
		char *argv[] = { "/bin/sh", "-c", (char *)o->cmd, NULL };
		out->test = strv_dup(argv);
	} else if (t && t[0] && strcmp(t[0], "CMD-SHELL") == 0 && t[1] && !t[2]) {
		char *argv[] = { "/bin/sh", "-c", t[1], NULL };
		out->test = strv_dup(argv);
	} else if (t && t[0] && strcmp(t[0], "CMD") == 0 && t[1]) {
		out->test = strv_dup(t + 1);
	} else if (t && t[0] && strcmp(t[0], "NONE") != 0) {
		return err_set(err, EINVAL, "image Healthcheck.Test \"%.40s\": want CMD, CMD-SHELL or NONE", t[0]);
	}
	if (!out->test)
		return 0;	/* NONE, empty, or no check anywhere */
	out->interval_ms = o->interval_ms ? o->interval_ms : img ? ctr_ns_ms(img->interval_ns) : 0;
	out->timeout_ms = o->timeout_ms ? o->timeout_ms : img ? ctr_ns_ms(img->timeout_ns) : 0;
	out->start_period_ms = o->start_period_ms ? o->start_period_ms :
			       img ? ctr_ns_ms(img->start_period_ns) : 0;
	out->retries = o->retries ? o->retries :
		       img && img->retries > 0 ? (unsigned)MIN(img->retries, 1000000) : 0;
	if (!out->interval_ms)
		out->interval_ms = CTR_HEALTH_DEFAULT_MS;
	if (!out->timeout_ms)
		out->timeout_ms = CTR_HEALTH_DEFAULT_MS;
	if (!out->retries)
		out->retries = CTR_HEALTH_DEFAULT_RETRIES;
	return 0;
}

/* ---- health.json ---- */

struct ctr_health_result {
	int64_t start_ms, end_ms;	/* unix ms */
	int exit_code;
	char *output;
};

static void ctr_rfc3339_ms(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	char day[32];

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, (int)(ms % 1000));
}

void ctr_health_status(const char *root, const char *id, char *out, size_t len)
{
	_cleanup_free_ char *path = ctr_path(root, id, CTR_HEALTH_FILE);
	_cleanup_free_ char *text = NULL, *st = NULL;
	struct json_doc d;
	size_t n;

	out[0] = 0;
	if (read_file_at(AT_FDCWD, path, 1 << 20, &text, &n) < 0)
		return;
	if (json_parse(&d, text, n, 4096) == 0) {
		st = json_str(&d, json_get(&d, 0, "Status"));
		snprintf(out, len, "%s", st ? st : "");
	}
	json_free(&d);
}

void ctr_health_inspect_json(struct json_writer *w, const char *root, const char *id)
{
	_cleanup_free_ char *path = ctr_path(root, id, CTR_HEALTH_FILE);
	_cleanup_free_ char *text = NULL;
	struct json_doc d;
	size_t n;

	/* The supervisor writes it whole (atomic rename): a parse check is
	 * all a reader needs before passing it through. */
	if (read_file_at(AT_FDCWD, path, 1 << 20, &text, &n) < 0) {
		jw_null(w);
		return;
	}
	if (json_parse(&d, text, n, 4096) < 0 || json_type(&d, 0) != JSON_OBJECT) {
		json_free(&d);
		jw_null(w);
		return;
	}
	json_free(&d);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	jw_raw(w, text, n);
}

/* ---- the checks ---- */

struct ctr_health {
	struct loop *l;
	struct ctr *c;
	char *root;
	char id[CTR_ID_LEN + 1];
	struct ctr_health_cfg cfg;
	struct ctr_spec spec;		/* the test as an exec */
	struct loop_timer tick, deadline;
	struct ctr_proc *p;		/* the running check, or NULL */
	struct buf out;
	int64_t start_ms;
	bool timed_out;
	uint64_t t0;			/* loop_now_ns() when checks began (start period) */
	bool ever_healthy;
	const char *status;
	unsigned streak;
	struct ctr_health_result log[CTR_HEALTH_LOG];
	unsigned nlog;
};

static int64_t ctr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ctr_health_write(struct ctr_health *h)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	_cleanup_free_ char *path = ctr_path(h->root, h->id, CTR_HEALTH_FILE);
	struct json_writer w;
	char ts[64];

	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	ctr_jw_kstr(&w, "Status", h->status);
	jw_key(&w, "FailingStreak");
	jw_uint(&w, h->streak);
	jw_key(&w, "Log");
	jw_arr_begin(&w);
	for (unsigned i = 0; i < h->nlog; i++) {
		jw_obj_begin(&w);
		ctr_rfc3339_ms(ts, sizeof(ts), h->log[i].start_ms);
		ctr_jw_kstr(&w, "Start", ts);
		ctr_rfc3339_ms(ts, sizeof(ts), h->log[i].end_ms);
		ctr_jw_kstr(&w, "End", ts);
		jw_key(&w, "ExitCode");
		jw_int(&w, h->log[i].exit_code);
		ctr_jw_kstr(&w, "Output", h->log[i].output ? h->log[i].output : "");
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	if (write_file_atomic_at(AT_FDCWD, path, b.data, b.len, 0600) < 0)
		log_warn("container %.12s: cannot write %s", h->id, CTR_HEALTH_FILE);
}

static void ctr_health_record(struct ctr_health *h, int exit_code, const char *output)
{
	struct ctr_health_result *r;
	bool in_start = (loop_now_ns() - h->t0) / 1000000u < h->cfg.start_period_ms;

	if (h->nlog == CTR_HEALTH_LOG) {
		free(h->log[0].output);
		memmove(h->log, h->log + 1, (CTR_HEALTH_LOG - 1) * sizeof(h->log[0]));
		h->nlog--;
	}
	r = &h->log[h->nlog++];
	*r = (struct ctr_health_result){ .start_ms = h->start_ms, .end_ms = ctr_now_ms(),
					 .exit_code = exit_code, .output = xstrdup(output) };
	if (exit_code == 0) {
		h->status = "healthy";
		h->streak = 0;
		h->ever_healthy = true;
	} else if (!in_start || h->ever_healthy) {
		/* docker: failures in the start period do not count until the
		 * first success. */
		h->streak++;
		if (h->streak >= h->cfg.retries)
			h->status = "unhealthy";
	}
	ctr_health_write(h);
}

static void ctr_health_output(struct ctr_proc *p, int chan, const uint8_t *data, size_t len, bool eof,
			      void *ud)
{
	struct ctr_health *h = ud;
	size_t room = h->out.len < CTR_HEALTH_OUTPUT ? CTR_HEALTH_OUTPUT - h->out.len : 0;

	buf_append(&h->out, data, MIN(len, room));
	/* The supervisor grants output credit by hand (ctr_manual_credit). */
	if (len)
		ctr_credit(p, chan, (uint32_t)len);
}

static void ctr_health_done(struct ctr_health *h, int exit_code, const char *why)
{
	_cleanup_free_ char *out = NULL;

	loop_timer_stop(h->l, &h->deadline);
	if (h->p)
		ctr_proc_detach(h->p);
	h->p = NULL;
	if (why)
		out = xstrdup(why);
	else
		out = xstrndup(h->out.data ? h->out.data : "", h->out.len);
	buf_reset(&h->out);
	ctr_health_record(h, exit_code, out);
	loop_timer_start(h->l, &h->tick, h->cfg.interval_ms * 1000000ull);
}

static void ctr_health_started(struct ctr_proc *p, int err, const char *msg, void *ud)
{
	struct ctr_health *h = ud;
	char why[300];

	if (!err)
		return;
	snprintf(why, sizeof(why), "health check %s: %s%s%s", h->cfg.test[0], strerror(err),
		 msg[0] ? ": " : "", msg);
	ctr_health_done(h, -1, why);
}

static void ctr_health_exit(struct ctr_proc *p, int status, void *ud)
{
	struct ctr_health *h = ud;
	char why[96];

	if (h->timed_out) {
		snprintf(why, sizeof(why), "Health check exceeded timeout (%llums)",
			 (unsigned long long)h->cfg.timeout_ms);
		ctr_health_done(h, -1, why);
		return;
	}
	ctr_health_done(h, status, NULL);
}

static const struct ctr_proc_ops ctr_health_ops = {
	.started = ctr_health_started,
	.output = ctr_health_output,
	.exit = ctr_health_exit,
};

static void ctr_health_timeout(struct loop_timer *t)
{
	struct ctr_health *h = t->data;

	if (!h->p)
		return;
	h->timed_out = true;
	ctr_signal(h->p, SIGKILL);
}

static void ctr_health_tick(struct loop_timer *t)
{
	struct ctr_health *h = t->data;
	int r;

	if (h->p)
		return;
	h->timed_out = false;
	h->start_ms = ctr_now_ms();
	r = ctr_exec(h->c, &h->spec, 0, 0, &ctr_health_ops, h, &h->p);
	if (r < 0) {
		h->p = NULL;
		/* The container is ending (or not ready): try again later. */
		loop_timer_start(h->l, &h->tick, h->cfg.interval_ms * 1000000ull);
		return;
	}
	loop_timer_start(h->l, &h->deadline, h->cfg.timeout_ms * 1000000ull);
}

struct ctr_health *ctr_health_start(struct loop *l, struct ctr *c, const char *root,
				    const struct ctr_config *cfg, const struct ctr_health_cfg *hc)
{
	struct ctr_health *h;

	if (!hc->test || !hc->test[0])
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->l = l;
	h->c = c;
	h->root = xstrdup(root);
	snprintf(h->id, sizeof(h->id), "%s", cfg->id);
	h->cfg = *hc;
	h->cfg.test = strv_dup(hc->test);
	/* The container's environment, directory and user, as docker runs
	 * a check. */
	h->spec = (struct ctr_spec){ .argv = strv_dup(hc->test), .env = strv_dup(cfg->spec.env),
				     .cwd = xstrdup(cfg->spec.cwd ? cfg->spec.cwd : "/"),
				     .user = xstrdup(cfg->spec.user ? cfg->spec.user : ""),
				     .uid = cfg->spec.uid, .gid = cfg->spec.gid };
	h->status = "starting";
	h->t0 = loop_now_ns();
	loop_timer_init(&h->tick, ctr_health_tick, h);
	loop_timer_init(&h->deadline, ctr_health_timeout, h);
	ctr_health_write(h);
	loop_timer_start(l, &h->tick, h->cfg.interval_ms * 1000000ull);
	return h;
}

void ctr_health_stop(struct ctr_health *h)
{
	if (!h)
		return;
	loop_timer_stop(h->l, &h->tick);
	loop_timer_stop(h->l, &h->deadline);
	if (h->p)
		ctr_proc_detach(h->p);
	/* health.json stays: inspect shows the last verdict, as docker's does. */
	for (unsigned i = 0; i < h->nlog; i++)
		free(h->log[i].output);
	ctr_spec_free(&h->spec);
	ctr_health_cfg_free(&h->cfg);
	buf_free(&h->out);
	free(h->root);
	free(h);
}
