#!/bin/bash
# containerd with ucrt-oci behind its io.containerd.runc.v2 shim
# (docs/oci-runtime.md): a containerd of the test's own (private socket,
# root and state), the image pulled with `ctr image pull --plain-http`
# from the local registry; `ctr run --rm --runc-binary ucrt-oci` output
# and exit statuses, `ctr task kill` (SIGTERM reaches the process, its
# status comes back), `ctr run -d` + `ctr task exec` (output, status,
# stdin), a stopped task deleted with no QEMU left. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP containerd needs root"; exit 0; }
for t in containerd ctr containerd-shim-runc-v2; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed (./configure --install-deps)"; exit 0; }
done
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
[ -x "$OCI" ] || { echo "1..0 # SKIP $OCI not built"; exit 0; }
# A bundle's root is a 9p share: ucrt's own kernel (an ASan build in
# build/asan finds none next to itself).
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "1..0 # SKIP a bundle root needs ucrt's kernel (make kernel)"; exit 0; }
C() { ctr --address "$tmp/containerd.sock" --namespace ucrt-test "$@"; }
CD_PID=
cleanup() {
	for t in $(C task ls -q 2>/dev/null); do C task kill -s KILL "$t" >/dev/null 2>&1; done
	sleep 0.5
	for t in $(C task ls -q 2>/dev/null); do C task delete -f "$t" >/dev/null 2>&1; done
	for c in $(C container ls -q 2>/dev/null); do C container delete "$c" >/dev/null 2>&1; done
	[ -n "$CD_PID" ] && kill "$CD_PID" 2>/dev/null && wait "$CD_PID" 2>/dev/null
	t_reg_stop
	findmnt -rn -o TARGET | grep "^$tmp" | sort -r | xargs -r umount -l 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
cat >"$tmp/containerd.toml" <<EOF
version = 2
root = "$tmp/cd-root"
state = "$tmp/cd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$tmp/containerd.sock"
[ttrpc]
  address = "$tmp/containerd.sock.ttrpc"
[debug]
  address = "$tmp/containerd-debug.sock"
EOF
containerd --config "$tmp/containerd.toml" >"$tmp/containerd.log" 2>&1 &
CD_PID=$!
for _ in $(seq 600); do C version >/dev/null 2>&1 && break; sleep 0.1; done
C version >/dev/null 2>&1 && ok "containerd started on a private socket" ||
	{ nok "containerd started"; sed 's/^/# /' "$tmp/containerd.log" | tail -5; echo "1..$n"; exit 1; }

C image pull --plain-http "$IMG" >"$tmp/pull" 2>"$tmp/err"; is "ctr image pull --plain-http" "$?" 0

out=$(C run --rm --runc-binary "$OCI" "$IMG" hello echo hello 2>"$tmp/err"); st=$?
is "ctr run --rm --runc-binary ucrt-oci IMG id echo hello" "$out" "hello"
is "... exits 0" "$st" 0
C run --rm --runc-binary "$OCI" "$IMG" st42 sh -c 'exit 42' >/dev/null 2>"$tmp/err"
is "exit status 42 passed through the runc.v2 shim" "$?" 42
is "env and cwd from the image config" \
	"$(C run --rm --runc-binary "$OCI" "$IMG" envt sh -c 'echo $IMGVAR; pwd' 2>"$tmp/err")" "from-image
/srv"

C run -d --runc-binary "$OCI" "$IMG" bg sh -c 'trap "exit 9" TERM; echo up; while :; do sleep 0.2; done' \
	>/dev/null 2>"$tmp/err"; is "ctr run -d" "$?" 0
for _ in $(seq 300); do C task ls 2>/dev/null | grep -q "^bg .*RUNNING" && break; sleep 0.2; done
C task ls 2>/dev/null | grep -q "^bg .*RUNNING" && ok "the task runs" || nok "the task runs"
out=$(C task exec --exec-id e1 bg sh -c 'echo in-exec; exit 6' 2>"$tmp/err"); st=$?
is "ctr task exec output" "$out" "in-exec"
is "ctr task exec status" "$st" 6
is "ctr task exec with stdin" "$(echo fed | C task exec --exec-id e2 bg cat 2>"$tmp/err")" "fed"
C task kill bg >/dev/null 2>"$tmp/err"; is "ctr task kill (SIGTERM)" "$?" 0
for _ in $(seq 300); do C task ls 2>/dev/null | grep -q "^bg .*STOPPED" && break; sleep 0.2; done
C task ls 2>/dev/null | grep -q "^bg .*STOPPED" && ok "the task stopped" || nok "the task stopped"
C task delete bg >"$tmp/del" 2>&1
grep -q "exit code 9" "$tmp/del" && ok "its trap's status (9) reached containerd" ||
	{ nok "its trap's status (9) reached containerd"; sed 's/^/# /' "$tmp/del"; }
C container delete bg >/dev/null 2>"$tmp/err"; is "ctr container delete" "$?" 0
is "no container left" "$(C container ls -q 2>/dev/null)" ""
is "no QEMU left" "$(t_qemu_count "$tmp")" 0

echo "1..$n"
