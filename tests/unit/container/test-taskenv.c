/* UCRT_TASK_INDEX/UCRT_TASK_COUNT from Slurm's and Kubernetes' variables
 * (ctr_task_env_derive), and the config.json of `ucrt bundle create`
 * (ctr_bundle_config_json) read back by the bundle parser. */
#include <stdlib.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"

static char *derive(const char *const *in)
{
	char **env = NULL;
	const char *i, *n;
	char *out;

	for (; in && *in; in++)
		strv_push(&env, *in);
	ctr_task_env_derive(&env);
	i = ctr_env_get(env, "UCRT_TASK_INDEX");
	n = ctr_env_get(env, "UCRT_TASK_COUNT");
	out = xasprintf("%s/%s", i ? i : "-", n ? n : "-");
	strv_free(env);
	return out;
}

static void t_derive(void)
{
	static const struct {
		const char *env[6];
		const char *want, *name;
	} cases[] = {
		{ { "PATH=/bin", NULL }, "-/-", "no scheduler: nothing" },
		{ { "SLURM_ARRAY_TASK_ID=3", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=8", NULL },
		  "3/8", "array 0-7" },
		{ { "SLURM_ARRAY_TASK_ID=5", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_COUNT=8", NULL },
		  "4/8", "array 1-8 counts from 0" },
		{ { "SLURM_ARRAY_TASK_ID=5", NULL }, "5/-", "array id alone" },
		{ { "SLURM_ARRAY_TASK_ID=x", "SLURM_PROCID=2", "SLURM_NTASKS=4", NULL },
		  "2/4", "a bad array id falls back to the step's rank" },
		{ { "SLURM_PROCID=1", "SLURM_NPROCS=3", NULL }, "1/3", "SLURM_NPROCS" },
		{ { "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=1", NULL }, "0/1", "one-task step without PROCID" },
		{ { "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=2", NULL }, "-/-", "several tasks, no PROCID: unknown" },
		{ { "JOB_COMPLETION_INDEX=7", "UCRT_TASK_COUNT=10", NULL }, "7/10", "Kubernetes Indexed Job" },
		{ { "UCRT_TASK_INDEX=9", "SLURM_ARRAY_TASK_ID=1", NULL }, "9/-", "explicit UCRT_TASK_INDEX wins" },
		{ { "SLURM_ARRAY_TASK_ID=99999999999", NULL }, "-/-", "out of range" },
		{ { "SLURM_ARRAY_TASK_ID=", NULL }, "-/-", "empty" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = derive(cases[i].env);
		t_streq(got, cases[i].want, cases[i].name);
		free(got);
	}
}

static void t_config(void)
{
	char *argv[] = { "sh", "-c", "echo \"hi\"", NULL };
	char *env[] = { "PATH=/bin", "SLURM_ARRAY_TASK_ID=2", NULL };
	struct ctr_spec s = { .argv = argv, .env = env, .cwd = "/srv", .uid = 1000, .gid = 50 };
	struct ctr_bundle_make mk = { .spec = &s, .image_ref = "reg/x:1", .image_id = "sha256:ab",
				      .cpus = 2, .mem_mib = 512 };
	struct ctr_bundle b;
	struct err e = { 0 };
	char *json = ctr_bundle_config_json(&mk);

	t_ok(ctr_bundle_parse(json, strlen(json), NULL, &b, &e) == 0, "config.json parses: %s", err_msg(&e));
	t_streq(b.cfg.spec.argv[2], "echo \"hi\"", "args kept (quotes escaped)");
	t_streq(b.cfg.spec.cwd, "/srv", "cwd");
	t_ok(b.cfg.spec.uid == 1000 && b.cfg.spec.gid == 50, "uid and gid");
	t_ok(b.cfg.read_only, "root read-only by default");
	t_streq(b.cfg.root_dir, "rootfs", "root.path rootfs");
	t_ok(b.cfg.cpus == 2 && b.cfg.mem_mib == 512, "cpus and memory from linux.resources");
	t_streq(ctr_env_get(b.cfg.spec.env, "UCRT_TASK_INDEX"), "2", "the parser derives the task index");
	t_ok(b.cfg.nmounts == 1 && strcmp(b.cfg.mounts[0].dst, "/tmp") == 0 &&
	     b.cfg.mounts[0].type == CTR_MOUNT_TMPFS, "only /tmp is a mount for ucrt (the rest is guest-init's)");
	t_ok(strstr(json, "\"org.opencontainers.image.ref.name\": \"reg/x:1\"") != NULL, "image annotation");
	ctr_bundle_free(&b);
	free(json);
	mk.writable = true;
	json = ctr_bundle_config_json(&mk);
	t_ok(strstr(json, "\"readonly\": false") != NULL, "--writable");
	free(json);
	mk.as_disk = true;
	json = ctr_bundle_config_json(&mk);
	t_ok(strstr(json, "\"readonly\": true") && strstr(json, "\"io.github.ucrt.rootfs\": \"ext4\""),
	     "a disk root is read-only whatever --writable says");
	free(json);
}

int main(void)
{
	t_derive();
	t_config();
	return t_done();
}
