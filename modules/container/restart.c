/* Restart policies (--restart) and the container's policy.json, which
 * also holds its resolved health check (health.c). The supervisor asks
 * ctr_restart_wanted when the VM is gone and waits ctr_restart_delay_ms
 * before a fresh VM boots on the same overlay; `ucrt start --all` asks
 * ctr_restart_at_boot. The rules are docker's (docs/run.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "container-internal.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"

#define CTR_POLICY_FILE "policy.json"

static const char *const ctr_restart_names[] = { "no", "on-failure", "always", "unless-stopped" };

const char *ctr_restart_mode_name(enum ctr_restart_mode m)
{
	return m <= CTR_RESTART_UNLESS_STOPPED ? ctr_restart_names[m] : "no";
}

int ctr_restart_parse(const char *s, struct ctr_restart *r, struct err *err)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	uint64_t v;

	*r = (struct ctr_restart){ 0 };
	for (size_t i = 0; i < ARRAY_SIZE(ctr_restart_names); i++) {
		if (strlen(ctr_restart_names[i]) == n && strncmp(s, ctr_restart_names[i], n) == 0) {
			r->mode = (enum ctr_restart_mode)i;
			if (!colon)
				return 0;
			if (r->mode != CTR_RESTART_ON_FAILURE)
				return err_set(err, EINVAL, "invalid --restart '%.40s': only on-failure takes a count", s);
			if (str_to_u64(colon + 1, &v) < 0 || v > 1000000)
				return err_set(err, EINVAL, "invalid --restart '%.40s': the count must be 0..1000000", s);
			r->max = (unsigned)v;
			return 0;
		}
	}
	return err_set(err, EINVAL, "invalid --restart '%.40s' (want no, on-failure[:N], always or unless-stopped)", s);
}

void ctr_restart_format(const struct ctr_restart *r, char *buf, size_t len)
{
	if (r->mode == CTR_RESTART_ON_FAILURE && r->max)
		snprintf(buf, len, "on-failure:%u", r->max);
	else
		snprintf(buf, len, "%s", ctr_restart_mode_name(r->mode));
}

bool ctr_restart_wanted(const struct ctr_restart *r, int status, unsigned count, bool user_stop)
{
	if (user_stop)
		return false;
	switch (r->mode) {
	case CTR_RESTART_ON_FAILURE:
		return status != 0 && (r->max == 0 || count < r->max);
	case CTR_RESTART_ALWAYS:
	case CTR_RESTART_UNLESS_STOPPED:
		return true;
	default:
		return false;
	}
}

uint64_t ctr_restart_delay_ms(unsigned *step, uint64_t uptime_ms)
{
	uint64_t d = 100;

	/* A container that ran a while is not crash-looping: start over. */
	if (uptime_ms >= CTR_RESTART_RESET_MS)
		*step = 0;
	for (unsigned i = 0; i < *step && d < CTR_RESTART_MAX_DELAY_MS; i++)
		d *= 2;
	if (d > CTR_RESTART_MAX_DELAY_MS)
		d = CTR_RESTART_MAX_DELAY_MS;
	else
		(*step)++;
	return d;
}

bool ctr_restart_at_boot(const struct ctr_restart *r, bool user_stop)
{
	return r->mode == CTR_RESTART_ALWAYS || (r->mode == CTR_RESTART_UNLESS_STOPPED && !user_stop);
}

/* ---- policy.json ---- */

int ctr_policy_write(const char *root, const char *id, const struct ctr_policy *p, bool durable,
		     struct err *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	_cleanup_free_ char *path = ctr_path(root, id, CTR_POLICY_FILE);
	const struct ctr_health_cfg *h = &p->health;
	struct json_writer w;
	char rs[32];

	ctr_restart_format(&p->restart, rs, sizeof(rs));
	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	ctr_jw_kstr(&w, "restart", rs);
	jw_key(&w, "healthcheck");
	if (h->test) {
		jw_obj_begin(&w);
		jw_key(&w, "test");
		jw_arr_begin(&w);
		for (char **a = h->test; *a; a++)
			jw_str(&w, *a);
		jw_arr_end(&w);
		jw_key(&w, "interval_ms");
		jw_uint(&w, h->interval_ms);
		jw_key(&w, "timeout_ms");
		jw_uint(&w, h->timeout_ms);
		jw_key(&w, "start_period_ms");
		jw_uint(&w, h->start_period_ms);
		jw_key(&w, "retries");
		jw_uint(&w, h->retries);
		jw_obj_end(&w);
	} else {
		jw_null(&w);
	}
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	int r = write_file_at(AT_FDCWD, path, b.data, b.len, 0600, durable);
	if (r < 0)
		return err_setx(err, r, "writing %s", path);
	return 0;
}

