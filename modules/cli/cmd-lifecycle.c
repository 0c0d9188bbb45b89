/* Lifecycle of existing containers: logs, exec, stop, kill, rm,
 * and the hidden `__supervise` that a detached container's supervisor
 * runs as. Detached containers are reached through their supervisor's
 * ctl.sock; a container run in the foreground is owned by that ucrt
 * process, which forwards SIGTERM/SIGKILL like docker's sig-proxy; a
 * running `run --parallel` instance through its run's socket
 * (stop, kill, rm -f only). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "util.h"

static int lc_find(struct cli_ctx *ctx, const char *what, char id[CTR_ID_LEN + 1])
{
	struct err e = { 0 };

	if (ctr_find(ctx->root, what, id, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return -ENOENT;
	}
	return 0;
}

/* A container (0, id set) or, for the commands that can reach one, a
 * running --parallel instance (1, *in set); < 0 when neither (said). */
static int lc_find_any(struct cli_ctx *ctx, const char *what, char id[CTR_ID_LEN + 1], struct ctr_instance *in)
{
	struct err e = { 0 };

	if (ctr_find(ctx->root, what, id, &e) == 0)
		return 0;
	if (e.code == EBUSY && ctr_instance_find(ctx->root, what, in) == 0)
		return 1;
	cli_error("%s", err_msg(&e));
	return -ENOENT;
}

/* Ask an instance's run; wait_ms: until its VM is gone. */
static int lc_instance(struct cli_ctx *ctx, struct ctr_instance *in, enum ctr_ireq_op op, unsigned arg,
		       unsigned wait_ms)
{
	struct ctr_ireq rq = { .op = op, .index = in->index, .arg = arg };
	struct err e = { 0 };
	int r = ctr_instance_request(ctx->root, in, &rq, wait_ms, &e);

	if (r < 0)
		cli_error("%s", err_msg(&e));
	ctr_instance_free(in);
	return r;
}

/* An instance's VM gone after a stop's grace: QEMU's exit and the run's
 * bookkeeping on a loaded host (TCG) fit well within this. */
#define LC_INSTANCE_END_MS 30000u

/* docker: "requires at least 1 argument"; doing nothing and exiting 0
 * would hide a script's empty list. */
static int lc_need_args(int argc, const char *cmd)
{
	if (optind < argc)
		return 0;
	cli_error("\"ucrt %s\" requires at least one container", cmd);
	return -EINVAL;
}

int cmd_supervise(struct cli_ctx *ctx, int argc, char **argv)
{
	/* __supervise [--hold] ID (ctr_spawn_supervisor's command line) */
	if (argc == 3 && strcmp(argv[1], "--hold") == 0)
		return ctr_supervise(ctx->root, argv[2], true);
	if (argc != 2)
		return EXIT_RUNTIME;
	return ctr_supervise(ctx->root, argv[1], false);
}

/* ---- exec ---- */

