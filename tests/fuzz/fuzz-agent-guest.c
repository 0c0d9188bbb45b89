/* libFuzzer target: guest-init's parsers of host requests (process specs
 * and CONFIG). The host is trusted more than the guest, but a bug on the
 * host must not crash PID 1. guest-init is a separate static program, so
 * its parser sources are compiled into this harness directly; only the
 * parse functions run (no fork, no netlink, no sethostname, no mount). */
#include "guest-init/proc.c"
#include "guest-init/config.c"
#include "guest-init/net.c"
#include "guest-init/mount-data.c"
#include "guest-init/binfmt.c"
#include "guest-init/pod.c"

/* main.c's logging, which the harness does not link. */
bool gi_debug;
void gi_log(const char *fmt, ...)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gi_spec s;
	struct gi_config *c;
	char msg[256];

	if (size > PROTO_MAX_PAYLOAD)
		return 0;
	if (gi_spec_parse(&s, data, size, msg, sizeof(msg)) == 0) {
		size_t n = 0;
		while (s.argv[n])
			n++;
		if (n == 0 || n > PROTO_MAX_ARGS || (s.cwd && s.cwd[0] != '/'))
			__builtin_trap();
		gi_spec_free(&s);
	}
	c = calloc(1, sizeof(*c));
	if (c && gi_config_parse(c, data, size, msg, sizeof(msg)) == 0) {
		if (strlen(c->hostname) > PROTO_MAX_HOSTNAME || c->naddrs > GI_MAX_ADDRS ||
		    memchr(c->resolv, '\0', c->resolv_len) || c->nmounts > PROTO_MAX_MOUNTS)
			__builtin_trap();
		for (unsigned i = 0; i < c->nmounts; i++) {
			const struct gi_mount *m = &c->mounts[i];
			if (m->target[0] != '/' || strstr(m->target, "/../") || !m->src[0] ||
			    m->kind < PROTO_MOUNT_9P || m->kind > PROTO_MOUNT_BINFMT)
				__builtin_trap();
		}
	}
	free(c);
	return 0;
}
