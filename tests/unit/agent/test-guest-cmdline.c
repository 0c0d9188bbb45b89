/* guest-init's kernel command line parser (ucrt.* parameters, built in
 * from guest-init/cmdline.c): defaults, each parameter, a template's
 * RESUME parameters applied over the booted ones, and words it ignores. */
#include <string.h>

#include "tests/lib/tap.h"
#include "guest-init/cmdline.c"

int main(void)
{
	struct gi_cmdline c;

	gi_cmdline_parse(&c, "console=ttyS0 quiet panic=-1");
	t_streq(c.root, "/dev/vda", "default root");
	t_streq(c.fstype, "ext4", "default fstype");
	t_streq(c.rootflags, "", "no rootflags");
	t_ok(!c.ro && !c.overlay && !c.debug && !c.template && !c.ephemeral && !c.vsock_port,
	     "no ucrt.* word: every flag off");

	gi_cmdline_parse(&c, "quiet ucrt.root=/dev/vdb ucrt.rootfstype=9p ucrt.rootflags=trans=virtio,msize=8192 "
			     "ucrt.ro ucrt.overlay=tmpfs ucrt.debug ucrt.vsock=1024 ucrt.ephemeral");
	t_streq(c.root, "/dev/vdb", "ucrt.root");
	t_streq(c.fstype, "9p", "ucrt.rootfstype");
	t_streq(c.rootflags, "trans=virtio,msize=8192", "ucrt.rootflags keeps its '='");
	t_ok(c.ro && c.overlay && c.debug, "ucrt.ro, ucrt.overlay=tmpfs, ucrt.debug");
	t_is(c.vsock_port, 1024, "ucrt.vsock");
	t_ok(c.ephemeral, "ucrt.ephemeral");
	t_ok(!c.template, "ucrt.template not given");

	gi_cmdline_parse(&c, "ucrt.overlay=disk ucrt.ephemeralx ucrt.rox");
	t_ok(!c.overlay && !c.ephemeral && !c.ro, "a prefix or another value is not the parameter");

	/* A clone: booted as the template, RESUME's words applied over it. */
	gi_cmdline_parse(&c, "quiet ucrt.template");
	t_ok(c.template && !c.ephemeral, "the template's own command line");
	gi_cmdline_apply(&c, "ucrt.ro ucrt.ephemeral");
	t_ok(c.template && c.ro && c.ephemeral, "RESUME's parameters added");
	t_streq(c.root, "/dev/vda", "root unchanged by RESUME");
	return t_done();
}
