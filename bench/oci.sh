#!/bin/bash
# What podman and conmon add on top of ucrt: `podman run --rm IMG true`
# with ucrt-oci as the runtime, against `ucrt run --rm IMG true` (the same
# microVM without podman), and against podman's default runtime (crun)
# where this machine lets crun run at all. Runs are interleaved (one of
# each per round) so drift hits all alike; medians and their ratio are
# printed. BENCH_OCI_RUNS rounds (default 7). Needs root, podman, conmon.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
runs=${BENCH_OCI_RUNS:-7}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
[ "$(id -u)" = 0 ] || { echo "oci bench: SKIP (needs root)"; exit 0; }
for t in docker-registry qemu-system-x86_64 python3 podman conmon; do
	command -v $t >/dev/null || { echo "oci bench: SKIP ($t not installed)"; exit 0; }
done
[ -x "$OCI" ] || { echo "oci bench: SKIP ($OCI not built)"; exit 0; }
[ -f "$UCRT_SRC/build/kernel/vmlinux" ] || [ -n "${UCRT_KERNEL:-}" ] ||
	{ echo "oci bench: SKIP (a bundle root needs ucrt's kernel: make kernel)"; exit 0; }
tmp=$(mktemp -d /tmp/ucrt-bench-oci.XXXXXX)
P() {
	CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf \
		podman --root "$tmp/graph" --runroot "$tmp/runroot" --tmpdir "$tmp/libpod" \
		--events-backend file "$@"
}
cleanup() {
	P rm -a -f -t 0 >/dev/null 2>&1
	P system reset -f >/dev/null 2>&1
	t_reg_stop
	findmnt -rn -o TARGET | grep "^$tmp" | sort -r | xargs -r umount -l 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "oci bench: SKIP (registry setup failed)"; exit 0; }
cat >"$tmp/containers.conf" <<EOF
[engine]
events_logger = "file"
[engine.runtimes]
ucrt = ["$OCI"]
[network]
network_config_dir = "$tmp/networks"
EOF
printf '[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n' "$tmp/runroot" "$tmp/graph" >"$tmp/storage.conf"
P pull -q --tls-verify=false "$IMG" >/dev/null 2>&1 || { echo "oci bench: SKIP (podman pull failed)"; exit 0; }
U() { "$UCRT_BIN" --root "$tmp/ucrt" "$@"; }
U image pull -q "$IMG" >/dev/null 2>&1 || { echo "oci bench: SKIP (ucrt pull failed)"; exit 0; }

# Each variant: the command, after one warm-up run that must succeed.
variants="podman-ucrt ucrt"
run_one() {
	case $1 in
	podman-ucrt) P --runtime ucrt run --rm --network none "$IMG" true ;;
	ucrt) U run --rm --network none "$IMG" true ;;
	podman-crun) P --runtime crun run --rm --network none "$IMG" true ;;
	esac
}
crun_note=
if command -v crun >/dev/null && run_one podman-crun >/dev/null 2>"$tmp/crun.err"; then
	variants="$variants podman-crun"
else
	crun_note="podman + crun: not measured here ($(tail -1 "$tmp/crun.err" 2>/dev/null | cut -c1-120))"
fi
for v in $variants; do
	run_one $v >/dev/null 2>"$tmp/err" || { echo "oci bench: FAILED ($v)"; sed 's/^/    /' "$tmp/err" | tail -3; exit 1; }
done
for r in $(seq "$runs"); do
	for v in $variants; do
		t0=$(date +%s%N); run_one $v >/dev/null 2>&1; t1=$(date +%s%N)
		echo "$v $(( (t1 - t0) / 1000000 ))" >>"$tmp/times"
	done
done
python3 - "$tmp/times" "$runs" "$crun_note" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    v, ms = line.split()
    t.setdefault(v, []).append(int(ms))
med = {v: statistics.median(x) for v, x in t.items()}
print(f"podman run --rm IMG true, {sys.argv[2]} interleaved rounds (median wall ms):")
for v in t:
    print(f"  {v:12s} {med[v]:8.0f}  (min {min(t[v])}, max {max(t[v])})")
u, p = med.get("ucrt"), med.get("podman-ucrt")
if u and p:
    print(f"  podman + conmon on top of ucrt: +{p - u:.0f} ms, ratio podman-ucrt/ucrt {p / u:.2f}")
c = med.get("podman-crun")
if c and p:
    print(f"  ucrt microVM vs crun container under podman: ratio {p / c:.2f}")
if sys.argv[3]:
    print("  " + sys.argv[3])
PY
