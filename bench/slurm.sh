#!/bin/bash
# What a ucrt microVM adds to each Slurm task: an array job of
# BENCH_SLURM_TASKS (default 32) tasks running `true`, with
# `--container=BUNDLE` (each task in its own VM through ucrt-oci) against
# the same array without a container, on a Slurm of the bench's own (one
# node, as many CPUs as this machine: tasks run that many at a time).
# Interleaved rounds (BENCH_SLURM_RUNS, default 3), medians of the time
# from sbatch to the last task's end; the per-task overhead is
# (ucrt - plain) x CPUs / tasks. Needs root, slurm-wlm, munge.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
tasks=${BENCH_SLURM_TASKS:-32}
runs=${BENCH_SLURM_RUNS:-3}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
. "$UCRT_SRC/tests/lib/slurm.sh"
[ "$(id -u)" = 0 ] || { echo "slurm bench: SKIP (needs root)"; exit 0; }
for t in docker-registry qemu-system-x86_64 munged slurmctld slurmd sbatch squeue; do
	command -v $t >/dev/null || { echo "slurm bench: SKIP ($t not installed)"; exit 0; }
done
[ -x "$OCI" ] || { echo "slurm bench: SKIP ($OCI not built)"; exit 0; }
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
export UCRT_NETWORK=none
tmp=$(mktemp -d /tmp/ucrt-bench-slurm.XXXXXX)
cleanup() {
	t_slurm_stop
	for c in $("$OCI" --root "$tmp/slurm/oci" list -q 2>/dev/null); do "$OCI" --root "$tmp/slurm/oci" delete -f "$c" >/dev/null 2>&1; done
	t_reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "slurm bench: SKIP (registry setup failed)"; exit 0; }
cpus=$(nproc)
t_slurm_start "$tmp/slurm" "$cpus" "$OCI" || { echo "slurm bench: SKIP ($T_SLURM_WHY)"; exit 0; }
"$UCRT_BIN" --root "$tmp/ucrt" bundle create --disk --tls-verify=false -q "$IMG" "$tmp/bundle" true \
	>/dev/null 2>"$tmp/err" || { echo "slurm bench: SKIP (bundle create: $(cat "$tmp/err"))"; exit 0; }
printf '#!/bin/sh\ntrue\n' >"$tmp/job.sh"

# ms from sbatch to the end of the array's last task
one() {	# plain|ucrt
	local t0 jid
	t0=$(date +%s%N)
	if [ "$1" = ucrt ]; then
		jid=$(sbatch --parsable --array=0-$((tasks - 1)) --container="$tmp/bundle" -o /dev/null "$tmp/job.sh")
	else
		jid=$(sbatch --parsable --array=0-$((tasks - 1)) -o /dev/null "$tmp/job.sh")
	fi
	t_slurm_wait "$jid" 900 || { echo "slurm bench: array $jid did not finish" >&2; return 1; }
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
one plain >/dev/null && one ucrt >/dev/null || { echo "slurm bench: SKIP (warm-up failed)"; exit 0; }
: >"$tmp/t-plain"; : >"$tmp/t-ucrt"
for r in $(seq "$runs"); do
	one plain >>"$tmp/t-plain" || exit 1
	one ucrt >>"$tmp/t-ucrt" || exit 1
done
p=$(median <"$tmp/t-plain"); u=$(median <"$tmp/t-ucrt")
echo "slurm: array of $tasks tasks (true), $cpus at a time, $runs rounds, medians:"
echo "  without a container: $p ms"
echo "  --container (ucrt):  $u ms"
awk -v p="$p" -v u="$u" -v n="$tasks" -v c="$cpus" 'BEGIN {
	printf "  ucrt adds %.0f ms per task ((%d - %d) x %d / %d), ratio %.2f\n", (u - p) * c / n, u, p, c, n, u / p }'
