#!/bin/bash
# One Kubernetes pod in a ucrt microVM through containerd's CRI, timed
# from RunPodSandbox to the container's exit (`true`), the way kubelet
# starts a Job's pod: containerd of the bench's own (tests/lib/cri.sh) in
# a network namespace it makes, the bridge CNI plugin, the ucrt runtime
# handler. Phases (sandbox: CNI + the pod's VM; create; start; run to
# exit), medians of BENCH_CRI_RUNS pods (default 5) after one warm-up, one
# after the other, timed inside one client process.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
runs=${BENCH_CRI_RUNS:-5}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
. "$UCRT_SRC/tests/lib/cri.sh"
[ "$(id -u)" = 0 ] || { echo "cri bench: SKIP (needs root)"; exit 0; }
why=$(t_cri_need); [ -z "$why" ] || { echo "cri bench: SKIP ($why)"; exit 0; }
for t in docker-registry qemu-system-x86_64; do
	command -v $t >/dev/null || { echo "cri bench: SKIP ($t not installed)"; exit 0; }
done
[ -x "$OCI" ] || { echo "cri bench: SKIP ($OCI not built)"; exit 0; }
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "cri bench: SKIP (a pod's shares need ucrt's kernel: make kernel)"; exit 0; }
if [ -z "${UCRT_CRI_NS:-}" ]; then
	NS=ucrt-cribench-$$
	ip netns add $NS 2>/dev/null && ip netns exec $NS ip link set lo up ||
		{ ip netns del $NS 2>/dev/null; echo "cri bench: SKIP (cannot make a network namespace)"; exit 0; }
	UCRT_CRI_NS=$NS nsenter --net=/run/netns/$NS bash "$0"
	st=$?
	ip netns del $NS
	exit $st
fi
tmp=$(mktemp -d /tmp/ucrt-bench-cri.XXXXXX)
cleanup() {
	t_cri_stop
	t_reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
{ t_reg_need && t_run_setup "$tmp" &&
	T_IMG_CMD='["sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 1; done"]' t_run_image "$tmp/pause" 1 &&
	t_reg_upload "$tmp/pause" ucrt-test/pause 1; } >"$tmp/setup.log" 2>&1 ||
	{ echo "cri bench: SKIP (registry setup failed)"; exit 0; }
PAUSE=$REG/ucrt-test/pause:1
t_cri_start "$tmp/cri" "$OCI" "$PAUSE" 10.199.$(($$ % 250)) || { echo "cri bench: SKIP (containerd did not start)"; exit 0; }
CRI pull "$PAUSE" >/dev/null 2>&1 && CRI pull "$IMG" >/dev/null 2>&1 || { echo "cri bench: SKIP (pull failed)"; exit 0; }
pod() {	# N HANDLER
	printf '{ "metadata": { "name": "b%s", "uid": "uid-b%s", "namespace": "bench" }, "log_directory": "%s" }\n' \
		"$1" "$1" "$tmp/cri/logs/b$1" >"$tmp/pod.json"
	printf '{ "metadata": { "name": "job" }, "image": { "image": "%s" }, "command": ["true"], "log_path": "job.log", "linux": {} }\n' \
		"$IMG" >"$tmp/ctr.json"
	CRI pod-run "$tmp/pod.json" "$tmp/ctr.json" "$2"
}
field() { $T_CRI_PY -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
r=$(pod 0 ucrt 2>"$tmp/err")
[ "$(echo "$r" | field exited 2>/dev/null)" = True ] || { echo "cri bench: SKIP (warm-up pod failed: $(tail -1 "$tmp/err"))"; exit 0; }
: >"$tmp/runs"
for i in $(seq "$runs"); do
	pod "$i" ucrt >>"$tmp/runs" 2>"$tmp/err" || { echo "cri bench: pod $i failed: $(tail -1 "$tmp/err")"; exit 1; }
done
echo "cri: one pod (true) with the ucrt runtime handler, $runs pods one after the other, medians:"
for f in total_ms sandbox_ms create_ms start_ms run_ms; do
	printf '  %-8s %6d ms\n' "${f%_ms}" "$(while read -r l; do echo "$l" | field $f; done <"$tmp/runs" | median)"
done
echo "  (total: RunPodSandbox to the container's exit; sandbox: CNI and the pod's VM booted)"
