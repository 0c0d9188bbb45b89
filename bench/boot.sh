#!/bin/bash
# Boot to init: ucrt's VM launch (QEMU spawned -> first frame from
# guest-init, `ucrt vm boot`) for both kernels, next to a bare
#   qemu-system-x86_64 -M microvm -kernel K -initrd trivial.cpio
# whose init writes one byte to the serial port and reboots (QEMU spawned
# -> that byte; -> QEMU exited), same kernel, same machine options and
# command line, measured in the same run.
# BENCH_BOOTS=N boots per case (default 5); medians are printed.
set -euo pipefail

N=${BENCH_BOOTS:-5}
src=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
build=${UCRT_BUILD:-$src/build}
ucrt=${UCRT_BIN:-$build/ucrt}
export UCRT_INIT=${UCRT_INIT:-$build/ucrt-init}
qemu=$(command -v qemu-system-x86_64 || true)

skip() { echo "boot: skipped: $*"; exit 0; }
[ -n "$qemu" ] || skip "qemu-system-x86_64 not installed"
[ -x "$ucrt" ] || skip "$ucrt not built"
[ -x "$UCRT_INIT" ] || skip "$UCRT_INIT not built"
command -v musl-gcc >/dev/null || skip "musl-gcc missing"
command -v cpio >/dev/null || skip "cpio missing"

tmp=$(mktemp -d /tmp/ucrt-bench-boot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The trivial init: one byte on the serial port, then reboot (-no-reboot
# turns that into QEMU's exit).
cat >"$tmp/init.c" <<'EOF'
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>
int main(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
	int fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY);
	if (write(fd, "!", 1) == 1)
		tcdrain(fd);
	reboot(RB_AUTOBOOT);
	return 0;
}
EOF
musl-gcc -static -Os -o "$tmp/init" "$tmp/init.c"
mkdir -p "$tmp/ramfs/dev"
cp "$tmp/init" "$tmp/ramfs/init"
(cd "$tmp/ramfs" && printf 'init\ndev\n' | cpio -o -H newc --quiet) >"$tmp/trivial.cpio"

# What ucrt passes under TCG (docs/vm.md): tsc_early_khz from the host TSC.
khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
base_append="console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=$khz"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int((NR + 1) / 2)]; else print "nan" }'; }

# bare KERNEL MACHINE_OPTS EXTRA_APPEND -> "first_byte_median exit_median" (ms)
bare() {
	local k=$1 mopts=$2 extra=$3 i t0 t1 t2
	for ((i = 0; i < N; i++)); do
		rm -f "$tmp/t1"
		t0=$(date +%s%N)
		timeout 120 "$qemu" -M "microvm,accel=tcg,$mopts" -cpu max -nodefaults -no-user-config \
			-display none -no-reboot -m 256 -smp 1 -serial stdio \
			-kernel "$k" -initrd "$tmp/trivial.cpio" -append "$base_append $extra" </dev/null |
			{ head -c 1 >/dev/null; date +%s%N >"$tmp/t1"; cat >/dev/null; }
		t2=$(date +%s%N)
		[ -s "$tmp/t1" ] || return 1
		t1=$(cat "$tmp/t1")
		echo "$(((t1 - t0) / 1000000)) $(((t2 - t0) / 1000000))"
	done >"$tmp/bare"
	echo "$(cut -d' ' -f1 "$tmp/bare" | median) $(cut -d' ' -f2 "$tmp/bare" | median)"
}

# ucrt KERNEL: `ucrt vm boot` N times -> "hello_median exit_median".
ucrt_boot() {
	"$ucrt" --root "$tmp/root" vm boot --accel tcg --count "$N" --kernel "$1" >"$tmp/out" 2>"$tmp/err" ||
		{ cat "$tmp/err" >&2; return 1; }
	echo "$(sed -n 's/^boot [0-9]*: hello_ms=\([0-9.]*\).*/\1/p' "$tmp/out" | median)" \
		"$(sed -n 's/^boot [0-9]*: .*exit_ms=\([0-9.]*\).*/\1/p' "$tmp/out" | median)"
}

ratio() { awk -v u="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", u / b; else print "n/a" }'; }

report() {
	local name=$1 k=$2 mopts=$3 extra=$4 b u bf bx h x
	b=$(bare "$k" "$mopts" "$extra")
	u=$(ucrt_boot "$k")
	bf=${b% *} bx=${b#* } h=${u% *} x=${u#* }
	printf '%-9s init: bare %5s ms, ucrt %5s ms (x%s) | exit: bare %5s ms, ucrt %5s ms (x%s)\n' \
		"$name" "$bf" "$h" "$(ratio "$h" "$bf")" "$bx" "$x" "$(ratio "$x" "$bx")"
}

echo "boot under TCG, median of $N boots, ms from QEMU spawned to:"
echo "  init: bare = the trivial init's byte on the serial port; ucrt = guest-init's hello frame"
echo "  exit: bare = QEMU exited after the init rebooted; ucrt = QEMU exited after a QMP quit on hello"
built=${UCRT_KERNEL_CACHE:-$build/kernel}/vmlinux
if [ -f "$built" ]; then
	echo "built kernel: $built"
	report built "$built" acpi=off,pic=off "nolapic_timer"
else
	echo "built     (none: run make kernel)"
fi
cloud=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$cloud" ]; then
	echo "fallback kernel: $cloud"
	report fallback "$cloud" acpi=on "i8042.noaux i8042.nokbd i8042.nopnp"
else
	echo "fallback  (none: no /boot/vmlinuz-*-cloud-amd64)"
fi
