/* `ucrt inspect [-f FORMAT] CONTAINER...`: containers' settings and state
 * as docker's inspect shapes them (its keys, RFC 3339 times, effective
 * memory and CPUs), or each through a Go template. */
#include "cli.h"
#include "cli-format.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "util.h"
#include "vm/vm.h"

/* docker's zero time for "never" */
#define ZERO_TIME "0001-01-01T00:00:00Z"

static void in_kstr(struct json_writer *w, const char *key, const char *v)
{
	jw_key(w, key);
	if (v)
		jw_str(w, v);
	else
		jw_null(w);
}

static void in_time(struct json_writer *w, const char *key, int64_t t)
{
	char s[40];

	cli_rfc3339(s, sizeof(s), t);
	jw_key(w, key);
	jw_str(w, t ? s : ZERO_TIME);
}

static void in_strv(struct json_writer *w, const char *key, char **v)
{
	jw_key(w, key);
	jw_arr_begin(w);
	for (; v && *v; v++)
		jw_str(w, *v);
	jw_arr_end(w);
}

static void in_config(struct json_writer *w, const struct ctr_config *c)
{
	jw_key(w, "Config");
	jw_obj_begin(w);
	in_kstr(w, "Hostname", c->hostname);
	in_kstr(w, "User", c->spec.user);
	jw_key(w, "Tty"), jw_bool(w, c->spec.tty);
	jw_key(w, "OpenStdin"), jw_bool(w, c->spec.stdin_open);
	in_strv(w, "Env", c->spec.env);
	in_strv(w, "Cmd", c->spec.argv);
	in_kstr(w, "Image", c->image);
	in_kstr(w, "WorkingDir", c->spec.cwd);
	jw_key(w, "Labels");
	jw_obj_begin(w);
	for (char **l = c->labels; l && *l; l++) {
		const char *eq = strchr(*l, '=');
		_cleanup_free_ char *k = xstrndup(*l, eq ? (size_t)(eq - *l) : strlen(*l));
		jw_key(w, k);
		jw_str(w, eq ? eq + 1 : "");
	}
	jw_obj_end(w);
	jw_obj_end(w);
}

/* What the VM gets: the defaults filled in (no 0 for "default"). */
static void in_host_config(struct json_writer *w, const struct ctr_config *c,
			   const struct ctr_policy *pol)
{
	unsigned cpus = c->cpus ? c->cpus : 1;
	uint64_t mem = (uint64_t)(c->mem_mib ? c->mem_mib : VM_DEFAULT_MEM_MIB) << 20;

	jw_key(w, "HostConfig");
	jw_obj_begin(w);
	jw_key(w, "AutoRemove"), jw_bool(w, c->rm);
	jw_key(w, "ReadonlyRootfs"), jw_bool(w, c->read_only);
	jw_key(w, "Memory"), jw_uint(w, mem);
	jw_key(w, "NanoCpus"), jw_uint(w, (uint64_t)cpus * 1000000000u);
	jw_key(w, "CpuCount"), jw_uint(w, cpus);
	in_kstr(w, "Accel", c->accel ? c->accel : "auto");
	in_kstr(w, "Kernel", c->kernel);
	in_kstr(w, "Disk", c->disk);
	in_kstr(w, "Overlay", c->overlay);
	jw_key(w, "RestartPolicy");
	jw_obj_begin(w);
	in_kstr(w, "Name", ctr_restart_mode_name(pol->restart.mode));
	jw_key(w, "MaximumRetryCount"), jw_uint(w, pol->restart.max);
	jw_obj_end(w);
	jw_obj_end(w);
}

