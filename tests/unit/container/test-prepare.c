/* From a request to a container (ctr_run_prepare) on a plain ext4 disk:
 * instances get no directory, a kept container gets config.json and its
 * overlay, a removed-at-exit one no overlay, a failure leaves nothing;
 * and the process of `exec` merged from the container's (ctr_exec_spec). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/container.h"
#include "err.h"
#include "loop.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static char root[64], disk[128];

static size_t t_count(void)
{
	char **ids = NULL;
	size_t n = 0;

	if (ctr_list(root, &ids) == 0)
		for (; ids[n]; n++)
			;
	strv_free(ids);
	return n;
}

static void t_instances(void)
{
	char *cmd[] = { "echo", "hi", NULL };
	struct ctr_run_request rq = { .rootfs = disk, .ov = { .cmd = cmd, .user = "app" }, .instances = true };
	struct ctr_image img = { 0 };
	struct ctr_config cfg = { 0 };
	struct err e = { 0 };

	t_is(ctr_run_prepare(NULL, root, &rq, &img, &cfg, &e), 0, "instances: prepared");
	t_streq(cfg.spec.argv ? cfg.spec.argv[0] : NULL, "echo", "the command line's command");
	t_ok(cfg.rm && cfg.cpus == 1 && cfg.accel && strcmp(cfg.accel, "auto") == 0,
	     "instances go away; one CPU and accel auto by default");
	t_ok(cfg.id[0] == 0 && t_count() == 0, "no container directory");
	t_is(cfg.spec.uid, 1000, "user resolved in the disk's /etc/passwd");
	ctr_config_free(&cfg);
	ctr_image_release(&img);
}

static void t_kept(bool rm)
{
	char *cmd[] = { "sh", NULL }, *env[] = { "A=1", NULL };
	struct ctr_run_request rq = { .rootfs = disk, .ov = { .cmd = cmd, .env = env }, .tty = true };
	struct ctr_image img = { 0 };
	struct ctr_config cfg = { .name = xstrdup(rm ? "gone" : "kept"), .rm = rm, .cpus = 2 };
	struct ctr_config back = { 0 };
	struct err e = { 0 };
	struct stat st;

	if (!t_ok(ctr_run_prepare(NULL, root, &rq, &img, &cfg, &e) == 0, "%s: prepared", cfg.name))
		printf("# %s\n", err_msg(&e));
	t_ok(ctr_config_read(root, cfg.id, &back, &e) == 0, "config.json written");
	t_streq(back.name, rm ? "gone" : "kept", "with the caller's name");
	t_ok(back.cpus == 2 && back.spec.tty, "and settings");
	t_streq(ctr_env_get(back.spec.env, "HOSTNAME"), back.hostname, "HOSTNAME is the hostname");
	t_ok(back.hostname && strlen(back.hostname) == CTR_SHORT_ID, "default hostname: the short id");
	t_ok(rm ? cfg.overlay == NULL : (cfg.overlay && stat(cfg.overlay, &st) == 0),
	     rm ? "removed at exit: no overlay" : "kept: its overlay exists");
	ctr_config_free(&back);
	ctr_remove(root, cfg.id, true, NULL);
	ctr_config_free(&cfg);
	ctr_image_release(&img);
}

static void t_failures(void)
{
	char *cmd[] = { "sh", NULL };
	struct ctr_run_request rq = { .rootfs = disk, .ov = { .cmd = cmd, .user = "nosuchuser" } };
	struct ctr_image img = { 0 };
	struct ctr_config cfg = { 0 };
	struct err e = { 0 };

	t_ok(ctr_run_prepare(NULL, root, &rq, &img, &cfg, &e) < 0, "unknown user: fails");
	t_ok(strstr(err_msg(&e), "nosuchuser") != NULL, "naming the user");
	t_is(t_count(), 0, "nothing left behind");
	ctr_config_free(&cfg);
	ctr_image_release(&img);

	struct ctr_mount m[2] = {
		{ .type = CTR_MOUNT_TMPFS, .dst = xstrdup("/x") },
		{ .type = CTR_MOUNT_TMPFS, .dst = xstrdup("/x") },
	};
	rq.ov.user = NULL;
	cfg = (struct ctr_config){ .mounts = xmalloc(sizeof(m)), .nmounts = 2 };
	memcpy(cfg.mounts, m, sizeof(m));
	err_clear(&e);
	t_ok(ctr_run_prepare(NULL, root, &rq, &img, &cfg, &e) < 0, "two mounts on one target: fails");
	t_is(t_count(), 0, "after ctr_create: the directory is removed again");
	ctr_config_free(&cfg);
	ctr_image_release(&img);

	rq.image = "busybox";
	cfg = (struct ctr_config){ 0 };
	t_is(ctr_run_prepare(NULL, root, &rq, &img, &cfg, &e), -EINVAL, "an image and a disk: refused");
	ctr_config_free(&cfg);
}

static void t_exec(void)
{
	char *env[] = { "A=1", "B=2", NULL }, *argv[] = { "sh", NULL };
	struct ctr_config cfg = { .disk = disk, .spec = { .env = env, .cwd = "/srv", .user = "app",
							  .uid = 1000, .gid = 1000, .argv = argv } };
	char *cmd[] = { "ls", "-l", NULL }, *xenv[] = { "B=3", "C=4", NULL };
	struct ctr_overrides o = { .cmd = cmd, .env = xenv };
	struct ctr_spec s;
	struct err e = { 0 };

	t_is(ctr_exec_spec(&cfg, &o, true, false, &s, &e), 0, "exec spec");
	t_ok(strcmp(s.argv[0], "ls") == 0 && strcmp(s.argv[1], "-l") == 0 && !s.argv[2], "its own command");
	t_ok(strcmp(ctr_env_get(s.env, "A"), "1") == 0 && strcmp(ctr_env_get(s.env, "B"), "3") == 0 &&
	     strcmp(ctr_env_get(s.env, "C"), "4") == 0, "the container's env, -e over it");
	t_ok(strcmp(s.cwd, "/srv") == 0 && s.uid == 1000 && s.gid == 1000 && s.tty && !s.stdin_open,
	     "the container's directory and user; its own tty and stdin");
	t_streq(ctr_env_get(s.env, "TERM"), "xterm", "a tty without TERM gets docker's xterm");
	ctr_spec_free(&s);
	o.term = "screen-256color";
	t_is(ctr_exec_spec(&cfg, &o, true, false, &s, &e), 0, "exec spec with the caller's TERM");
	t_streq(ctr_env_get(s.env, "TERM"), "screen-256color", "... the caller's terminal type");
	ctr_spec_free(&s);
	char *tenv[] = { "TERM=dumb", NULL };
	o.env = tenv;
	t_is(ctr_exec_spec(&cfg, &o, true, false, &s, &e), 0, "exec spec with -e TERM");
	t_streq(ctr_env_get(s.env, "TERM"), "dumb", "-e TERM wins");
	ctr_spec_free(&s);
	t_is(ctr_exec_spec(&cfg, &o, false, false, &s, &e), 0, "exec spec without a tty");
	t_streq(ctr_env_get(s.env, "B"), "2", "the container's env without the other -e");
	t_ok(strcmp(ctr_env_get(s.env, "TERM"), "dumb") == 0, "no tty: only what -e gave");
	ctr_spec_free(&s);
	o.env = xenv;
	t_is(ctr_exec_spec(&cfg, &o, false, false, &s, &e), 0, "exec spec, no tty, no -e TERM");
	t_ok(ctr_env_get(s.env, "TERM") == NULL, "no tty: no TERM");
	ctr_spec_free(&s);
	o.term = NULL;

	o.user = "root";
	o.workdir = "/tmp";
	t_is(ctr_exec_spec(&cfg, &o, false, true, &s, &e), 0, "-u root -w /tmp");
	t_ok(s.uid == 0 && s.gid == 0 && strcmp(s.cwd, "/tmp") == 0, "resolved in the image");
	ctr_spec_free(&s);

	o.workdir = "rel";
	t_is(ctr_exec_spec(&cfg, &o, false, true, &s, &e), -EINVAL, "relative -w: refused");
	o.workdir = NULL;
	o.cmd = NULL;
	t_is(ctr_exec_spec(&cfg, &o, false, true, &s, &e), -EINVAL, "no command: refused");
}

int main(void)
{
	char cmd[512];

	snprintf(root, sizeof(root), "/tmp/ucrt-prepare-test.XXXXXX");
	if (!mkdtemp(root))
		t_skip_all("mkdtemp");
	snprintf(disk, sizeof(disk), "%s/d.ext4", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/tree/etc && printf 'root:x:0:0::/root:/bin/sh\\n"
		 "app:x:1000:1000::/home/app:/bin/sh\\n' > %s/tree/etc/passwd && "
		 "mke2fs -q -F -t ext4 -d %s/tree %s 8M >/dev/null 2>&1", root, root, root, disk);
	if (system(cmd) != 0)
		t_skip_all("mke2fs -d not available");
	t_plan(43);
	t_instances();
	t_kept(true);
	t_kept(false);
	t_failures();
	t_exec();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", root);
	return t_failed ? 1 : 0;
}
