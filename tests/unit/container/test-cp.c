/* ucrt cp's check of the entry names a guest sends back: only below the
 * top-level name asked for, relative, no "..", renamed as docker's
 * destination rule says. (The copies themselves: run-cp.sh.) */
#include <string.h>

#include "container/container-internal.h"
#include "tests/lib/tap.h"

static const char *t_name(const char *name, const char *top, const char *newtop)
{
	static char out[256];

	return ctr_cp_entry_name(name, top, newtop, out, sizeof(out)) ? out : NULL;
}

int main(void)
{
	t_streq(t_name("tree", "tree", "tree"), "tree", "the top entry");
	t_streq(t_name("tree/sub/x", "tree", "copy"), "copy/sub/x", "below it, renamed");
	t_streq(t_name("./tree/f", "tree", "tree"), "tree/f", "a leading ./ dropped");
	t_ok(!t_name("/etc/passwd", "tree", "tree"), "an absolute name refused");
	t_ok(!t_name("tree/../../etc/passwd", "tree", "tree"), "\"..\" refused");
	t_ok(!t_name("tree/a/..", "tree", "tree"), "a trailing \"..\" refused");
	t_ok(!t_name("other/f", "tree", "tree"), "another top-level name refused");
	t_ok(!t_name("treehouse/f", "tree", "tree"), "a name that only starts like top refused");
	t_ok(!t_name("", "tree", "tree"), "empty refused");
	t_ok(t_name("tree/..x", "tree", "tree") != NULL, "\"..x\" is a name like any other");
	char small[8];
	t_ok(!ctr_cp_entry_name("tree/long/name", "tree", "tree", small, sizeof(small)), "too long for out refused");
	return t_done();
}