int cmd_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool tty = false, in = false;
	const char *wd = NULL, *user = NULL;
	_cleanup_strv_ char **env = NULL;
	char id[CTR_ID_LEN + 1];
	struct ctr_config cfg;
	struct err e = { 0 };
	int c, status;

	while ((c = getopt_long(argc, argv, "+ite:w:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': in = true; break;
		case 't': tty = true; break;
		case 'w': wd = optarg; break;
		case 'u': user = optarg; break;
		case 'e':
			if (ctr_env_arg(&env, optarg, cli_getenv, &e) < 0) {
				cli_error("%s", err_msg(&e));
				return EXIT_RUNTIME;
			}
			break;
		default:
			printf("Usage: ucrt exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]\n");
			return c == 'h' ? 0 : EXIT_RUNTIME;
		}
	}
	if (optind + 2 > argc) {
		cli_error("\"ucrt exec\" requires a container and a command");
		return EXIT_RUNTIME;
	}
	if (lc_find(ctx, argv[optind], id) < 0 || ctr_config_read(ctx->root, id, &cfg, &e) < 0) {
		if (e.code)
			cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	struct ctr_overrides ov = { .cmd = argv + optind + 1, .env = env, .workdir = wd, .user = user,
				    .term = getenv("TERM") };
	struct ctr_spec s;
	status = ctr_exec_spec(&cfg, &ov, tty, in, &s, &e) < 0 ? EXIT_RUNTIME : 0;
	if (status == 0)
		status = ctr_ctl_exec(ctx->root, id, &s, &e);
	if (e.code)
		cli_error("%s", err_msg(&e));
	ctr_spec_free(&s);
	ctr_config_free(&cfg);
	return status;
}

/* ---- stop, kill ---- */

/* Send a request to the container's owner: the supervisor's socket, or
 * a signal to the foreground ucrt that runs it. */
static int lc_signal(struct cli_ctx *ctx, const char *id, const char *req, int fallback_sig)
{
	struct ctr_state s;
	struct err e = { 0 };

	if (ctr_refresh(ctx->root, id, &s) != CTR_RUNNING) {
		cli_error("container %.12s is not running", id);
		return -ESRCH;
	}
	if (ctr_ctl_simple(ctx->root, id, req, &e) == 0)
		return 0;
	if (e.code == ESRCH && ctr_proc_alive(s.owner, s.owner_start) && s.owner != getpid()) {
		kill(s.owner, fallback_sig);
		return 0;
	}
	cli_error("%s", err_msg(&e));
	return -EIO;
}

static bool lc_wait_stopped(struct cli_ctx *ctx, const char *id, unsigned ms)
{
	struct ctr_state s;

	for (unsigned t = 0; t < ms; t += 50) {
		if (ctr_refresh(ctx->root, id, &s) != CTR_RUNNING && s.status != CTR_CREATED)
			return true;
		usleep(50000);
	}
	return false;
}

int cmd_stop(struct cli_ctx *ctx, int argc, char **argv)
{
	uint64_t secs = 10;
	int c, status = 0;

	if (cli_help(argc, argv, "Usage: ucrt stop [-t SECS] CONTAINER...\n"
			       "SIGTERM, then end the VM after SECS (default 10).\n"))
		return 0;
	while ((c = getopt(argc, argv, "+t:h")) != -1) {
		if (c == 't' && str_to_u64(optarg, &secs) == 0 && secs <= 3600)
			continue;
		printf("Usage: ucrt stop [-t SECS] CONTAINER...\nSIGTERM, then end the VM after SECS (default 10).\n");
		return c == 'h' ? 0 : EXIT_RUNTIME;
	}
	if (lc_need_args(argc, "stop") < 0)
		return EXIT_RUNTIME;
	for (int i = optind; i < argc; i++) {
		char id[CTR_ID_LEN + 1];
		struct ctr_instance in;
		struct err e = { 0 };
		int k = lc_find_any(ctx, argv[i], id, &in);

		/* A process that ignores SIGTERM is killed after the grace and
		 * ends as Exited (137); a stopped container stays so, quietly. */
		if (k < 0)
			status = EXIT_RUNTIME;
		else if (k == 1) {
			if (lc_instance(ctx, &in, CTR_IREQ_STOP, (unsigned)secs,
					(unsigned)secs * 1000u + LC_INSTANCE_END_MS) < 0)
				status = EXIT_RUNTIME;
			else
				printf("%s\n", argv[i]);
		} else if (ctr_stop_wait(ctx->root, id, (unsigned)secs, &e) < 0) {
			cli_error("%s", err_msg(&e));
			status = EXIT_RUNTIME;
		} else
			printf("%s\n", argv[i]);
	}
	return status;
}

int cmd_kill(struct cli_ctx *ctx, int argc, char **argv)
{
	if (cli_help(argc, argv, "Usage: ucrt kill [-s SIGNAL] CONTAINER...\n"
			       "Send a signal (default SIGKILL) to containers' main processes.\n"))
		return 0;
	int sig = SIGKILL, c, status = 0;

	while ((c = getopt(argc, argv, "+s:h")) != -1) {
		if (c == 's') {
			const char *n = str_startswith(optarg, "SIG") ? optarg + 3 : optarg;
			uint64_t v;
			sig = 0;
			if (str_to_u64(n, &v) == 0 && v > 0 && v < 65)
				sig = (int)v;
			for (int k = 1; k < 32 && !sig; k++) {
				const char *abbr = sigabbrev_np(k);
				if (abbr && strcasecmp(abbr, n) == 0)
					sig = k;
			}
			if (sig)
				continue;
			cli_error("invalid signal '%s'", optarg);
			return EXIT_RUNTIME;
		}
		printf("Usage: ucrt kill [-s SIGNAL] CONTAINER...\n");
		return c == 'h' ? 0 : EXIT_RUNTIME;
	}
	if (lc_need_args(argc, "kill") < 0)
		return EXIT_RUNTIME;
	for (int i = optind; i < argc; i++) {
		char id[CTR_ID_LEN + 1], req[32];
		struct ctr_instance in;
		int k = lc_find_any(ctx, argv[i], id, &in);

		if (k == 1) {
			/* As for a container: SIGKILL returns once it ended. */
			if (lc_instance(ctx, &in, CTR_IREQ_KILL, (unsigned)sig,
					sig == SIGKILL ? LC_INSTANCE_END_MS : 0) < 0)
				status = EXIT_RUNTIME;
			else
				printf("%s\n", argv[i]);
			continue;
		}
		snprintf(req, sizeof(req), "kill %d", sig);
		if (k < 0 || lc_signal(ctx, id, req, sig) < 0) {
			status = EXIT_RUNTIME;
			continue;
		}
		if (sig == SIGKILL)
			lc_wait_stopped(ctx, id, 10000);
		printf("%s\n", argv[i]);
	}
	return status;
}

/* ---- rm ---- */

int cmd_rm(struct cli_ctx *ctx, int argc, char **argv)
{
	bool force = false;
	int c, status = 0;

	if (cli_help(argc, argv, "Usage: ucrt rm [-f] CONTAINER...\nRemove containers (-f: kill running ones first).\n"))
		return 0;
	while ((c = getopt(argc, argv, "+fh")) != -1) {
		if (c == 'f') {
			force = true;
			continue;
		}
		printf("Usage: ucrt rm [-f] CONTAINER...\nRemove containers (-f: kill running ones first).\n");
		return c == 'h' ? 0 : EXIT_RUNTIME;
	}
	if (lc_need_args(argc, "rm") < 0)
		return EXIT_RUNTIME;
	for (int i = optind; i < argc; i++) {
		char id[CTR_ID_LEN + 1];
		struct ctr_instance in;
		struct err e = { 0 };
		int k = lc_find_any(ctx, argv[i], id, &in);

		if (k < 0) {
			status = EXIT_RUNTIME;
			continue;
		}
		if (k == 1) {
			/* An instance has no container directory: once its VM
			 * is gone, nothing of it is left to remove. */
			if (!force) {
				cli_error("cannot remove %s: it is a running instance of the `ucrt run --parallel` "
					  "with pid %d: stop it first or use rm -f", argv[i], (int)in.owner);
				ctr_instance_free(&in);
				status = EXIT_RUNTIME;
			} else if (lc_instance(ctx, &in, CTR_IREQ_KILL, SIGKILL, LC_INSTANCE_END_MS) < 0)
				status = EXIT_RUNTIME;
			else
				printf("%s\n", argv[i]);
			continue;
		}
		if (ctr_remove(ctx->root, id, force, &e) < 0) {
			cli_error("%s", err_msg(&e));
			status = EXIT_RUNTIME;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return status;
}
