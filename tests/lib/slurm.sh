# A Slurm of the test's own on this machine (tests/integration/slurm.sh,
# bench/slurm.sh): munged, slurmctld and slurmd, one node named by
# `hostname -s` with CPUS CPUs (config_overrides: Slurm believes it),
# proctrack/linuxproc, no cgroup plugin, state, spool, logs and munge's key
# and socket under DIR, its own ports on loopback, ucrt's oci.conf
# (docs/examples/slurm/oci.conf) pointed at OCI with its state in DIR/oci.
#   t_slurm_start DIR CPUS OCI   exports SLURM_CONF; 0 when the node is up,
#                                else 1 with the reason in T_SLURM_WHY
#   t_slurm_stop                 cancels jobs, stops the daemons
#   t_slurm_wait JOBID SECONDS   until the job (all its array tasks) left the queue
T_SLURM_PIDS=()
t_slurm_start() {	# DIR CPUS OCI
	local d=$1 cpus=$2 oci=$3 p1 p2 node
	node=$(hostname -s)
	mkdir -p "$d/etc" "$d/state" "$d/spool" "$d/munge" "$d/oci"
	chmod 0700 "$d/munge"
	dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
	chmod 0400 "$d/munge/munge.key"
	# --force: munged refuses a socket directory below a world-writable /tmp
	munged -F --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.sock" \
		--pid-file="$d/munge/munged.pid" --log-file="$d/munged.log" --seed-file="$d/munge/seed" \
		>>"$d/munged.log" 2>&1 &
	T_SLURM_PIDS+=($!)
	for _ in $(seq 600); do [ -S "$d/munge/munge.sock" ] && break; sleep 0.1; done	# up to 60 s
	[ -S "$d/munge/munge.sock" ] || { T_SLURM_WHY="munged did not start: $(tail -1 "$d/munged.log")"; return 1; }
	read -r p1 p2 < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
	cat >"$d/etc/slurm.conf" <<CONF
ClusterName=ucrttest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$p1
SlurmdPort=$p2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
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
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
	sed -e "s|/usr/local/bin/ucrt-oci|$oci|g" -e "s|/run/ucrt-oci|$d/oci|g" \
		"$UCRT_SRC/docs/examples/slurm/oci.conf" >"$d/etc/oci.conf"
	export SLURM_CONF=$d/etc/slurm.conf
	slurmctld -D -i -f "$SLURM_CONF" >>"$d/slurmctld.log" 2>&1 &
	T_SLURM_PIDS+=($!)
	slurmd -D -f "$SLURM_CONF" >>"$d/slurmd.log" 2>&1 &
	T_SLURM_PIDS+=($!)
	for _ in $(seq 300); do sinfo -h -o %T 2>/dev/null | grep -qx idle && return 0; sleep 0.2; done
	T_SLURM_WHY="slurmctld/slurmd did not bring the node up: $(sinfo -h -o '%T %E' 2>&1 | head -1)"
	return 1
}

t_slurm_wait() {	# JOBID SECONDS
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		[ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	return 1
}

t_slurm_stop() {
	local p
	[ -n "${SLURM_CONF:-}" ] && scancel --quiet -u root >/dev/null 2>&1
	for p in "${T_SLURM_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${T_SLURM_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	T_SLURM_PIDS=()
}
