/* `ucrt-oci` global options, error log and dispatch. runc's command line
 * (urfave/cli): global options first, then the command and its own. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "oci-cli.h"
#include "util.h"

static void oci_usage(FILE *f)
{
	fprintf(f,
		"Usage: " OCI_PROG " [--root DIR] [--log FILE] [--log-format text|json] COMMAND [ARG...]\n"
		"\nAn OCI runtime (runc's command line) that runs each container in a ucrt microVM.\n"
		"\nCommands:\n"
		"  create     create a container from a bundle (boots nothing yet)\n"
		"  start      start the process of a created container\n"
		"  run        create and start\n"
		"  state      print a container's runtime-spec state as JSON\n"
		"  kill       send a signal to a container's process\n"
		"  delete     remove a container and everything it left\n"
		"  exec       run another process in a running container\n"
		"  list       list containers\n"
		"  ps         list a container's host processes\n"
		"  features   print the runtime-spec features JSON\n"
		"\nGlobal options: --root DIR (default " OCI_DEFAULT_ROOT ", or $XDG_RUNTIME_DIR/ucrt/oci\n"
		"  (/tmp/ucrt-UID/oci) for an ordinary user), --log FILE,\n"
		"--log-format text|json, --debug; --systemd-cgroup, --rootless and --criu are\n"
		"accepted and ignored. See ucrt(1) and docs/oci-runtime.md.\n");
}

static void oci_time(char *out, size_t cap)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
}

bool oci_quiet_stderr;

void oci_error(const struct oci_ctx *o, const char *fmt, ...)
{
	char msg[2048], ts[96];
	struct buf b = BUF_INIT;
	va_list ap;
	int fd;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!oci_quiet_stderr)
		fprintf(stderr, OCI_PROG ": %s\n", msg);
	if (!o || !o->log)
		return;
	oci_time(ts, sizeof(ts));
	if (o->log_json) {
		struct json_writer w;
		jw_init(&w, &b, false);
		jw_obj_begin(&w);
		jw_key(&w, "level");
		jw_str(&w, "error");
		jw_key(&w, "msg");
		jw_str(&w, msg);
		jw_key(&w, "time");
		jw_str(&w, ts);
		jw_obj_end(&w);
		buf_putc(&b, '\n');
	} else {
		buf_printf(&b, "time=\"%s\" level=error msg=\"%s\"\n", ts, msg);
	}
	fd = open(o->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		/* One write per line: O_APPEND keeps lines whole. */
		write_all(fd, b.data, b.len);
		close(fd);
	}
	buf_free(&b);
}

struct oci_cmd {
	const char *name;
	int (*fn)(struct oci_ctx *, int, char **);
};

static const struct oci_cmd oci_cmds[] = {
	{ "create", oci_create }, { "start", oci_start }, { "run", oci_run },
	{ "state", oci_state }, { "kill", oci_kill }, { "delete", oci_delete },
	{ "exec", oci_exec }, { "list", oci_list }, { "ps", oci_ps },
	{ "features", oci_features },
};

enum { OPT_ROOT = 256, OPT_LOG, OPT_LOG_FORMAT, OPT_IGNORE, OPT_DEBUG };

static const struct option oci_global_opts[] = {
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "systemd-cgroup", no_argument, NULL, OPT_IGNORE },
	{ "rootless", required_argument, NULL, OPT_IGNORE },
	{ "criu", required_argument, NULL, OPT_IGNORE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'v' },
	{ 0 }
};

int oci_main(int argc, char **argv)
{
	struct oci_ctx o = { .root = OCI_DEFAULT_ROOT };
	bool root_given = false;
	int c;

	while ((c = getopt_long(argc, argv, "+hv", oci_global_opts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			o.root = optarg;
			root_given = true;
			break;
		case OPT_LOG:
			o.log = optarg;
			break;
		case OPT_LOG_FORMAT:
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
				oci_error(&o, "--log-format %s: want text or json", optarg);
				return 1;
			}
			o.log_json = strcmp(optarg, "json") == 0;
			break;
		case OPT_DEBUG:
			log_set_level(LOG_DEBUG);
			break;
		case OPT_IGNORE:
			break;
		case 'h':
			oci_usage(stdout);
			return 0;
		case 'v':
			printf(OCI_PROG " version %s\nspec: 1.1.0\n", UCRT_VERSION);
			return 0;
		default:
			oci_usage(stderr);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		oci_usage(stderr);
		return 1;
	}
	/* Rootless (podman run by a user): state in the user's runtime
	 * directory, as runc keeps it in $XDG_RUNTIME_DIR/runc. */
	_cleanup_free_ char *rundir = NULL;
	if (!root_given && geteuid() != 0) {
		struct err e = { 0 };
		if (cli_runtime_dir("oci", &rundir, &e) < 0) {
			oci_error(&o, "%s", err_msg(&e));
			return 1;
		}
		o.root = rundir;
	}
	for (size_t i = 0; i < ARRAY_SIZE(oci_cmds); i++) {
		if (strcmp(argv[0], oci_cmds[i].name) == 0) {
			optind = 1;
			return oci_cmds[i].fn(&o, argc, argv);
		}
	}
	oci_error(&o, "unknown command '%s'; see '" OCI_PROG " --help'", argv[0]);
	return 1;
}
