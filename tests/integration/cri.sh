#!/bin/bash
# Kubernetes pods in ucrt microVMs through containerd's CRI, without a
# kubelet (docs/scale-out.md): a containerd of the test's own (root,
# state, socket under a temp dir; it, the registry and the CNI bridge in a
# network namespace the test makes) with a `ucrt` runtime handler
# (runc v2 shim, BinaryName = ucrt-oci) and the bridge CNI plugin;
# tests/lib/cri/cri.py makes kubelet's calls over the gRPC socket:
# PullImage, RunPodSandbox (the sandbox boots the pod's VM, sized by the
# pod's resources, in the pod's network namespace), CreateContainer and
# StartContainer (each container a process in that VM, chrooted into its
# own root share), ContainerStatus (exit code), the CRI log file, the pod
# IP answering from inside the VM, ExecSync, StopContainer,
# StopPodSandbox, RemovePodSandbox, and nothing left behind. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP containerd needs root"; exit 0; }
. "$T_LIB_DIR/cri.sh"
why=$(t_cri_need); [ -z "$why" ] || { echo "1..0 # SKIP $why"; exit 0; }
PY=$T_CRI_PY
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
[ -x "$OCI" ] || { echo "1..0 # SKIP $OCI not built"; exit 0; }
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "1..0 # SKIP a pod's shares need ucrt's kernel (make kernel)"; exit 0; }
# Everything (the registry, containerd, the CNI bridge) runs in a network
# namespace of the test's own: the script runs itself again in it.
if [ -z "${UCRT_CRI_NS:-}" ]; then
	rm -rf "$tmp"
	NS=ucrt-cri-$$
	ip netns add $NS 2>/dev/null && ip netns exec $NS ip link set lo up ||
		{ ip netns del $NS 2>/dev/null; echo "1..0 # SKIP cannot make a network namespace"; exit 0; }
	UCRT_CRI_NS=$NS nsenter --net=/run/netns/$NS bash "$0"
	st=$?
	ip netns del $NS
	exit $st
fi
cleanup() {
	for p in ${PODS:-}; do CRI stop-pod "$p" >/dev/null 2>&1; CRI rm-pod "$p" >/dev/null 2>&1; done
	t_cri_stop
	t_reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
# A pause image (sleeps until told to stop) and an app image with a few
# more applets; both pushed to the test's registry.
T_IMG_CMD='["sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 1; done"]' t_run_image "$tmp/pause" 1 &&
	t_reg_upload "$tmp/pause" ucrt-test/pause 1 >>"$tmp/setup.log" 2>&1 &&
	T_IMG_APPLETS="httpd nproc wget ping ip cut" t_run_image "$tmp/app" 1 &&
	t_reg_upload "$tmp/app" ucrt-test/app 1 >>"$tmp/setup.log" 2>&1 ||
	{ echo "1..0 # SKIP image setup failed"; exit 0; }
PAUSE=$REG/ucrt-test/pause:1 APP=$REG/ucrt-test/app:1

# a subnet of its own per run: 10.(200+pid%50).(pid/50%250).0/24
SUB=10.$((200 + $$ % 50)).$(($$ / 50 % 250))
mkdir -p "$tmp/data" "$tmp/cri"
t_cri_start "$tmp/cri" "$OCI" "$PAUSE" "$SUB"
v=$(CRI version 2>&1)
case "$v" in
*runtime_api_version*) ok "containerd's CRI answers on a private socket ($(echo "$v" | sed 's/.*"runtime_version": "\([^"]*\)".*/\1/'))" ;;
*) nok "containerd's CRI answers"; echo "# $v"; sed 's/^/# /' "$tmp/cri/containerd.log" | tail -5; echo "1..$n"; exit 1 ;;
esac
CRI pull "$PAUSE" >/dev/null 2>"$tmp/err" && CRI pull "$APP" >/dev/null 2>>"$tmp/err"
is "PullImage (pause and app images, plain HTTP mirror)" "$?" 0

# ---- one pod: the VM sized by the pod's resources ----
pod_json() {	# NAME -> pod config; 2 vCPUs, 384 MiB for the pod
	cat <<EOF2
{ "metadata": { "name": "$1", "uid": "uid-$1", "namespace": "ucrt-test", "attempt": 0 },
  "hostname": "$1", "log_directory": "$tmp/cri/logs/$1",
  "linux": { "resources": { "cpu_period": 100000, "cpu_quota": 200000, "memory_limit_in_bytes": 402653184 } } }
EOF2
}
ctr_json() {	# NAME CMD -> container config (an Indexed Job's pod: JOB_COMPLETION_INDEX)
	cat <<EOF2
{ "metadata": { "name": "$1" }, "image": { "image": "$APP" },
  "command": ["sh", "-c", $(printf '%s' "$2" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))')],
  "envs": [ { "key": "JOB_COMPLETION_INDEX", "value": "4" }, { "key": "UCRT_TASK_COUNT", "value": "8" } ],
  "mounts": [ { "container_path": "/data", "host_path": "$tmp/data" } ],
  "log_path": "$1.log", "linux": {} }
EOF2
}
mkdir -p "$tmp/cri/logs/p1"
pod_json p1 >"$tmp/p1.json"
t0=$(date +%s%N)
P1=$(CRI run-pod "$tmp/p1.json" ucrt 2>"$tmp/err"); st=$?
PODS="$P1"
is "RunPodSandbox with runtime handler ucrt" "$st" 0
ps=$(CRI pod-status "$P1" 2>"$tmp/err")
IP=$(echo "$ps" | $PY -c 'import json,sys; print(json.load(sys.stdin)["network"]["ip"])' 2>/dev/null)
case "$IP" in $SUB.*) ok "the pod has an IP from the bridge plugin ($IP)" ;; *) nok "the pod has an IP from the bridge plugin"; echo "# $ps" ;; esac
is "one QEMU for the pod" "$(t_qemu_count "$tmp/cri/oci")" 1

