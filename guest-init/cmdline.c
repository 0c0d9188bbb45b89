/* Kernel command line: the ucrt.* parameters (documented in
 * modules/agent/proto.h and docs/guest-init.md). Unknown ones are ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gi.h"

static void gi_copy(char *dst, size_t cap, const char *v, size_t vlen)
{
	if (vlen >= cap)
		vlen = cap - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = 0;
}

static void gi_cmdline_one(struct gi_cmdline *c, const char *w, size_t len)
{
	const char *eq = memchr(w, '=', len);
	size_t klen = eq ? (size_t)(eq - w) : len;
	const char *v = eq ? eq + 1 : "";
	size_t vlen = eq ? len - klen - 1 : 0;

#define KEY(k) (klen == sizeof(k) - 1 && memcmp(w, k, klen) == 0)
	if (KEY("ucrt.root"))
		gi_copy(c->root, sizeof(c->root), v, vlen);
	else if (KEY("ucrt.rootfstype"))
		gi_copy(c->fstype, sizeof(c->fstype), v, vlen);
	else if (KEY("ucrt.rootflags"))
		gi_copy(c->rootflags, sizeof(c->rootflags), v, vlen);
	else if (KEY("ucrt.ro"))
		c->ro = true;
	else if (KEY("ucrt.overlay"))
		c->overlay = vlen == 5 && memcmp(v, "tmpfs", 5) == 0;
	else if (KEY("ucrt.debug"))
		c->debug = true;
	else if (KEY("ucrt.template"))
		c->template = true;
	else if (KEY("ucrt.ephemeral"))
		c->ephemeral = true;
	else if (KEY("ucrt.vsock")) {
		char num[16];
		gi_copy(num, sizeof(num), v, vlen);
		c->vsock_port = (unsigned)strtoul(num, NULL, 10);
	}
#undef KEY
}

void gi_cmdline_parse(struct gi_cmdline *c, const char *s)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->root, "/dev/vda");
	strcpy(c->fstype, "ext4");
	gi_cmdline_apply(c, s);
}

void gi_cmdline_apply(struct gi_cmdline *c, const char *s)
{
	while (*s) {
		size_t n;

		while (*s == ' ' || *s == '\n' || *s == '\t')
			s++;
		n = strcspn(s, " \t\n");
		if (n)
			gi_cmdline_one(c, s, n);
		s += n;
	}
}
