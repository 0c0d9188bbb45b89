/* Questions on the terminal (`login` without -p): the answer read from
 * stdin when it is a terminal, echo off for secrets. The terminal's
 * settings come back on every path, also when Ctrl-C ends the prompt. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

static struct termios saved;
static volatile sig_atomic_t restoring;

static void prompt_restore_and_die(int sig)
{
	if (restoring)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

char *cli_prompt(const char *label, bool echo)
{
	char line[1024];
	struct sigaction sa = { .sa_handler = prompt_restore_and_die }, old_int, old_term;

	if (!isatty(STDIN_FILENO))
		return NULL;
	/* echo off before the prompt shows: what is typed once it is
	 * visible must neither echo nor be flushed away */
	if (!echo && tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios t = saved;
		t.c_lflag &= ~(tcflag_t)ECHO;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		restoring = 1;
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	fprintf(stderr, "%s", label);
	fflush(stderr);
	char *r = fgets(line, sizeof(line), stdin);
	if (restoring) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		restoring = 0;
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		fputc('\n', stderr);	/* the Enter the user typed was not echoed */
	}
	if (!r)
		return NULL;
	line[strcspn(line, "\r\n")] = 0;
	return xstrdup(line);
}
