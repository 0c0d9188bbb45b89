/* UCRT_TASK_INDEX / UCRT_TASK_COUNT from a cluster scheduler's own
 * variables, so a script written for `ucrt run --parallel` runs unchanged
 * as a Slurm array task or step, or as a Kubernetes Indexed Job pod
 * (docs/scale-out.md). The scheduler's variables stay as they are. */
#include <stdint.h>
#include <stdio.h>

#include "container/container.h"
#include "str.h"

static bool task_num(char *const *env, const char *key, uint64_t *v)
{
	const char *s = ctr_env_get(env, key);

	return s && str_to_u64(s, v) == 0 && *v <= UINT32_MAX;
}

static void task_set(char ***env, const char *key, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	ctr_env_set(env, key, s);
}

void ctr_task_env_derive(char ***env)
{
	uint64_t idx, count, min;

	/* What the user set explicitly wins. */
	if (ctr_env_get(*env, "UCRT_TASK_INDEX"))
		return;
	if (task_num(*env, "SLURM_ARRAY_TASK_ID", &idx)) {
		/* --array=1-8 gives 0..7 like --parallel 8; a step (":2") or a
		 * list leaves gaps, as it does in Slurm's own numbering. */
		if (task_num(*env, "SLURM_ARRAY_TASK_MIN", &min) && min <= idx)
			idx -= min;
		task_set(env, "UCRT_TASK_INDEX", idx);
		if (!ctr_env_get(*env, "UCRT_TASK_COUNT") && task_num(*env, "SLURM_ARRAY_TASK_COUNT", &count))
			task_set(env, "UCRT_TASK_COUNT", count);
	} else if (task_num(*env, "SLURM_PROCID", &idx)) {
		task_set(env, "UCRT_TASK_INDEX", idx);
		if (!ctr_env_get(*env, "UCRT_TASK_COUNT") &&
		    (task_num(*env, "SLURM_NTASKS", &count) || task_num(*env, "SLURM_NPROCS", &count)))
			task_set(env, "UCRT_TASK_COUNT", count);
	} else if (ctr_env_get(*env, "SLURM_STEP_ID") && task_num(*env, "SLURM_STEP_NUM_TASKS", &count) &&
		   count == 1) {
		/* Slurm 22.05 writes a container step's config.json before it
		 * sets the per-task SLURM_PROCID: a one-task step is task 0. */
		task_set(env, "UCRT_TASK_INDEX", 0);
		if (!ctr_env_get(*env, "UCRT_TASK_COUNT"))
			task_set(env, "UCRT_TASK_COUNT", 1);
	} else if (task_num(*env, "JOB_COMPLETION_INDEX", &idx)) {
		/* Kubernetes passes no completion count: the Job's manifest
		 * sets UCRT_TASK_COUNT (docs/examples/kubernetes). */
		task_set(env, "UCRT_TASK_INDEX", idx);
	}
}
