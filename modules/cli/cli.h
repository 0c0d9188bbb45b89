/* Shared state of the `ucrt` command and the command table. Commands live in
 * modules/cli/cmd-*.c and are listed in commands.h. A command returns the
 * process exit status (docker's: the container's own status, 125 when ucrt
 * itself failed). */
#ifndef UCRT_CLI_H
#define UCRT_CLI_H

#include <stdbool.h>

struct err;
struct loop;

struct cli_ctx {
	const char *root;	/* store root (--root, else default) */
	bool root_given;	/* --root was on the command line */
	const char *prog;	/* argv[0] */
};

#define EXIT_RUNTIME 125
#define EXIT_CANNOT_INVOKE 126
#define EXIT_NOT_FOUND 127

/* The process's reactor, created on first use; exits 125 with a clear
 * message when io_uring is unavailable. */
struct loop *cli_loop(void);

/* Print "ucrt: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Is the command's first argument --help or -h? Then usage goes to stdout
 * and the command does nothing else. Only the first argument counts: what
 * follows a command's own options may be another program's (run IMG
 * grep --help). */
bool cli_help(int argc, char **argv, const char *usage);

/* A private directory for runtime files of one kind (name): as an
 * ordinary user $XDG_RUNTIME_DIR/ucrt/NAME, else /tmp/ucrt-<uid>/NAME;
 * made 0700 when missing, refused (-EPERM, err says why) when it is not a
 * directory of the caller's closed to others (rundir.c). */
int cli_runtime_dir(const char *name, char **out, struct err *err);

/* Ask on the terminal (prompt.c): the line typed, without echo unless
 * echo; NULL when stdin is not a terminal or at end of input. */
char *cli_prompt(const char *label, bool echo);

/* getenv as the lookup that ctr_env_arg/ctr_env_file take (-e KEY). */
const char *cli_getenv(const char *key);

/* The net_stats counters as "key": value members of the open JSON object
 * (shared by `network ls` and `stats`, whose outputs name them alike). */
struct json_writer;
struct net_stats;
void cli_net_stats_json(struct json_writer *w, const struct net_stats *s);

/* `ucrt run` (create false) and `ucrt create`: one option parser. */
int cli_run(struct cli_ctx *ctx, int argc, char **argv, bool create);

/* The command table (commands.h), ended by a NULL name; `__complete`
 * walks it. */
struct cli_cmd {
	const char *group, *name, *summary;
	int (*fn)(struct cli_ctx *, int, char **);
};
extern const struct cli_cmd cli_commands[];

#define CMD(group, name, fn, summary) int fn(struct cli_ctx *ctx, int argc, char **argv);
#include "commands.h"
#undef CMD

#endif