static void in_one(struct json_writer *w, struct cli_ctx *ctx, const char *id)
{
	struct ctr_config cfg;
	struct ctr_state s;
	enum ctr_status st = ctr_refresh(ctx->root, id, &s);
	struct err e = { 0 };
	bool have = ctr_config_read(ctx->root, id, &cfg, &e) == 0;
	struct ctr_policy pol;

	if (ctr_policy_read(ctx->root, id, &pol, NULL) < 0)
		memset(&pol, 0, sizeof(pol));

	jw_obj_begin(w);
	jw_key(w, "Id"), jw_str(w, id);
	if (have) {
		in_time(w, "Created", cfg.created);
		jw_key(w, "Path"), jw_str(w, cfg.spec.argv[0]);
		in_strv(w, "Args", cfg.spec.argv + 1);
	}
	jw_key(w, "State");
	jw_obj_begin(w);
	jw_key(w, "Status"), jw_str(w, ctr_status_name(st));
	jw_key(w, "Running"), jw_bool(w, st == CTR_RUNNING);
	jw_key(w, "Pid"), jw_int(w, st == CTR_RUNNING ? s.qemu : 0);
	jw_key(w, "OwnerPid"), jw_int(w, st == CTR_RUNNING ? s.owner : 0);
	jw_key(w, "ExitCode"), jw_int(w, s.exit_code);
	in_time(w, "StartedAt", s.started);
	in_time(w, "FinishedAt", s.finished);
	jw_key(w, "Error"), jw_str(w, have ? s.error : err_msg(&e));
	jw_key(w, "Restarting"), jw_bool(w, st == CTR_RUNNING && s.restarting);
	if (pol.health.test) {
		jw_key(w, "Health");
		ctr_health_inspect_json(w, ctx->root, id);
	}
	jw_obj_end(w);
	jw_key(w, "RestartCount"), jw_uint(w, s.restart_count);
	if (have) {
		in_kstr(w, "Image", cfg.image_id);
		in_kstr(w, "Name", cfg.name);
	}
	_cleanup_free_ char *logp = ctr_path(ctx->root, id, "output.log");
	_cleanup_free_ char *conp = ctr_path(ctx->root, id, "console.log");
	jw_key(w, "LogPath"), jw_str(w, logp);
	jw_key(w, "ConsolePath"), jw_str(w, conp);
	if (have) {
		in_config(w, &cfg);
		in_host_config(w, &cfg, &pol);
		ctr_config_free(&cfg);
	}
	jw_key(w, "Mounts");
	ctr_mounts_inspect_json(w, ctx->root, id);
	jw_key(w, "network");
	ctr_net_inspect_json(w, ctx->root, id);
	jw_obj_end(w);
	ctr_policy_free(&pol);
}

static const char in_usage[] =
	"Usage: ucrt inspect [-f FORMAT] CONTAINER...\n"
	"Print containers' settings and state as a JSON array (docker's keys).\n"
	"  -f, --format F   json (the default), or a Go template run on each\n"
	"                   container: '{{.State.Status}}', '{{json .Config}}',\n"
	"                   '{{index .Config.Labels \"k\"}}' (docs/format.md)\n";

int cmd_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	const char *format = NULL;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
		if (c == 'f') {
			format = optarg;
		} else if (c == 'h') {
			fputs(in_usage, stdout);
			return 0;
		} else {
			fputs(in_usage, stderr);
			return EXIT_RUNTIME;
		}
	}
	if (optind >= argc) {
		fputs(in_usage, stderr);
		return EXIT_RUNTIME;
	}
	if (format && strcmp(format, "json") == 0)
		format = NULL;
	struct cli_fmt f;
	if (format && cli_fmt_init(&f, format, NULL, NULL) < 0)
		return EXIT_RUNTIME;
	jw_init(&w, &b, true);
	jw_arr_begin(&w);
	for (int i = optind; i < argc; i++) {
		char id[CTR_ID_LEN + 1];
		struct err e = { 0 };
		if (ctr_find(ctx->root, argv[i], id, &e) < 0) {
			cli_error("%s", err_msg(&e));
			status = EXIT_RUNTIME;
			continue;
		}
		if (!format) {
			in_one(&w, ctx, id);
			continue;
		}
		_cleanup_buf_ struct buf one = BUF_INIT;
		struct json_writer ow;
		jw_init(&ow, &one, false);
		in_one(&ow, ctx, id);
		if (cli_fmt_row(&f, one.data, one.len) < 0) {
			cli_fmt_free(&f);
			return EXIT_RUNTIME;
		}
	}
	jw_arr_end(&w);
	if (format) {
		cli_fmt_end(&f);
		cli_fmt_free(&f);
	} else {
		printf("%s\n", b.data);
	}
	return status;
}
