#!/bin/bash
# `ucrt run` start latency and density under concurrency, every figure
# measured by `ucrt bench` against the floor in the same run (a bare QEMU
# of the same kernel and machine options whose init reboots at once):
#  - `ucrt bench startup --baseline`: BENCH_RUNS (20) runs of
#    `ucrt run --rm IMG true` interleaved with the floor, per-phase
#    percentiles, the ratio with its bootstrap interval, and a picture
#    (build/bench/startup.svg);
#  - the same at --parallel 16/32/64 (BENCH_PARALLEL): p50/p90 of both,
#    peak PSS per VM, containers per second.
# The image is served by a local docker-registry and pulled first (not
# counted). BENCH_RUN_OPTS are the `ucrt run` options measured.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
UCRT_BUILD=${UCRT_BUILD:-$UCRT_SRC/build}
runs=${BENCH_RUNS:-20}
plist=${BENCH_PARALLEL:-16 32 64}
ropts=${BENCH_RUN_OPTS:---network none}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
for t in docker-registry qemu-system-x86_64 python3; do
	command -v $t >/dev/null || { echo "run bench: SKIP ($t not installed)"; exit 0; }
done
tmp=$(mktemp -d /tmp/ucrt-bench-run.XXXXXX)
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "run bench: SKIP (registry setup failed)"; exit 0; }
U() { "$UCRT_BIN" --root "$tmp/root" "$@"; }
U image pull -q "$IMG" >/dev/null || { echo "run bench: FAIL (pull)"; exit 1; }
mkdir -p "$UCRT_BUILD/bench"

U bench startup --runs "$runs" --warmup 1 --variant "ucrt: $ropts" --baseline \
	--plot "$UCRT_BUILD/bench/startup.svg" "$IMG" true
echo "picture: $UCRT_BUILD/bench/startup.svg"

for n in $plist; do
	U bench startup --runs "$n" --parallel "$n" --warmup 0 --variant "ucrt: $ropts" --baseline \
		--format json "$IMG" true >"$tmp/par.json"
	python3 - "$n" "$tmp/par.json" <<'PY'
import json, sys
n, d = int(sys.argv[1]), json.load(open(sys.argv[2]))
u, b = d["variants"]
t, bt = u["total_ms"], b["total_ms"]
r = b["ratio"]
pss = u["pss_kib"]["p50"]
fails = [x["error"] for x in d["runs"] if not x["ok"]]
print(f"--parallel {n:<3} ucrt p50 {t['p50']/1e3:6.2f}s p90 {t['p90']/1e3:6.2f}s | floor p50 {bt['p50']/1e3:6.2f}s"
      f" p90 {bt['p90']/1e3:6.2f}s | ucrt/floor x{1/r['p50']:.2f} | PSS/VM {pss/1024 if pss else 0:5.1f} MiB"
      f" | {2*n/d['wall_s']:5.2f} VMs/s (both kinds, {d['wall_s']:.1f}s)")
for e in fails[:5]:
    print("    !", e)
PY
done
