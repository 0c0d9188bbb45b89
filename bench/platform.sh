#!/bin/bash
# Foreign-architecture images (docs/platforms.md), in one run against the
# same image index: (1) start latency of `run --rm --platform linux/arm64
# IMG true` (qemu-user inside the VM) against the native linux/amd64 image,
# as the ratio of medians over BENCH_PLATFORM_RUNS (5) runs after one
# warm-up each; (2) a CPU-bound job, sha256sum of BENCH_PLATFORM_MB (64)
# MiB, translated against native, timed in the guest (/proc/uptime, 10 ms).
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
runs=${BENCH_PLATFORM_RUNS:-5}
mb=${BENCH_PLATFORM_MB:-64}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
. "$UCRT_SRC/tests/lib/platform.sh"
for t in docker-registry qemu-system-x86_64 python3; do
	command -v $t >/dev/null || { echo "platform bench: SKIP ($t not installed)"; exit 0; }
done
[ "$(uname -m)" = x86_64 ] || { echo "platform bench: SKIP (written for an x86-64 host)"; exit 0; }
[ -x /usr/bin/qemu-aarch64-static ] || { echo "platform bench: SKIP (qemu-user-static not installed)"; exit 0; }
tmp=$(mktemp -d /tmp/ucrt-bench-platform.XXXXXX)
trap 't_reg_stop; rm -rf "$tmp"' EXIT
bb=$(t_arm64_busybox "$UCRT_SRC/build/test-cache/busybox-arm64" 2>"$tmp/err") ||
	{ echo "platform bench: SKIP (no arm64 busybox: $(cat "$tmp/err"))"; exit 0; }
{ t_reg_start "$tmp/registry" http && t_platform_image "$tmp/layout" 1 /bin/busybox "$bb" &&
  t_reg_upload "$tmp/layout" ucrt-bench/multi 1; } >"$tmp/setup.log" 2>&1 ||
	{ echo "platform bench: SKIP (registry setup failed)"; exit 0; }
IMG=$REG/ucrt-bench/multi:1
export UCRT_NETWORK=none
U() { "$UCRT_BIN" --root "$tmp/root" "$@"; }

# Pull both and build both disks (and the emulator disk) before timing.
for p in linux/amd64 linux/arm64; do
	U run --rm -q --platform $p "$IMG" true >/dev/null 2>"$tmp/err" ||
		{ echo "platform bench: FAILED ($p)"; sed 's/^/    /' "$tmp/err" | tail -5; exit 1; }
done
# Interleaved, so drift on a shared host hits both alike.
for i in $(seq "$runs"); do
	for p in linux/amd64 linux/arm64; do
		t0=$(date +%s.%N)
		U run --rm -q --platform $p "$IMG" true >/dev/null 2>"$tmp/err" ||
			{ echo "platform bench: FAILED ($p)"; sed 's/^/    /' "$tmp/err" | tail -5; exit 1; }
		t1=$(date +%s.%N)
		echo "start $p $t0 $t1" >>"$tmp/out"
	done
done
job='read a _ </proc/uptime; dd if=/dev/zero bs=1M count=$MB 2>/dev/null | sha256sum >/dev/null; read b _ </proc/uptime; echo $a $b'
for p in linux/amd64 linux/arm64; do
	r=$(U run --rm -q --memory 512M -e MB=$mb --platform $p "$IMG" sh -c "$job" 2>"$tmp/err") ||
		{ echo "platform bench: FAILED (sha256sum, $p)"; sed 's/^/    /' "$tmp/err" | tail -5; exit 1; }
	echo "cpu $p $r" >>"$tmp/out"
done
# As ucrt chooses (accel auto): KVM needs the CPU flag and /dev/kvm.
accel=tcg
grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && accel=kvm
python3 - "$tmp/out" "$mb" "$runs" "$accel" <<'PY'
import statistics, sys
start, cpu = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "start":
        start.setdefault(f[1], []).append(float(f[3]) - float(f[2]))
    elif f[0] == "cpu":
        cpu[f[1]] = float(f[3]) - float(f[2])
mb, runs, accel = sys.argv[2], sys.argv[3], sys.argv[4]
n, e = statistics.median(start["linux/amd64"]), statistics.median(start["linux/arm64"])
print(f"platform: linux/arm64 under qemu-user in the VM vs linux/amd64 native (accel {accel})")
print(f"  start, run --rm IMG true, median of {runs}: native {n * 1000:.0f} ms | "
      f"arm64 {e * 1000:.0f} ms ({e / n:.2f}x)")
cn, ce = cpu["linux/amd64"], cpu["linux/arm64"]
print(f"  sha256sum of {mb} MiB, in the guest:   native {cn:.2f} s | "
      f"arm64 {ce:.2f} s ({ce / cn:.1f}x)" if cn > 0 else f"  sha256sum: native {cn} s, arm64 {ce} s")
PY
