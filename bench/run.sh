#!/bin/bash
# `ucrt run` benchmark, against the floor measured in the same run:
#  - `ucrt run --rm IMG true`, BENCH_RUNS (20) times: median and p90 wall
#    time, vs bare `qemu-system-x86_64 -M microvm -kernel K -initrd
#    trivial-init` with the same kernel (an init that only reboots: QEMU
#    start + kernel boot, nothing of ucrt);
#  - `--parallel 16/32/64` (BENCH_PARALLEL): wall time, containers per
#    second, host memory per VM (PSS of the QEMU processes, sampled at the
#    peak), and the ratio to N bare boots in parallel.
# The image is served by a local docker-registry; the first run pulls it
# and builds its disk (not counted).
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
UCRT_BUILD=${UCRT_BUILD:-$UCRT_SRC/build}
runs=${BENCH_RUNS:-20}
plist=${BENCH_PARALLEL:-16 32 64}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
for t in docker-registry qemu-system-x86_64 musl-gcc cpio python3; do
	command -v $t >/dev/null || { echo "run bench: SKIP ($t not installed)"; exit 0; }
done
tmp=$(mktemp -d /tmp/ucrt-bench-run.XXXXXX)
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "run bench: SKIP (registry setup failed)"; exit 0; }

# The kernel both sides boot: ucrt's own if built, else Debian's.
kernel=${UCRT_KERNEL:-}
[ -z "$kernel" ] && [ -f "$UCRT_BUILD/kernel/vmlinux" ] && kernel=$UCRT_BUILD/kernel/vmlinux
[ -z "$kernel" ] && kernel=$(ls /boot/vmlinuz-* 2>/dev/null | tail -1)
[ -n "$kernel" ] || { echo "run bench: SKIP (no kernel)"; exit 0; }
acpi=on; head -c 4 "$kernel" | grep -q ELF && acpi=off

# The floor: an init that reboots at once (-no-reboot turns that into exit).
cat >"$tmp/init.c" <<'C'
#include <sys/reboot.h>
#include <unistd.h>
int main(void) { sync(); reboot(RB_AUTOBOOT); for (;;) pause(); }
C
musl-gcc -static -Os -o "$tmp/init" "$tmp/init.c" || { echo "run bench: SKIP (musl-gcc failed)"; exit 0; }
mkdir -p "$tmp/initrd" && cp "$tmp/init" "$tmp/initrd/init"
(cd "$tmp/initrd" && echo init | cpio -o -H newc --quiet >"$tmp/trivial.cpio")
# Same machine options and kernel command line as ucrt's own QEMU (from
# its trace), minus ucrt's devices: the floor is QEMU + kernel boot alone.
# Networking is measured apart (bench/net*.sh): no tap here by default.
ropts=${BENCH_RUN_OPTS:---network none}
U() { "$UCRT_BIN" --root "$tmp/root" "$@"; }
U --log-level trace run --rm $ropts --kernel "$kernel" "$IMG" true >/dev/null 2>"$tmp/trace" ||
	{ echo "run bench: FAIL"; grep -v trace "$tmp/trace"; exit 1; }
line=$(grep -m1 ': /.*qemu-system' "$tmp/trace")
machine=$(sed -n 's/.* -M \([^ ]*\) .*/\1/p' <<<"$line")
append=$(sed -n 's/.* -append \(.*\) -chardev socket,id=qmp.*/\1/p' <<<"$line" | sed 's/ ucrt\.[^ ]*//g')
[ -n "$machine" ] && [ -n "$append" ] || { machine=microvm,accel=tcg,acpi=$acpi; append="console=ttyS0 quiet panic=-1 reboot=t"; }
bare() {
	qemu-system-x86_64 -M "$machine" -cpu max -nodefaults -no-user-config -display none \
		-no-reboot -m 256 -smp 1 -kernel "$kernel" -initrd "$tmp/trivial.cpio" -serial null \
		-append "$append" >/dev/null 2>&1
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
stats() {	# values on stdin -> "median p90"
	sort -g | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.9+0.999)]; printf "%.3f %.3f\n", m, p}'
}

fails=0
for _ in $(seq "$runs"); do
	t0=$(now); U run --rm $ropts --kernel "$kernel" "$IMG" true >/dev/null 2>&1 || fails=$((fails + 1)); t1=$(now)
	calc "$t1 - $t0"; echo
done >"$tmp/ucrt.times"
[ "$fails" = 0 ] || echo "run bench: WARNING: $fails of $runs runs failed"
for _ in $(seq "$runs"); do
	t0=$(now); bare; t1=$(now)
	calc "$t1 - $t0"; echo
done >"$tmp/bare.times"
read -r um up <<<"$(stats <"$tmp/ucrt.times")"
read -r bm bp <<<"$(stats <"$tmp/bare.times")"
echo "kernel: $kernel, -M $machine, -append \"$append\""
printf "ucrt run --rm IMG true   median %6.3fs  p90 %6.3fs   (%d runs)\n" "$um" "$up" "$runs"
printf "bare qemu + trivial init median %6.3fs  p90 %6.3fs\n" "$bm" "$bp"
printf "ratio ucrt/bare          median %6.2fx  p90 %6.2fx\n" "$(calc "$um / $bm")" "$(calc "$up / $bp")"

# PSS of the VMs while a parallel run goes: the peak total / VMs counted.
pss_sampler() {	# writes "peak_total_kib vms" to $1 until $2 exists
	local best=0 bestn=0
	while [ ! -e "$2" ]; do
		local tot=0 cnt=0 p v
		for p in $(pgrep -f "qemu-system.*$tmp/root"); do
			v=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null) || continue
			[ -n "$v" ] && tot=$((tot + v)) && cnt=$((cnt + 1))
		done
		[ "$tot" -gt "$best" ] && best=$tot && bestn=$cnt && echo "$best $bestn" >"$1"
		sleep 0.2
	done
}
for n in $plist; do
	rm -f "$tmp/stop"
	pss_sampler "$tmp/pss" "$tmp/stop" &
	sp=$!
	t0=$(now)
	U run --rm $ropts --parallel "$n" --kernel "$kernel" "$IMG" true >/dev/null 2>"$tmp/par.err"
	st=$?
	t1=$(now)
	touch "$tmp/stop"; wait $sp
	t2=$(now)
	bpids=
	for _ in $(seq "$n"); do bare & bpids="$bpids $!"; done
	wait $bpids	# not a bare wait: the registry is a job of this shell too
	t3=$(now)
	wall=$(calc "$t1 - $t0"); bwall=$(calc "$t3 - $t2")
	read -r pss vms <"$tmp/pss" 2>/dev/null || { pss=0; vms=1; }
	printf -- "--parallel %-3d status %d  wall %6.2fs  %5.2f containers/s  PSS/VM %5.1f MiB  (bare: %6.2fs, ratio %.2fx)\n" \
		"$n" "$st" "$wall" "$(calc "$n / $wall")" "$(calc "$pss / ${vms:-1} / 1024")" \
		"$bwall" "$(calc "$wall / $bwall")"
	grep -E "start latency|total duration" "$tmp/par.err" | sed 's/^/    /'
	# A failed instance is a finding, not noise: show why.
	[ "$st" = 0 ] || grep -vE "start latency|total duration" "$tmp/par.err" | head -n 20 | sed 's/^/    ! /'
done
