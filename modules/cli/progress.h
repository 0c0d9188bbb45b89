/* Per-layer transfer progress (progress.c): bars redrawn in place on a
 * terminal, one line per finished layer otherwise. Shared by `image
 * pull|push` (on stdout) and the pull `run` starts (on stderr, stdout
 * being the container's). */
#ifndef UCRT_CLI_PROGRESS_H
#define UCRT_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "oci/oci.h"

#define CLI_BAR_MAX 64

struct cli_bar {
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t done, total, start_done;
	uint64_t t0;
	const char *state;
};

struct cli_progress {
	FILE *out;
	bool tty, quiet;
	struct cli_bar bars[CLI_BAR_MAX];
	size_t n, drawn;
	uint64_t last_draw;
};

void cli_progress_init(struct cli_progress *pg, FILE *out, bool quiet);
/* A reg_progress callback (arg: the struct cli_progress). */
struct reg_progress;
void cli_progress_event(void *arg, const struct reg_progress *p);
/* The bars' final state. */
void cli_progress_end(struct cli_progress *pg);

#endif
