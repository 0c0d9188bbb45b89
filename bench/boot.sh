#!/bin/bash
# Boot to init for each kernel ucrt can boot (its own from `make kernel`,
# Debian's cloud kernel): `ucrt bench startup --baseline` with the kernel
# chosen by UCRT_KERNEL for both sides, so the floor (bare QEMU, same
# kernel, machine options and command line, an init that writes one byte
# and reboots) is measured in the same run, interleaved.
#   init: ucrt = guest-init's first frame; floor = its init's byte on the console
#   exit: ucrt = QEMU gone after the container's `true`; floor = QEMU gone after the reboot
# BENCH_BOOTS=N runs per case (default 5); medians are printed.
set -u
N=${BENCH_BOOTS:-5}
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BUILD=${UCRT_BUILD:-$UCRT_SRC/build}
UCRT_BIN=${UCRT_BIN:-$UCRT_BUILD/ucrt}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
for t in docker-registry qemu-system-x86_64 python3; do
	command -v $t >/dev/null || { echo "boot: skipped: $t not installed"; exit 0; }
done
tmp=$(mktemp -d /tmp/ucrt-bench-boot.XXXXXX)
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "boot: skipped: registry setup failed"; exit 0; }
"$UCRT_BIN" --root "$tmp/root" image pull -q "$IMG" >/dev/null || { echo "boot: FAIL (pull)"; exit 1; }

report() {	# NAME KERNEL
	UCRT_KERNEL=$2 "$UCRT_BIN" --root "$tmp/root" bench startup --runs "$N" --warmup 1 --baseline \
		--variant "ucrt: --network none" --format json "$IMG" true >"$tmp/$1.json" || true
	python3 - "$1" "$tmp/$1.json" <<'PY'
import json, sys
name, d = sys.argv[1], json.load(open(sys.argv[2]))
u, b = d["variants"]
def p50(v, k):
    s = v["phases_ms"].get(k)
    return s["p50"] if s and s["p50"] is not None else float("nan")
ui, bi = p50(u, "init_ready") - p50(u, "qemu_spawned"), p50(b, "console") - p50(b, "qemu_spawned")
ux, bx = p50(u, "vm_gone") - p50(u, "qemu_spawned"), p50(b, "vm_gone") - p50(b, "qemu_spawned")
print(f"{name:<9} init: floor {bi:6.0f} ms, ucrt {ui:6.0f} ms (x{ui/bi:.2f}) | "
      f"exit: floor {bx:6.0f} ms, ucrt {ux:6.0f} ms (x{ux/bx:.2f})  [{u['ok']}+{b['ok']} ok]")
PY
}

echo "boot under TCG, median of $N runs, ms from QEMU spawned to:"
echo "  init: floor = its init's byte on the serial console; ucrt = guest-init's first frame"
echo "  exit: floor = QEMU gone after the init rebooted; ucrt = QEMU gone after the container's process"
built=${UCRT_KERNEL_CACHE:-$UCRT_BUILD/kernel}/vmlinux
if [ -f "$built" ]; then
	echo "built kernel: $built"
	report built "$built"
else
	echo "built     (none: run make kernel)"
fi
cloud=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$cloud" ]; then
	echo "fallback kernel: $cloud"
	report fallback "$cloud"
else
	echo "fallback  (none: no /boot/vmlinuz-*-cloud-amd64)"
fi
