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
# slurmd execs the runtime with its own environment: keep UCRT_KERNEL
# there (and ASan's options for a sanitizer build).
PIDS=()
cleanup() {
	[ -n "${SLURM_CONF:-}" ] && scancel --quiet -u root >/dev/null 2>&1
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null; done
	for c in $("$OCI" --root "$tmp/oci" list -q 2>/dev/null); do "$OCI" --root "$tmp/oci" delete -f "$c" >/dev/null 2>&1; done
	t_reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
skip_all() { echo "1..0 # SKIP $1"; for f in "$tmp"/*.log; do sed "s|^|# ${f##*/}: |" "$f" | tail -5; done; exit 0; }

# ---- munge and slurm of the test's own ----
mkdir -p "$tmp/etc" "$tmp/state" "$tmp/spool" "$tmp/munge" "$tmp/shared" "$tmp/oci"
chmod 0700 "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$tmp/munge/munge.key"
# munged insists on a socket directory only its owner can write to.
munged -F --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.sock" \
	--pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munged.log" --seed-file="$tmp/munge/seed" \
	>>"$tmp/munged.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$tmp/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$tmp/munge/munge.sock" ] || skip_all "munged did not start"
read -r P1 P2 < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
NODE=$(hostname -s)
cat >"$tmp/etc/slurm.conf" <<CONF
ClusterName=ucrttest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$P1
SlurmdPort=$P2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
SlurmdDebug=debug
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=8 RealMemory=4000 State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
sed -e "s|/usr/local/bin/ucrt-oci|$OCI|g" -e "s|/run/ucrt-oci|$tmp/oci|g" \
	"$UCRT_SRC/docs/examples/slurm/oci.conf" >"$tmp/etc/oci.conf"
[ -n "${T_DEBUG:-}" ] && sed -i "s|^RunTimeRun=\"|RunTimeRun=\"env >$tmp/runenv.\$\$; |" "$tmp/etc/oci.conf" && cat "$tmp/etc/oci.conf" | sed 's/^/# /'
export SLURM_CONF=$tmp/etc/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" >>"$tmp/slurmctld.log" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" >>"$tmp/slurmd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 0.2; done
sinfo -h -o %T 2>/dev/null | grep -qx idle || skip_all "slurmctld/slurmd did not bring the node up: $(sinfo -h -o '%T %E' 2>&1 | head -1)"
ok "munged, slurmctld and slurmd up on loopback (node $NODE idle)"

U bundle create --tls-verify=false -q "$IMG" "$tmp/bundle" >"$tmp/out" 2>"$tmp/err"
is "ucrt bundle create IMAGE DIR" "$?" 0

# ---- srun --container: output and exit status ----
# Slurm 22.05 writes a step's config.json before it sets SLURM_PROCID:
# a one-task step is task 0 of 1 (docs/scale-out.md).
out=$(srun --container="$tmp/bundle" sh -c 'echo "$IMGVAR job=${SLURM_JOB_ID:+set} idx=$UCRT_TASK_INDEX/$UCRT_TASK_COUNT"; cat /proc/1/comm' 2>"$tmp/err"); st=$?
[ -n "${T_DEBUG:-}" ] && srun --container="$tmp/bundle" env | sort | sed 's/^/# /'
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
for _ in $(seq 600); do [ -z "$(squeue -h -j "$jid" 2>/dev/null)" ] && break; sleep 0.2; done
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
for _ in $(seq 100); do [ -z "$("$OCI" --root "$tmp/oci" list -q 2>/dev/null)" ] && break; sleep 0.1; done
is "Slurm deleted every container (RunTimeQuery + RunTimeDelete)" "$("$OCI" --root "$tmp/oci" list -q 2>/dev/null)" ""
[ -n "${T_DEBUG:-}" ] && cat $tmp/runenv.* | sort -u | sed 's/^/# runenv /' 
is "no QEMU left" "$(t_qemu_count "$tmp")" 0
echo "1..$n"
