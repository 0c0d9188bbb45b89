#!/bin/bash
# `ucrt run --parallel`: 8 instances, at most 4 at once, distinct
# UCRT_TASK_INDEX values, prefixed output lines, a failing instance makes
# the exit status non-zero and is named in the summary; --output-dir; Ctrl-C
# stops every VM and prints the partial summary; SIGKILL of ucrt with 4 VMs
# running leaves no QEMU process. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

# Sample how many VMs run at once while the 8 instances go.
( max=0; while [ ! -e "$tmp/stop-sampling" ]; do
	c=$(t_qemu_count "$tmp/root"); [ "$c" -gt "$max" ] && max=$c && echo $max >"$tmp/max"; sleep 0.1
done ) &
sampler=$!
U --log-level debug run --parallel 8 --max-concurrent 4 "$IMG" \
	sh -c 'echo "task $UCRT_TASK_INDEX of $UCRT_TASK_COUNT"; [ $UCRT_TASK_INDEX != 5 ] || exit 3' >"$tmp/out" 2>"$tmp/err"
st=$?
touch "$tmp/stop-sampling"; wait $sampler
disk=$(ls "$tmp/root/rootfs/"*.ext4 2>/dev/null | head -1)
sum=$(md5sum <"$disk")
is "a failing instance makes the exit status non-zero" "$st" 1
is "8 distinct task indexes, output prefixed" "$(sort "$tmp/out")" "$(for i in 0 1 2 3 4 5 6 7; do echo "[$i] task $i of 8"; done)"
grep -q "8 instance(s): 7 succeeded, 1 failed" "$tmp/err" && ok "summary counts" ||
	{ nok "summary counts"; sed 's/^/# err: /' "$tmp/err" >&2; sed 's/^/# out: /' "$tmp/out" >&2; }
grep -q "\[5\] exit 3" "$tmp/err" && ok "summary names the failure and its exit code" || nok "summary names the failure"
grep -q "start latency .*p50 .*p90 .*p99 .*max" "$tmp/err" && grep -q "total duration .*p50" "$tmp/err" &&
	ok "summary has latency and duration percentiles" || nok "summary percentiles"
# The image is ready before each instance starts: negative offsets, signed.
tl=$(grep -cE "container task-[0-9]+: timeline image ready [-+][0-9]{1,6}\.[0-9]ms, disk ready [-+][0-9]{1,6}\.[0-9]ms, qemu start" "$tmp/err")
is "a startup timeline per instance, image/disk phases as signed offsets" "$tl" 8
max=$(cat "$tmp/max" 2>/dev/null || echo 0)
[ "$max" -ge 2 ] && [ "$max" -le 4 ] && ok "at most 4 VMs at once (saw $max)" || nok "at most 4 VMs at once (saw $max)"
grep -v "debug:" "$tmp/err" | sed 's/^/# /'

# Ctrl-C: every VM stops, the partial summary is printed, --output-dir files.
"$UCRT_BIN" --root "$tmp/root" run --parallel 4 --max-concurrent 2 --output-dir "$tmp/outdir" "$IMG" \
	sh -c 'echo out $UCRT_TASK_INDEX; sleep 1000' >"$tmp/out" 2>"$tmp/err" &
p=$!
for _ in $(seq 120); do grep -qs "out 1" "$tmp/outdir/task-1.log" && grep -qs "out 0" "$tmp/outdir/task-0.log" && break; sleep 0.5; done
kill -INT $p; wait $p; st=$?
is "Ctrl-C: exit status 130" "$st" 130
grep -q "4 instance(s): 0 succeeded, 2 failed, 2 not run" "$tmp/err" && grep -q "\[0\] exit 137" "$tmp/err" &&
	ok "partial summary printed (stopped instances: 137)" ||
	{ nok "partial summary printed"; sed 's/^/# /' "$tmp/err"; }
is "--output-dir holds each instance's output" "$(cat "$tmp/outdir/task-0.log" "$tmp/outdir/task-1.log")" "out 0
out 1"
is "no QEMU left after Ctrl-C" "$(t_qemu_count "$tmp/root")" 0

# SIGKILL with 4 VMs running.
"$UCRT_BIN" --root "$tmp/root" run --parallel 4 "$IMG" sleep 1000 >/dev/null 2>&1 &
p=$!
for _ in $(seq 120); do [ "$(t_qemu_count "$tmp/root")" -ge 4 ] && break; sleep 0.5; done
is "4 VMs running" "$(t_qemu_count "$tmp/root")" 4
kill -9 $p; wait $p 2>/dev/null
# QEMU gets SIGKILL from the kernel (PR_SET_PDEATHSIG); four of them exiting
# on a loaded machine may take more than a moment: up to 60 s.
for _ in $(seq 600); do [ "$(t_qemu_count "$tmp/root")" = 0 ] && break; sleep 0.1; done
is "SIGKILL of ucrt leaves no QEMU process" "$(t_qemu_count "$tmp/root")" 0
[ -n "$disk" ] && [ "$(md5sum <"$disk")" = "$sum" ] && ok "the shared image disk is intact" || nok "the shared image disk is intact"
is "no container state left by --parallel" "$(U ps -a -q; echo "status $?")" "status 0"
echo "1..$n"
