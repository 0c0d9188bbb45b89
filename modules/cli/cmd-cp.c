/* `ucrt cp SRC DST`: one side is CONTAINER:PATH, the other a host path
 * (docker's rule: a ':' before any '/' names a container). Copies
 * through a running detached container's guest (modules/container/cp.c),
 * out of a stopped one's disk, into a stopped one through its VM booted
 * with the process held (cp-stopped.c): ownership, modes, symlinks and
 * hardlinks kept. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "util.h"

static const char cp_usage[] =
	"Usage: ucrt cp CONTAINER:SRC_PATH DEST_PATH\n"
	"       ucrt cp SRC_PATH CONTAINER:DEST_PATH\n"
	"Copy files or directories between a container and the host. A stopped container\n"
	"is read from its disk, or written to by booting its VM without starting its\n"
	"process (its state is kept). Into DEST when it is a directory, else as DEST.\n"
	"Owners, modes, symlinks and hardlinks are kept; paths in the container are\n"
	"resolved inside it.\n";

/* "name:path" -> name (in buf) and the path; NULL when arg is a host path. */
static const char *cp_split(const char *arg, char *name, size_t cap)
{
	const char *colon = strchr(arg, ':'), *slash = strchr(arg, '/');

	if (!colon || colon == arg || (slash && slash < colon) || (size_t)(colon - arg) >= cap)
		return NULL;
	snprintf(name, cap, "%.*s", (int)(colon - arg), arg);
	return colon + 1;
}

int cmd_cp(struct cli_ctx *ctx, int argc, char **argv)
{
	char sname[256], dname[256], id[CTR_ID_LEN + 1];
	const char *spath, *dpath;
	struct ctr_state st;
	struct err e = { 0 };
	int r;

	if (cli_help(argc, argv, cp_usage))
		return 0;
	if (argc != 3) {
		fputs(cp_usage, stderr);
		return EXIT_RUNTIME;
	}
	spath = cp_split(argv[1], sname, sizeof(sname));
	dpath = cp_split(argv[2], dname, sizeof(dname));
	if (!spath == !dpath) {
		cli_error("\"ucrt cp\" copies between a container and the host: one of SRC and DEST must be "
			  "CONTAINER:PATH");
		return EXIT_RUNTIME;
	}
	if (ctr_find(ctx->root, spath ? sname : dname, id, &e) < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	if ((spath ? spath : dpath)[0] != '/') {
		cli_error("the path in the container must be absolute: '%s'", spath ? spath : dpath);
		return EXIT_RUNTIME;
	}
	if (ctr_refresh(ctx->root, id, &st) != CTR_RUNNING) {
		r = dpath ? ctr_cp_to_stopped(ctx->root, id, argv[1], dpath, &e)
			  : ctr_cp_from_disk(ctx->root, id, spath, argv[2], &e);
		/* A start won the container's lock: copy through it once its
		 * process runs (its VM may still be booting; bounded like the
		 * guest timeout). */
		enum ctr_status now = CTR_CREATED;
		for (unsigned i = 0; r < 0 && e.code == EBUSY && i < 600; i++) {
			now = ctr_refresh(ctx->root, id, &st);
			if (now != CTR_CREATED || !ctr_proc_alive(st.owner, st.owner_start))
				break;
			usleep(50000);
		}
		if (r < 0 && e.code == EBUSY && now == CTR_RUNNING) {
			e = (struct err){ 0 };
			r = dpath ? ctr_cp_to(ctx->root, id, argv[1], dpath, &e)
				  : ctr_cp_from(ctx->root, id, spath, argv[2], &e);
		}
	} else if (spath) {
		r = ctr_cp_from(ctx->root, id, spath, argv[2], &e);
	} else {
		r = ctr_cp_to(ctx->root, id, argv[1], dpath, &e);
	}
	if (r < 0) {
		cli_error("%s", err_msg(&e));
		return EXIT_RUNTIME;
	}
	return 0;
}
