#!/bin/bash
# VM templates (docs/vm.md, Templates) against cold boots and the bare
# QEMU floor, same run, interleaved:
#   1. `run --rm IMG true`: template vs --no-template vs --baseline (a bare
#      QEMU boot of the same kernel with a trivial init), medians and p99;
#   2. `run --rm --parallel N --max-concurrent M IMG true` from a template
#      and cold: throughput (containers/s) and mean PSS per running QEMU
#      (sampled every 0.5 s; shared template pages count 1/n each).
# BENCH_RUNS (default 10), BENCH_PAR (default 64), BENCH_MAXC (default 8).
# The accelerator used is printed: under TCG every number is CPU-bound,
# and on a shared machine the load average is printed with them.
set -u
N=${BENCH_RUNS:-10}
P=${BENCH_PAR:-64}
M=${BENCH_MAXC:-8}
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BUILD=${UCRT_BUILD:-$UCRT_SRC/build}
UCRT_BIN=${UCRT_BIN:-$UCRT_BUILD/ucrt}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
for t in docker-registry qemu-system-x86_64 python3; do
	command -v $t >/dev/null || { echo "template: skipped: $t not installed"; exit 0; }
done
tmp=$(mktemp -d /tmp/ucrt-bench-tmpl.XXXXXX)
export UCRT_TEMPLATES=on UCRT_NETWORK=none
UCRT_TEMPLATE_DIR=$(mktemp -d /dev/shm/ucrt-bench-tmpl.XXXXXX)
export UCRT_TEMPLATE_DIR
trap 't_reg_stop; rm -rf "$tmp" "$UCRT_TEMPLATE_DIR"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "template: skipped: registry setup failed"; exit 0; }
U() { "$UCRT_BIN" --root "$tmp/root" "$@"; }
U image pull -q "$IMG" >/dev/null || { echo "template: FAIL (pull)"; exit 1; }
key=$(U template create) || { echo "template: FAIL (template create)"; exit 1; }
U template ls | sed 's/^/  /'
accel=$(U info 2>/dev/null | grep -i -m1 "accel" || true)
echo "accelerator: ${accel:-unknown}; load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"

U bench startup --runs "$N" --warmup 1 --baseline --variant "template: " --variant "cold: --no-template" \
	--format json "$IMG" true >"$tmp/startup.json" || true
python3 - "$tmp/startup.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = {v["name"]: v for v in d["variants"]}
def tot(v, k):
    s = v.get("total_ms")
    return s[k] if s and s.get(k) is not None else float("nan")
def pss(v):
    s = v.get("pss_kib")
    return s["p50"] / 1024 if s and s.get("p50") is not None else float("nan")
print(f"run --rm IMG true, {d['variants'][0]['ok']} runs each, total ms p50 / p99, peak PSS p50:")
for n, v in rows.items():
    print(f"  {n:<9} {tot(v, 'p50'):7.0f} / {tot(v, 'p99'):7.0f}   {pss(v):5.1f} MiB")
t, c, b = rows.get("template"), rows.get("cold"), rows.get("baseline")
if t and c and b:
    print(f"  template is x{tot(c,'p50')/tot(t,'p50'):.2f} faster than cold; "
          f"template/floor x{tot(t,'p50')/tot(b,'p50'):.2f}, cold/floor x{tot(c,'p50')/tot(b,'p50'):.2f}")
PY

# --parallel: throughput and PSS per VM.
pss_sampler() {	# OUT: PSS (KiB) of each QEMU child of ucrt processes of this root, sampled
	# One process for the whole run: a shell loop forking pgrep/awk per
	# QEMU every 0.5 s took CPU from the 2 cores being measured.
	python3 - "$1" "$tmp/root" "$tmp/stop" <<'PY'
import os, sys, time
out, root, stop = sys.argv[1:]
def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return []
def field(path, key):	# the number after KEY: in a /proc file, or 0
    try:
        for l in open(path):
            if l.startswith(key):
                return int(l.split()[1])
    except OSError:
        pass
    return 0
with open(out, "w") as f:
    while not os.path.exists(stop):
        for p in filter(str.isdigit, os.listdir("/proc")):
            c = cmdline(p)
            if not c or not c[0].endswith(b"qemu-system-x86_64") or b"-no-reboot" not in c:
                continue
            if root.encode() not in b" ".join(cmdline(field(f"/proc/{p}/status", "PPid:"))):
                continue
            v = field(f"/proc/{p}/smaps_rollup", "Pss:")
            if v:
                f.write(f"{v}\n")
        time.sleep(0.5)
PY
}
par() {	# NAME OPTS...
	local name=$1; shift
	rm -f "$tmp/stop" "$tmp/pss.$name"
	pss_sampler "$tmp/pss.$name" &
	local s=$!
	local t0=$(date +%s.%N)
	U run --rm --parallel "$P" --max-concurrent "$M" "$@" "$IMG" true >/dev/null 2>"$tmp/par.$name" || true
	local t1=$(date +%s.%N)
	touch "$tmp/stop"; wait $s
	python3 - "$name" "$t0" "$t1" "$P" "$tmp/pss.$name" "$tmp/par.$name" <<'PY'
import sys
name, t0, t1, n, f, err = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
v = [int(x) for x in open(f).read().split() if x.isdigit()]
ok = sum(1 for l in open(err) if "succeeded" in l)
pss = sum(v) / len(v) / 1024 if v else float("nan")
print(f"  {name:<9} {n / (t1 - t0):5.2f} containers/s ({t1 - t0:5.1f} s), PSS per VM {pss:5.1f} MiB "
      f"(mean of {len(v)} samples, max {max(v) / 1024 if v else float('nan'):.1f})")
PY
	grep -E "instance\(s\)" "$tmp/par.$name" | sed 's/^/            /'
}
echo "run --rm --parallel $P --max-concurrent $M IMG true:"
par template
par cold --no-template