ctr_json job 'echo hello-from-pod; echo idx=$UCRT_TASK_INDEX/$UCRT_TASK_COUNT; nproc; grep MemTotal /proc/meminfo | tr -s " " | cut -d" " -f2; cat /proc/sys/kernel/random/boot_id >/data/boot-job; touch /only-in-job; echo data >/data/from-job; exit 3' >"$tmp/job.json"
J=$(CRI create "$P1" "$tmp/job.json" "$tmp/p1.json" 2>"$tmp/err"); is "CreateContainer" "$?" 0
CRI start "$J" 2>"$tmp/err"; is "StartContainer" "$?" 0
s=$(CRI wait-exit "$J" 60 2>"$tmp/err")
t1=$(date +%s%N)
is "ContainerStatus: exited with code 3" \
	"$(echo "$s" | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d.get("state"), d.get("exit_code"))' 2>&1)" "2 3"
log=$(sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$tmp/cri/logs/p1/job.log" 2>/dev/null)
is "the output is in the CRI log file" "$(echo "$log" | head -2)" "hello-from-pod
idx=4/8"
is "the pod's resources sized the VM: 2 vCPUs" "$(echo "$log" | sed -n 3p)" 2
mem=$(echo "$log" | sed -n 4p)
[ -n "$mem" ] && [ "$mem" -gt 300000 ] && [ "$mem" -le 393216 ] && ok "... and 384 MiB (MemTotal $mem kB)" ||
	nok "... and 384 MiB (MemTotal '$mem' kB)"
is "the host directory mount reached the container" "$(cat "$tmp/data/from-job" 2>/dev/null)" "data"
echo "# pod RunPodSandbox to container exit: $(( (t1 - t0) / 1000000 )) ms"

# ---- a second container in the same pod (same VM, its own root) ----
ctr_json web 'mkdir -p /www; echo pong >/www/index.html; cat /proc/sys/kernel/random/boot_id >/data/boot-web; [ -e /only-in-job ] && echo shared-root >/data/web-sees; exec httpd -f -p 8080 -h /www' >"$tmp/web.json"
W=$(CRI create "$P1" "$tmp/web.json" "$tmp/p1.json" 2>"$tmp/err") && CRI start "$W" 2>>"$tmp/err"
is "a second container in the pod starts" "$?" 0
for _ in $(seq 600); do [ -s "$tmp/data/boot-web" ] && break; sleep 0.1; done
is "both containers ran in the same VM (one boot_id)" "$(cat "$tmp/data/boot-web" 2>/dev/null)" "$(cat "$tmp/data/boot-job" 2>/dev/null)"
[ ! -e "$tmp/data/web-sees" ] && ok "each container has its own root" || nok "each container has its own root"
for _ in $(seq 300); do curl -s -m 3 "http://$IP:8080/" >"$tmp/wget" 2>/dev/null && break; sleep 0.2; done
is "the pod IP answers from inside the VM (httpd in the pod)" "$(cat "$tmp/wget")" "pong"
out=$(CRI exec "$W" 20 sh -c 'cat /www/index.html; exit 5' 2>"$tmp/err"); st=$?
is "ExecSync into the container (its root, its status)" "$out $st" "pong 5"
CRI stop "$W" 10 2>"$tmp/err"; is "StopContainer" "$?" 0
s=$(CRI wait-exit "$W" 30 2>"$tmp/err")
is "... it exited on SIGTERM (143)" "$(echo "$s" | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d.get("state"), d.get("exit_code"))' 2>&1)" "2 143"

CRI stop-pod "$P1" 2>"$tmp/err"; is "StopPodSandbox" "$?" 0
for _ in $(seq 600); do [ "$(t_qemu_count "$tmp/cri/oci")" = 0 ] && break; sleep 0.1; done
is "the pod's VM is gone" "$(t_qemu_count "$tmp/cri/oci")" 0
CRI rm-pod "$P1" 2>"$tmp/err"; is "RemovePodSandbox" "$?" 0
PODS=
is "no container left in ucrt-oci" "$("$OCI" --root "$tmp/cri/oci/k8s.io" list -q 2>/dev/null)" ""
is "no mount left under the pod directory" "$(findmnt -rn -o TARGET | grep -c "^$tmp/cri/oci/")" 0
is "no pod directory left" "$(ls -A "$tmp/cri/oci/k8s.io/pods" 2>/dev/null)" ""
echo "1..$n"
