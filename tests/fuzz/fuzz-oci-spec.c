/* libFuzzer target: runtime-spec config.json (as podman, containerd or
 * anyone writing a bundle hands it over) and signal names. What parses
 * must be runnable as ucrt assumes: a non-empty argv, an absolute cwd,
 * env entries KEY=VALUE, mount targets absolute and normalised, vCPUs and
 * memory within the bounds the VM takes; signals within 1..SIGRTMAX. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct ctr_bundle *b)
{
	const struct ctr_config *c = &b->cfg;

	if (!c->spec.argv || !c->spec.argv[0] || !c->spec.argv[0][0] || !c->spec.cwd || c->spec.cwd[0] != '/')
		abort();
	for (char **e = c->spec.env; e && *e; e++) {
		if (!strchr(*e, '=') || **e == '=')
			abort();
	}
	for (size_t i = 0; i < c->nmounts; i++) {
		const char *d = c->mounts[i].dst;
		size_t n = strlen(d);
		if (d[0] != '/' || n < 2 || d[n - 1] == '/' || strstr(d, "//") || strstr(d, "/../") ||
		    strstr(d, "/./") || (c->mounts[i].type == CTR_MOUNT_BIND && !c->mounts[i].src))
			abort();
	}
	if (c->cpus > 64 || (c->mem_mib && c->mem_mib < 64) || !c->root_dir)
		abort();
	if (b->netns && b->netns[0] != '/')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_bundle b;
	struct err e = { 0 };
	char *s;
	int sig;

	if (ctr_bundle_parse((const char *)data, size, NULL, &b, &e) == 0) {
		check(&b);
		ctr_bundle_free(&b);
	}
	if (size < 64) {
		s = xstrndup((const char *)data, size);
		sig = ctr_signal_parse(s);
		if (sig != -22 && (sig < 1 || sig > SIGRTMAX))
			abort();
		free(s);
	}
	return 0;
}
