/* `ucrt ps [-a] [-q] [--no-trunc] [--filter K=V] [--format F]`: containers
 * from <root>/containers, as docker lists them, and the running instances
 * of `ucrt run --parallel` from their records (always running: they are
 * not kept). Listing also settles the state of containers whose ucrt died
 * (state "dead") and deletes the records of instances whose run died. */
#include "cli.h"
#include "cli-format.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "container/container.h"
#include "json.h"
#include "str.h"
#include "util.h"

static const char ps_default[] = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

static const struct cli_header ps_headers[] = {
	{ "ID", "CONTAINER ID" }, { "RunningFor", "CREATED" }, { "CreatedAt", "CREATED AT" }, { NULL, NULL }
};

static const char ps_usage[] =
	"Usage: ucrt ps [-a] [-q] [--no-trunc] [--filter KEY=VALUE]... [--format FORMAT]\n"
	"List running containers (with the running instances of run --parallel).\n"
	"  -a, --all            all of them (also created, exited and dead ones)\n"
	"  -q, --quiet          ids only\n"
	"      --no-trunc       full ids and commands\n"
	"  -f, --filter K=V     status=created|running|exited|dead, name=SUBSTRING,\n"
	"                       label=KEY or label=KEY=VALUE, id=PREFIX (repeatable:\n"
	"                       the same key ORs, different keys AND)\n"
	"      --format F       table, json (one object a line), table TEMPLATE or\n"
	"                       TEMPLATE: Go-template fields .ID .Names .Image\n"
	"                       .Command .CreatedAt .RunningFor .Status .State .Ports\n"
	"                       .Labels (docs/format.md)\n";

/* health: the check's verdict ("starting", "healthy", ...), "" without one. */
static void ps_status(char *out, size_t n, const struct ctr_state *s, enum ctr_status st,
		      const char *health)
{
	char ago[32];

	switch (st) {
	case CTR_RUNNING:
		/* docker: the last exit status while the policy waits. */
		if (s->restarting) {
			cli_duration(ago, sizeof(ago), s->finished);
			snprintf(out, n, "Restarting (%d) %s ago", s->exit_code, ago);
			break;
		}
		cli_duration(ago, sizeof(ago), s->started);
		snprintf(out, n, "Up %s%s%s%s", ago, !health[0] ? "" : strcmp(health, "starting") == 0 ?
			 " (health: " : " (", health, health[0] ? ")" : "");
		break;
	case CTR_EXITED:
		cli_duration(ago, sizeof(ago), s->finished);
		snprintf(out, n, "Exited (%d) %s ago", s->exit_code, ago);
		break;
	case CTR_DEAD:
		snprintf(out, n, "Dead");
		break;
	default:
		snprintf(out, n, "Created");
	}
}

/* docker's COMMAND: quoted, cut to 20 characters unless --no-trunc. */
static char *ps_command(char **argv, bool trunc)
{
	_cleanup_buf_ struct buf b = BUF_INIT;

	buf_puts(&b, "");
	for (char **a = argv; a && *a; a++)
		buf_printf(&b, "%s%s", a == argv ? "" : " ", *a);
	if (trunc && b.len > 20)
		return xasprintf("\"%.19s…\"", b.data);
	return xasprintf("\"%s\"", b.data);
}

/* --filter: each key's values OR together, keys AND. */
struct ps_filter {
	char **status, **name, **label, **id;
};

static int ps_filter_add(struct ps_filter *f, const char *arg)
{
	static const char *const statuses[] = { "created", "running", "exited", "dead" };
	const char *eq = strchr(arg, '=');

	if (!eq || eq[1] == 0) {
		cli_error("--filter '%s': want KEY=VALUE (status, name, label, id)", arg);
		return -1;
	}
	size_t k = (size_t)(eq - arg);
	if (k == 6 && strncmp(arg, "status", 6) == 0) {
		if (str_index(eq + 1, statuses, ARRAY_SIZE(statuses)) < 0) {
			cli_error("--filter status='%s': want created, running, exited or dead", eq + 1);
			return -1;
		}
		strv_push(&f->status, eq + 1);
	} else if (k == 4 && strncmp(arg, "name", 4) == 0) {
		strv_push(&f->name, eq + 1);
	} else if (k == 5 && strncmp(arg, "label", 5) == 0) {
		strv_push(&f->label, eq + 1);
	} else if (k == 2 && strncmp(arg, "id", 2) == 0) {
		strv_push(&f->id, eq + 1);
	} else {
		cli_error("--filter '%.*s': unknown key (want status, name, label or id)", (int)k, arg);
		return -1;
	}
	return 0;
}