static uint64_t ctr_policy_ms(const struct json_doc *d, int obj, const char *key, uint64_t dflt,
			      uint64_t max)
{
	int64_t v;

	if (json_int(d, json_get(d, obj, key), &v) < 0 || v < 0 || (uint64_t)v > max)
		return dflt;
	return (uint64_t)v;
}

int ctr_policy_read(const char *root, const char *id, struct ctr_policy *p, struct err *err)
{
	_cleanup_free_ char *path = ctr_path(root, id, CTR_POLICY_FILE);
	_cleanup_free_ char *text = NULL, *rs = NULL;
	struct json_doc d;
	size_t len;
	int r;

	memset(p, 0, sizeof(*p));
	r = read_file_at(AT_FDCWD, path, 64 * 1024, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_setx(err, r, "reading %s", path);
	if (json_parse(&d, text, len, 1024) < 0 || json_type(&d, 0) != JSON_OBJECT) {
		json_free(&d);
		return err_set(err, EBADMSG, "%s: malformed", path);
	}
	rs = json_str(&d, json_get(&d, 0, "restart"));
	if (rs && ctr_restart_parse(rs, &p->restart, err) < 0) {
		json_free(&d);
		return err_wrap(err, "%s", path);
	}
	int h = json_get(&d, 0, "healthcheck");
	if (h >= 0 && json_type(&d, h) == JSON_OBJECT) {
		if (json_strv(&d, json_get(&d, h, "test"), &p->health.test) < 0 || !p->health.test ||
		    !p->health.test[0]) {
			strv_free(p->health.test);
			p->health.test = NULL;
		}
		p->health.interval_ms = ctr_policy_ms(&d, h, "interval_ms", CTR_HEALTH_DEFAULT_MS, 86400000);
		p->health.timeout_ms = ctr_policy_ms(&d, h, "timeout_ms", CTR_HEALTH_DEFAULT_MS, 86400000);
		p->health.start_period_ms = ctr_policy_ms(&d, h, "start_period_ms", 0, 86400000);
		p->health.retries = (unsigned)ctr_policy_ms(&d, h, "retries", CTR_HEALTH_DEFAULT_RETRIES, 1000000);
		if (!p->health.interval_ms)
			p->health.interval_ms = CTR_HEALTH_DEFAULT_MS;
		if (!p->health.timeout_ms)
			p->health.timeout_ms = CTR_HEALTH_DEFAULT_MS;
		if (!p->health.retries)
			p->health.retries = CTR_HEALTH_DEFAULT_RETRIES;
	}
	json_free(&d);
	return 0;
}

void ctr_policy_free(struct ctr_policy *p)
{
	ctr_health_cfg_free(&p->health);
	memset(p, 0, sizeof(*p));
}

int ctr_start_all(const char *self_exe, const char *root,
		  void (*report)(const char *name, const struct err *e, void *ud), void *ud)
{
	_cleanup_strv_ char **ids = NULL;
	int failed = 0;

	if (ctr_list(root, &ids) < 0)
		return -EIO;
	for (size_t i = 0; ids[i]; i++) {
		struct ctr_policy p;
		struct ctr_state st;
		struct ctr_config cfg;
		struct err e = { 0 };
		enum ctr_status status = ctr_refresh(root, ids[i], &st);

		/* Running already, or never started (create without start). */
		if (status == CTR_RUNNING || status == CTR_CREATED)
			continue;
		if (ctr_policy_read(root, ids[i], &p, NULL) < 0)
			continue;
		bool want = ctr_restart_at_boot(&p.restart, st.user_stop);
		ctr_policy_free(&p);
		if (!want || ctr_config_read(root, ids[i], &cfg, NULL) < 0)
			continue;
		if (ctr_start_detached(self_exe, root, ids[i], false, &e) < 0)
			failed++;
		report(cfg.name, &e, ud);
		ctr_config_free(&cfg);
	}
	return failed;
}
