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

# boot MACHINE APPEND QEMU_EXTRA... -> one wall time in ms (or "hang")
boot() {
	local m=$1 a=$2 t0 t1
	shift 2
	t0=$(date +%s%N)
	if ! timeout 20 qemu-system-x86_64 -M "$m" -nodefaults -no-user-config -display none -no-reboot \
		-serial null -kernel "$kernel" -initrd "$tmp/t.cpio" -append "$a" "$@" 2>/dev/null; then
		echo hang
		return
	fi
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

median_of() {
	local i
	for ((i = 0; i < runs; i++)); do boot "$@"; done |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

base_cpu=(-cpu max -m 256 -smp 1)
base=$(median_of "$machine" "$append" "${base_cpu[@]}")
printf '%-34s %6s ms\n' "baseline ($which, as ucrt runs it)" "$base"
variant() {
	local name=$1 t
	shift
	t=$(median_of "$@")
	if [ "$t" = hang ]; then
		printf '%-34s   hang\n' "$name"
	else
		printf '%-34s %6s ms  (%+d)\n' "$name" "$t" $((t - base))
	fi
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
if [ "$which" = cloud ]; then
	variant "without i8042.*" "$machine" "${append/ i8042.noaux i8042.nokbd i8042.nopnp/}" "${base_cpu[@]}"
	variant "mitigations=off" "$machine" "$append mitigations=off" "${base_cpu[@]}"
fi