static void ps_filter_free(struct ps_filter *f)
{
	strv_free(f->status);
	strv_free(f->name);
	strv_free(f->label);
	strv_free(f->id);
}

/* label=KEY matches any value, label=KEY=VALUE that value. */
static bool ps_label_match(char **labels, const char *want)
{
	const char *eq = strchr(want, '=');
	size_t klen = eq ? (size_t)(eq - want) : strlen(want);

	for (char **l = labels; l && *l; l++) {
		const char *leq = strchr(*l, '=');
		size_t lk = leq ? (size_t)(leq - *l) : strlen(*l);
		if (lk != klen || strncmp(*l, want, klen) != 0)
			continue;
		if (!eq || strcmp(leq ? leq + 1 : "", eq + 1) == 0)
			return true;
	}
	return false;
}

static bool ps_match(const struct ps_filter *f, const char *id, enum ctr_status st, const struct ctr_config *cfg)
{
	bool ok = !f->status;
	for (char **s = f->status; s && *s && !ok; s++)
		ok = strcmp(*s, ctr_status_name(st)) == 0;
	if (!ok)
		return false;
	ok = !f->id;
	for (char **s = f->id; s && *s && !ok; s++)
		ok = str_startswith(id, *s);
	if (!ok)
		return false;
	if ((f->name || f->label) && !cfg)
		return false;
	ok = !f->name;
	for (char **s = f->name; s && *s && !ok; s++)
		ok = cfg->name && strstr(cfg->name, *s);
	if (!ok)
		return false;
	/* every label filter must match (docker ANDs labels) */
	for (char **s = f->label; s && *s; s++)
		if (!ps_label_match(cfg->labels, *s))
			return false;
	return true;
}

/* The row as docker's `ps --format json` prints it. */
static void ps_row(struct buf *b, const char *root, const char *id, const struct ctr_config *cfg,
		   const struct ctr_state *s, enum ctr_status st, bool trunc)
{
	struct json_writer w;
	char when[48], status[96], created[40], health[16];

	jw_init(&w, b, false);
	jw_obj_begin(&w);
	_cleanup_free_ char *cmd = cfg ? ps_command(cfg->spec.argv, trunc) : xstrdup("");
	jw_key(&w, "Command"), jw_str(&w, cmd);
	cli_rfc3339(created, sizeof(created), cfg ? cfg->created : 0);
	jw_key(&w, "CreatedAt"), jw_str(&w, created);
	jw_key(&w, "ID"), jw_strn(&w, id, trunc ? 12 : strlen(id));
	jw_key(&w, "Image"), jw_str(&w, cfg && cfg->image ? cfg->image : "");
	_cleanup_buf_ struct buf labels = BUF_INIT;
	buf_puts(&labels, "");
	for (char **l = cfg ? cfg->labels : NULL; l && *l; l++)
		buf_printf(&labels, "%s%s", l == cfg->labels ? "" : ",", *l);
	jw_key(&w, "Labels"), jw_str(&w, labels.data);
	jw_key(&w, "Names"), jw_str(&w, cfg && cfg->name ? cfg->name : "");
	_cleanup_buf_ struct buf ports = BUF_INIT;
	buf_puts(&ports, "");
	ctr_ports_summary(root, id, &ports);
	jw_key(&w, "Ports"), jw_str(&w, ports.data);
	cli_ago(when, sizeof(when), cfg ? cfg->created : 0);
	jw_key(&w, "RunningFor"), jw_str(&w, when);
	jw_key(&w, "State"), jw_str(&w, ctr_status_name(st));
	ctr_health_status(root, id, health, sizeof(health));
	ps_status(status, sizeof(status), s, st, health);
	jw_key(&w, "Status"), jw_str(&w, status);
	jw_obj_end(&w);
}

