/* Restart policies and health-check settings: --restart's grammar,
 * docker's decision and backoff, start --all's choice, durations, the
 * health options over an image's Healthcheck, policy.json round trip. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "container/container.h"
#include "json.h"
#include "err.h"
#include "log.h"
#include "oci/oci.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static void test_parse(void)
{
	struct ctr_restart r;
	struct err e = { 0 };
	char buf[32];

	t_is(ctr_restart_parse("no", &r, &e), 0, "no");
	t_is(r.mode, CTR_RESTART_NO, "mode no");
	t_is(ctr_restart_parse("on-failure", &r, &e), 0, "on-failure");
	t_ok(r.mode == CTR_RESTART_ON_FAILURE && r.max == 0, "no limit");
	t_is(ctr_restart_parse("on-failure:5", &r, &e), 0, "on-failure:5");
	t_is(r.max, 5, "limit 5");
	ctr_restart_format(&r, buf, sizeof(buf));
	t_streq(buf, "on-failure:5", "formats back");
	t_is(ctr_restart_parse("always", &r, &e), 0, "always");
	t_is(ctr_restart_parse("unless-stopped", &r, &e), 0, "unless-stopped");
	ctr_restart_format(&r, buf, sizeof(buf));
	t_streq(buf, "unless-stopped", "formats back");
	t_is(ctr_restart_parse("always:3", &r, &e), -EINVAL, "a count only with on-failure");
	t_is(ctr_restart_parse("on-failure:x", &r, &e), -EINVAL, "a bad count");
	t_is(ctr_restart_parse("on-failure:", &r, &e), -EINVAL, "an empty count");
	t_is(ctr_restart_parse("sometimes", &r, &e), -EINVAL, "an unknown policy");
	t_ok(strstr(err_msg(&e), "want no, on-failure[:N], always or unless-stopped") != NULL,
	     "the message lists the policies");
	t_is(ctr_restart_parse("", &r, &e), -EINVAL, "empty");
}

static void test_decide(void)
{
	struct ctr_restart no = { CTR_RESTART_NO, 0 }, of = { CTR_RESTART_ON_FAILURE, 2 },
			   ofu = { CTR_RESTART_ON_FAILURE, 0 }, al = { CTR_RESTART_ALWAYS, 0 },
			   us = { CTR_RESTART_UNLESS_STOPPED, 0 };

	t_ok(!ctr_restart_wanted(&no, 1, 0, false), "no: never");
	t_ok(ctr_restart_wanted(&of, 1, 0, false), "on-failure:2 after a failure, 0 restarts");
	t_ok(ctr_restart_wanted(&of, 137, 1, false), "... 1 restart");
	t_ok(!ctr_restart_wanted(&of, 1, 2, false), "... not after 2");
	t_ok(!ctr_restart_wanted(&of, 0, 0, false), "on-failure: not after success");
	t_ok(ctr_restart_wanted(&ofu, 3, 1000, false), "on-failure without a limit");
	t_ok(ctr_restart_wanted(&al, 0, 5, false), "always after success");
	t_ok(ctr_restart_wanted(&us, 1, 5, false), "unless-stopped after failure");
	t_ok(!ctr_restart_wanted(&al, 1, 0, true), "never after the user's stop");
	t_ok(ctr_restart_at_boot(&al, true), "boot: always, even when stopped");
	t_ok(ctr_restart_at_boot(&us, false), "boot: unless-stopped when not stopped");
	t_ok(!ctr_restart_at_boot(&us, true), "boot: not unless-stopped that was stopped");
	t_ok(!ctr_restart_at_boot(&of, false), "boot: not on-failure");
}

static void test_backoff(void)
{
	unsigned step = 0;
	uint64_t want[] = { 100, 200, 400, 800, 1600 }, d = 0;
	bool ok = true;

	for (size_t i = 0; i < 5; i++)
		ok = ok && ctr_restart_delay_ms(&step, 50) == want[i];
	t_ok(ok, "100 ms doubling: 100, 200, 400, 800, 1600");
	for (int i = 0; i < 30; i++)
		d = ctr_restart_delay_ms(&step, 50);
	t_is(d, CTR_RESTART_MAX_DELAY_MS, "capped");
	t_is(ctr_restart_delay_ms(&step, CTR_RESTART_RESET_MS), 100, "reset after 10 s of uptime");
	t_is(ctr_restart_delay_ms(&step, 9999), 200, "not after 9.999 s");
}

static void test_duration(void)
{
	uint64_t ms;

	t_ok(ctr_duration_parse("30s", &ms) == 0 && ms == 30000, "30s");
	t_ok(ctr_duration_parse("1m30s", &ms) == 0 && ms == 90000, "1m30s");
	t_ok(ctr_duration_parse("500ms", &ms) == 0 && ms == 500, "500ms");
	t_ok(ctr_duration_parse("1.5s", &ms) == 0 && ms == 1500, "1.5s");
	t_ok(ctr_duration_parse("2h", &ms) == 0 && ms == 7200000, "2h");
	t_is(ctr_duration_parse("30", &ms), -EINVAL, "a unit is needed");
	t_is(ctr_duration_parse("0s", &ms), -EINVAL, "zero refused");
	t_is(ctr_duration_parse("", &ms), -EINVAL, "empty");
	t_is(ctr_duration_parse("s", &ms), -EINVAL, "no number");
	t_is(ctr_duration_parse("5d", &ms), -EINVAL, "unknown unit");
	t_is(ctr_duration_parse("25h", &ms), -ERANGE, "more than a day");
	t_is(ctr_duration_parse("99999999999999999999s", &ms), -ERANGE, "overflow");
}

static void test_health(void)
{
	char *cmd_shell[] = { "CMD-SHELL", "test -e /ok", NULL }, *cmd[] = { "CMD", "/bin/check", "-q", NULL },
	     *none[] = { "NONE", NULL }, *bad[] = { "EXEC", "x", NULL };
	struct oci_healthcheck img = { .test = cmd_shell, .interval_ns = 5000000000, .retries = 7 };
	struct ctr_health_opts o = { 0 };
	struct ctr_health_cfg h;
	struct err e = { 0 };

	t_is(ctr_health_resolve(&img, &o, &h, &e), 0, "image CMD-SHELL");
	t_ok(h.test && strcmp(h.test[0], "/bin/sh") == 0 && strcmp(h.test[2], "test -e /ok") == 0,
	     "runs sh -c");
	t_ok(h.interval_ms == 5000 && h.timeout_ms == CTR_HEALTH_DEFAULT_MS && h.retries == 7,
	     "image interval and retries, default timeout");
	ctr_health_cfg_free(&h);
	t_is(ctr_health_opt_set(&o, CTR_HEALTH_INTERVAL, "1s", &e), 0, "--health-interval 1s");
	t_is(ctr_health_opt_set(&o, CTR_HEALTH_RETRIES, "2", &e), 0, "--health-retries 2");
	t_is(ctr_health_opt_set(&o, CTR_HEALTH_TIMEOUT, "1x", &e), -EINVAL, "bad --health-timeout");
	t_ok(strstr(err_msg(&e), "--health-timeout") != NULL, "message names it");
	t_is(ctr_health_opt_set(&o, CTR_HEALTH_RETRIES, "0", &e), -EINVAL, "--health-retries 0");
	img.test = cmd;
	t_is(ctr_health_resolve(&img, &o, &h, &e), 0, "image CMD with options");
	t_ok(h.test && strcmp(h.test[0], "/bin/check") == 0 && strv_len(h.test) == 2, "CMD's argv");
	t_ok(h.interval_ms == 1000 && h.retries == 2, "options over the image");
	ctr_health_cfg_free(&h);
	o.cmd = "true";
	t_is(ctr_health_resolve(&img, &o, &h, &e), 0, "--health-cmd over the image's test");
	t_streq(h.test[2], "true", "the option's command");
	ctr_health_cfg_free(&h);
	o.none = true;
	t_is(ctr_health_resolve(&img, &o, &h, &e), -EINVAL, "--no-healthcheck with --health-cmd");
	o.cmd = NULL;
	t_is(ctr_health_resolve(&img, &o, &h, &e), 0, "--no-healthcheck");
	t_ok(h.test == NULL, "no check");
	o.none = false;
	img.test = none;
	t_is(ctr_health_resolve(&img, &o, &h, &e), 0, "image NONE");
	t_ok(h.test == NULL, "no check");
	img.test = bad;
	t_is(ctr_health_resolve(&img, &o, &h, &e), -EINVAL, "an unknown Test kind");
	t_is(ctr_health_resolve(NULL, &o, &h, &e), 0, "no image check, no option");
	t_ok(h.test == NULL, "no check");
}

static void test_policy_file(void)
{
	char root[] = "/tmp/ucrt-t-policy.XXXXXX";
	char *test[] = { "/bin/sh", "-c", "exit 0", NULL };
	struct ctr_policy p = { .restart = { CTR_RESTART_ON_FAILURE, 4 },
				.health = { .test = test, .interval_ms = 1500, .timeout_ms = 700,
					    .start_period_ms = 0, .retries = 2 } }, q;
	struct err e = { 0 };

	t_ok(mkdtemp(root) != NULL, "temp root");
	_cleanup_free_ char *dir = xasprintf("%s/containers/c1", root);
	mkdir_p_at(AT_FDCWD, dir, 0700);
	t_is(ctr_policy_read(root, "c1", &q, &e), 0, "absent policy reads as none");
	t_ok(q.restart.mode == CTR_RESTART_NO && !q.health.test, "no restart, no check");
	t_is(ctr_policy_write(root, "c1", &p, true, &e), 0, "write");
	t_is(ctr_policy_read(root, "c1", &q, &e), 0, "read back");
	t_ok(q.restart.mode == CTR_RESTART_ON_FAILURE && q.restart.max == 4, "restart policy");
	t_ok(q.health.test && strv_len(q.health.test) == 3 && strcmp(q.health.test[2], "exit 0") == 0,
	     "health test");
	t_ok(q.health.interval_ms == 1500 && q.health.timeout_ms == 700 && q.health.retries == 2,
	     "health timings");
	ctr_policy_free(&q);
	_cleanup_free_ char *rm = xasprintf("rm -rf %s", root);
	t_is(system(rm), 0, "cleanup");
}

static void test_health_file(void)
{
	char root[] = "/tmp/ucrt-t-health.XXXXXX", st[16];
	const char *js = "{\"Status\": \"unhealthy\", \"FailingStreak\": 3, \"Log\": []}\n";
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;

	t_ok(mkdtemp(root) != NULL, "temp root");
	_cleanup_free_ char *dir = xasprintf("%s/containers/c1", root);
	_cleanup_free_ char *file = xasprintf("%s/health.json", dir);
	mkdir_p_at(AT_FDCWD, dir, 0700);
	ctr_health_status(root, "c1", st, sizeof(st));
	t_streq(st, "", "no health.json: no status");
	jw_init(&w, &b, false);
	ctr_health_inspect_json(&w, root, "c1");
	t_streq(b.data, "null", "no health.json: inspect null");
	write_file_atomic_at(AT_FDCWD, file, js, strlen(js), 0644);
	ctr_health_status(root, "c1", st, sizeof(st));
	t_streq(st, "unhealthy", "status from health.json");
	buf_reset(&b);
	jw_init(&w, &b, false);
	ctr_health_inspect_json(&w, root, "c1");
	t_streq(b.data, "{\"Status\": \"unhealthy\", \"FailingStreak\": 3, \"Log\": []}", "inspect passes it through");
	write_file_atomic_at(AT_FDCWD, file, "{bad", 4, 0644);
	buf_reset(&b);
	jw_init(&w, &b, false);
	ctr_health_inspect_json(&w, root, "c1");
	t_streq(b.data, "null", "a torn or foreign file: null, not broken JSON");
	_cleanup_free_ char *rm = xasprintf("rm -rf %s", root);
	t_is(system(rm), 0, "cleanup");
}

int main(void)
{
	log_set_level(LOG_ERROR);
	test_parse();
	test_decide();
	test_backoff();
	test_duration();
	test_health();
	test_policy_file();
	test_health_file();
	return t_done();
}
