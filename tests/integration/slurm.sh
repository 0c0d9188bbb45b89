#!/bin/bash
# Slurm runs tasks in ucrt microVMs (docs/scale-out.md): munged,
# slurmctld and slurmd of the test's own (one node named by `hostname -s`,
# proctrack/linuxproc, no cgroup plugin, state, spool, logs and munge key
# and socket under a temp dir, its own ports on loopback) with the
# shipped docs/examples/slurm/oci.conf pointed at this build. A bundle
# from `ucrt bundle create`; `srun --container` passes output and exit
# status through; `sbatch --array=0-7 --container` runs 8 tasks, each in
# its own VM, writing into a shared directory with UCRT_TASK_INDEX and
# UCRT_TASK_COUNT derived from Slurm's array variables; the --disk bundle
# runs under srun too. The daemons are stopped at the end. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP slurmd and ucrt-oci need root"; exit 0; }
for t in munged slurmctld slurmd srun sbatch squeue scontrol; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed (./configure --install-deps)"; exit 0; }
done
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
[ -x "$OCI" ] || { echo "1..0 # SKIP $OCI not built"; exit 0; }
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "1..0 # SKIP a bundle root needs ucrt's kernel (make kernel)"; exit 0; }
. "$T_LIB_DIR/slurm.sh"
cleanup() {
	t_slurm_stop
	for c in $("$OCI" --root "$tmp/slurm/oci" list -q 2>/dev/null); do "$OCI" --root "$tmp/slurm/oci" delete -f "$c" >/dev/null 2>&1; done
	t_reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
mkdir -p "$tmp/shared"
# slurmd runs the runtime with its own environment: UCRT_KERNEL (and a
# sanitizer build's options) reach ucrt-oci from here.
if ! t_slurm_start "$tmp/slurm" 8 "$OCI"; then
	echo "1..0 # SKIP $T_SLURM_WHY"
	for f in "$tmp"/slurm/*.log; do sed "s|^|# ${f##*/}: |" "$f" | tail -5; done
	exit 0
fi
ok "munged, slurmctld and slurmd up on loopback (node $(hostname -s) idle)"

U bundle create --tls-verify=false -q "$IMG" "$tmp/bundle" >"$tmp/out" 2>"$tmp/err"
is "ucrt bundle create IMAGE DIR" "$?" 0

# ---- srun --container: output and exit status ----
# Slurm 22.05 writes a step's config.json before it sets SLURM_PROCID:
# a one-task step is task 0 of 1 (docs/scale-out.md).
out=$(srun --container="$tmp/bundle" sh -c 'echo "$IMGVAR job=${SLURM_JOB_ID:+set} idx=$UCRT_TASK_INDEX/$UCRT_TASK_COUNT"; cat /proc/1/comm' 2>"$tmp/err"); st=$?
is "srun --container: the image's env, Slurm's job vars, UCRT_TASK_* of a one-task step" \
	"$(echo "$out" | head -1)" "from-image job=set idx=0/1"
# Every task ran in a VM: guest-init is the guest's pid 1.
[ "$(echo "$out" | tail -1)" != "slurmstepd" ] && [ "$(echo "$out" | tail -1)" != "systemd" ] &&
	[ -n "$(echo "$out" | tail -1)" ] && ok "pid 1 is the VM's init ($(echo "$out" | tail -1))" ||
	nok "pid 1 is the VM's init"
is "srun exits 0" "$st" 0
srun --container="$tmp/bundle" sh -c 'echo to-stderr >&2; exit 7' >/dev/null 2>"$tmp/err7"; st=$?
is "srun --container passes the exit status (7)" "$st" 7
grep -q to-stderr "$tmp/err7" && ok "... and stderr" || nok "... and stderr"

# ---- sbatch --array=0-7 --container: 8 VMs, results in a shared dir ----
cat >"$tmp/job.sh" <<'JOB'
#!/bin/sh
# written for `ucrt run --parallel 8`: only UCRT_TASK_* are used
echo "$UCRT_TASK_INDEX of $UCRT_TASK_COUNT" >/shared/out-$UCRT_TASK_INDEX
echo "$SLURM_ARRAY_TASK_ID" >/shared/array-id-$UCRT_TASK_INDEX
echo "task $UCRT_TASK_INDEX done"
JOB
python3 - "$tmp/bundle/config.json" "$tmp/shared" <<'PY'
import json, sys
p, shared = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["mounts"].append({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]})
json.dump(c, open(p, "w"), indent=1)
PY
jid=$(sbatch --parsable --array=0-7 --container="$tmp/bundle" -o "$tmp/shared/slurm-%A_%a.out" \
	"$tmp/job.sh" 2>"$tmp/err"); st=$?
is "sbatch --array=0-7 --container" "$st" 0
t_slurm_wait "$jid" 300	# 8 VMs at once: slow on a loaded machine
is "the array finished" "$(squeue -h -j "$jid" 2>/dev/null)" ""
got=$(cat "$tmp"/shared/out-* 2>/dev/null | sort -n | tr '\n' ,)
is "8 results in the shared directory, UCRT_TASK_INDEX/COUNT from the array" "$got" \
	"0 of 8,1 of 8,2 of 8,3 of 8,4 of 8,5 of 8,6 of 8,7 of 8,"
is "SLURM_ARRAY_TASK_ID reached each task" "$(cat "$tmp"/shared/array-id-* 2>/dev/null | sort -n | tr '\n' ,)" \
	"0,1,2,3,4,5,6,7,"
is "each task's stdout in its Slurm output file" \
	"$(cat "$tmp"/shared/slurm-"$jid"_*.out 2>/dev/null | sort | tr '\n' ,)" \
	"task 0 done,task 1 done,task 2 done,task 3 done,task 4 done,task 5 done,task 6 done,task 7 done,"
is "every array task exited 0" \
	"$(scontrol show job "$jid" 2>/dev/null | grep -o 'ExitCode=[0-9:]*' | sort -u | tr '\n' ' ')" \
	"ExitCode=0:0 "

# ---- the ext4-disk bundle under srun ----
U bundle create --disk --tls-verify=false -q "$IMG" "$tmp/bdisk" >"$tmp/out" 2>"$tmp/err"
out=$(srun --container="$tmp/bdisk" sh -c 'touch /x 2>/dev/null || echo ro-root; echo $IMGVAR' 2>"$tmp/err"); st=$?
is "srun --container on a --disk bundle (ext4 root, read-only)" "$out" "ro-root
from-image"
is "... exits 0" "$st" 0

# slurmstepd deletes a step's container after the step ended for srun.
for _ in $(seq 600); do [ -z "$("$OCI" --root "$tmp/slurm/oci" list -q 2>/dev/null)" ] && break; sleep 0.1; done
is "Slurm deleted every container (RunTimeQuery + RunTimeDelete)" "$("$OCI" --root "$tmp/slurm/oci" list -q 2>/dev/null)" ""
is "no QEMU left" "$(t_qemu_count "$tmp")" 0
echo "1..$n"
