/* --label: KEY[=VALUE] parsing (a repeated key replaces, bad keys are
 * refused) and the labels' round trip through config.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

int main(void)
{
	char **l = NULL;
	struct err e = { 0 };
	char root[] = "/tmp/ucrt-test-labels-XXXXXX";

	t_plan(9);
	t_ok(ctr_label_arg(&l, "a=1", &e) == 0 && ctr_label_arg(&l, "b", &e) == 0 &&
	     ctr_label_arg(&l, "c=x=y", &e) == 0, "KEY=VALUE, KEY alone, = in the value");
	t_ok(ctr_label_arg(&l, "a=2", &e) == 0, "a repeated key");
	t_ok(strv_len(l) == 3 && strcmp(l[0], "a=2") == 0 && strcmp(l[1], "b=") == 0 && strcmp(l[2], "c=x=y") == 0,
	     "replaces the earlier value in place; a missing value is empty");
	t_ok(ctr_label_arg(&l, "=v", &e) == -EINVAL && strstr(e.msg, "'=v'") && strstr(e.msg, "empty key"),
	     "an empty key is refused: %s", e.msg);
	t_ok(ctr_label_arg(&l, "k=a\nb", &e) == -EINVAL && strstr(e.msg, "control"), "a newline is refused");
	t_is(strv_len(l), 3, "refused labels add nothing");

	if (!mkdtemp(root))
		return 1;
	struct ctr_config c = { .name = xstrdup("lab"), .disk = xstrdup("/d.ext4"), .labels = l };
	strv_push(&c.spec.argv, "true");
	t_ok(ctr_create(root, &c, &e) == 0, "create with labels: %s", e.msg);
	struct ctr_config r;
	t_ok(ctr_config_read(root, c.id, &r, &e) == 0, "read back");
	t_ok(r.labels && strv_len(r.labels) == 3 && strcmp(r.labels[0], "a=2") == 0 &&
	     strcmp(r.labels[2], "c=x=y") == 0, "labels survive config.json in order");
	ctr_config_free(&r);
	ctr_config_free(&c);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd)) {
	}
	return t_failed ? 1 : 0;
}
