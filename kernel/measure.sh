#!/bin/bash
# Measure boot-time choices one at a time (docs/kernel.md has the results).
#
#   kernel/measure.sh [built|cloud] [RUNS]
#
# Each variant changes one thing from ucrt's configuration and boots a
# trivial init that reboots at once (-no-reboot makes that QEMU's exit);
# the median wall time from QEMU spawn to exit is printed, with the delta
# to the baseline. TCG only (what these hosts have).
set -euo pipefail

which=${1:-built}
runs=${2:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/ucrt-kmeasure.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

printf '#include <sys/reboot.h>\nint main(void) { reboot(RB_AUTOBOOT); return 0; }\n' >"$tmp/init.c"
musl-gcc -static -Os -o "$tmp/init" "$tmp/init.c"
mkdir -p "$tmp/r/dev" && cp "$tmp/init" "$tmp/r/init"
(cd "$tmp/r" && printf 'init\ndev\n' | cpio -o -H newc --quiet) >"$tmp/t.cpio"

khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
if [ "$which" = built ]; then
	kernel=${UCRT_KERNEL_CACHE:-$src/build/kernel}/vmlinux
	machine="microvm,accel=tcg,acpi=off"
	append="console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=$khz"
else
	kernel=$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -n1)
	machine="microvm,accel=tcg,acpi=on"
	append="console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=$khz i8042.noaux i8042.nokbd i8042.nopnp"
fi
[ -f "$kernel" ] || { echo "no kernel $kernel" >&2; exit 1; }

# boot MACHINE APPEND QEMU_EXTRA... -> "wall_ms cpu_ms" (QEMU's user+sys:
# under TCG the guest's work is QEMU's CPU time, which the other tenants
# of a shared host disturb far less than the wall clock), or "hang".
boot() {
	local m=$1 a=$2 out
	shift 2
	out=$( { TIMEFORMAT='%R %U %S'; time timeout 20 qemu-system-x86_64 -M "$m" -nodefaults \
		-no-user-config -display none -no-reboot -serial null -kernel "$kernel" \
		-initrd "$tmp/t.cpio" -append "$a" "$@" >/dev/null 2>&1; } 2>&1) || { echo hang; return; }
	echo "$out" | awk '{ printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000 }'
}

# median_of ARGS... -> "wall cpu" medians over $runs boots, or "hang"
median_of() {
	local i
	for ((i = 0; i < runs; i++)); do boot "$@"; done >"$tmp/runs"
	if grep -q hang "$tmp/runs"; then
		echo hang
		return
	fi
	echo "$(cut -d' ' -f1 "$tmp/runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')" \
		"$(cut -d' ' -f2 "$tmp/runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
}

base_cpu=(-cpu max -m 256 -smp 1)
base=$(median_of "$machine" "$append" "${base_cpu[@]}")
printf '%-40s %12s %12s\n' "median of $runs ($which)" "wall ms" "cpu ms"
printf '%-40s %12s %12s\n' "baseline (as ucrt runs it)" ${base}
variant() {
	local name=$1 t w c
	shift
	t=$(median_of "$@")
	if [ "$t" = hang ]; then
		printf '%-40s %12s\n' "$name" hang
		return
	fi
	w=${t% *} c=${t#* }
	printf '%-40s %5s (%+5d) %5s (%+5d)\n' "$name" "$w" $((w - ${base% *})) "$c" $((c - ${base#* }))
}
variant "without quiet" "$machine" "${append/ quiet/}" "${base_cpu[@]}"
variant "without tsc_early_khz" "$machine" "${append/ tsc_early_khz=$khz/}" "${base_cpu[@]}"
variant "-cpu qemu64 (QEMU default)" "$machine" "$append" -m 256 -smp 1
variant "-smp 2" "$machine" "$append" -cpu max -m 256 -smp 2
variant "-m 128" "$machine" "$append" -cpu max -m 128 -smp 1
variant "-m 1024" "$machine" "$append" -cpu max -m 1024 -smp 1
variant "rtc=off" "$machine,rtc=off" "$append" "${base_cpu[@]}"
variant "pic=off" "$machine,pic=off" "$append" "${base_cpu[@]}"
variant "pit=off" "$machine,pit=off" "$append" "${base_cpu[@]}"
variant "nolapic_timer" "$machine" "$append nolapic_timer" "${base_cpu[@]}"
variant "io_delay=none" "$machine" "$append io_delay=none" "${base_cpu[@]}"
variant "pic=off + pit=off" "$machine,pic=off,pit=off" "$append" "${base_cpu[@]}"
variant "pic=off + nolapic_timer" "$machine,pic=off" "$append nolapic_timer" "${base_cpu[@]}"
variant "pic=off + nolapic_timer + io_delay=none" "$machine,pic=off" "$append nolapic_timer io_delay=none" \
	"${base_cpu[@]}"
if [ "$which" = cloud ]; then
	variant "without i8042.*" "$machine" "${append/ i8042.noaux i8042.nokbd i8042.nopnp/}" "${base_cpu[@]}"
	variant "mitigations=off" "$machine" "$append mitigations=off" "${base_cpu[@]}"
fi