/* A --parallel instance: running while its record exists. */
static int ps_instance(struct cli_fmt *f, const char *root, const struct ps_filter *filt,
		       const struct ctr_instance *in, bool trunc)
{
	struct ctr_config cfg = { .name = in->name, .image = in->image, .created = in->created,
				  .spec = { .argv = in->argv }, .labels = in->labels };
	struct ctr_state s = { .status = CTR_RUNNING, .started = in->created, .exit_code = -1 };
	_cleanup_buf_ struct buf row = BUF_INIT;

	if (!ps_match(filt, in->id, CTR_RUNNING, &cfg))
		return 0;
	ps_row(&row, root, in->id, &cfg, &s, CTR_RUNNING, trunc);
	return cli_fmt_row(f, row.data, row.len);
}

int cmd_ps(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_NOTRUNC = 256, O_FORMAT };
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-trunc", no_argument, NULL, O_NOTRUNC },
		{ "filter", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool all = false, quiet = false, trunc = true;
	const char *format = NULL;
	struct ps_filter filt = { 0 };
	_cleanup_strv_ char **ids = NULL;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "aqf:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'q': quiet = true; break;
		case O_NOTRUNC: trunc = false; break;
		case O_FORMAT: format = optarg; break;
		case 'f':
			if (ps_filter_add(&filt, optarg) < 0) {
				ps_filter_free(&filt);
				return EXIT_RUNTIME;
			}
			break;
		case 'h':
			printf("%s", ps_usage);
			ps_filter_free(&filt);
			return 0;
		default:
			fprintf(stderr, "%s", ps_usage);
			ps_filter_free(&filt);
			return EXIT_RUNTIME;
		}
	}
	if (optind != argc) {
		cli_error("ps takes no arguments (filter with --filter name=%s)", argv[optind]);
		ps_filter_free(&filt);
		return EXIT_RUNTIME;
	}
	/* docker: a status filter shows stopped containers without -a */
	if (filt.status)
		all = true;
	struct cli_fmt f;
	if (cli_fmt_init(&f, quiet ? "{{.ID}}" : format, ps_default, ps_headers) < 0) {
		ps_filter_free(&filt);
		return EXIT_RUNTIME;
	}
	if (ctr_list(ctx->root, &ids) < 0) {
		cli_error("cannot list containers under %s/containers", ctx->root);
		status = EXIT_RUNTIME;
	}
	/* Unreadable records only hide instances: the containers still list. */
	struct ctr_instance *insts = NULL;
	size_t ninst = 0, j = 0;
	ctr_instances_list(ctx->root, &insts, &ninst);
	for (size_t i = 0; ids && ids[i] && !status; i++) {
		struct ctr_config cfg;
		struct ctr_state s;
		enum ctr_status st = ctr_refresh(ctx->root, ids[i], &s);
		bool have = ctr_config_read(ctx->root, ids[i], &cfg, NULL) == 0;

		/* One list in order of creation, as both come sorted. */
		for (; j < ninst && have && insts[j].created < cfg.created && !status; j++)
			if (ps_instance(&f, ctx->root, &filt, &insts[j], trunc) < 0)
				status = EXIT_RUNTIME;
		if ((all || st == CTR_RUNNING) && ps_match(&filt, ids[i], st, have ? &cfg : NULL)) {
			_cleanup_buf_ struct buf row = BUF_INIT;
			ps_row(&row, ctx->root, ids[i], have ? &cfg : NULL, &s, st, trunc);
			if (cli_fmt_row(&f, row.data, row.len) < 0)
				status = EXIT_RUNTIME;
		}
		if (have)
			ctr_config_free(&cfg);
	}
	for (; j < ninst && !status; j++)
		if (ps_instance(&f, ctx->root, &filt, &insts[j], trunc) < 0)
			status = EXIT_RUNTIME;
	ctr_instances_free(insts, ninst);
	if (!status)
		cli_fmt_end(&f);
	cli_fmt_free(&f);
	ps_filter_free(&filt);
	return status;
}
