#!/bin/bash
# `ucrt bench startup` end to end (QEMU under TCG here): two variants of
# `ucrt run` options and the bare-QEMU baseline, 3 runs each, as JSON
# checked against docs/bench-schema.json: every phase present and in
# order, the baseline's floor init reached, variants interleaved in the
# per-run records, ratios with intervals; the SVG parses (xmllint) and
# renders (rsvg-convert) to a 960x600 PNG; the table; --help; a bad
# --variant; Ctrl-C prints partial results. No timing is asserted. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
for t in xmllint rsvg-convert; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed (./configure --install-deps)"; exit 0; }
done
python3 -c 'import jsonschema' 2>/dev/null || { echo "1..0 # SKIP python3-jsonschema not installed"; exit 0; }
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
echo 1..25

U image pull -q "$IMG" >/dev/null 2>"$tmp/err"; is "image pulled before measuring" "$?" 0

U bench startup --runs 3 --warmup 0 --variant 'm256: --memory 256M' --variant 'm320: -m 320M' \
	--baseline --format json --plot "$tmp/p.svg" "$IMG" true >"$tmp/out.json" 2>"$tmp/err"
is "bench startup (2 variants + baseline, 3 runs) exits 0" "$?" 0

check() {	# NAME PYTHON-EXPRESSION over d (the report)
	python3 - "$tmp/out.json" "$UCRT_SRC/docs/bench-schema.json" "$2" <<'PY' >"$tmp/py" 2>&1
import json, sys, jsonschema
d = json.load(open(sys.argv[1]))
schema = json.load(open(sys.argv[2]))
ucrt = [r for r in d["runs"] if r["variant"] != "baseline"]
base = [r for r in d["runs"] if r["variant"] == "baseline"]
def ordered(r):
    t = [r["phases_ms"][k] for k in d["phases"] if k not in ("console", "kernel_entry", "guest_init_start") and r["phases_ms"][k] is not None]
    return all(a <= b for a, b in zip(t, t[1:]))
res = eval(sys.argv[3])
if res is not True:
    print(res)
    sys.exit(1)
PY
	if [ $? = 0 ]; then ok "$1"; else nok "$1"; sed 's/^/# /' "$tmp/py" | tail -5; fi
}
check "JSON validates against docs/bench-schema.json" "jsonschema.validate(d, schema) or True"
check "3 variants in order, 9 runs" '[v["name"] for v in d["variants"]] == ["m256", "m320", "baseline"] and len(d["runs"]) == 9 or [v["name"] for v in d["variants"]]'
check "interleaved: runs go m256 m320 baseline m256 ..." '[r["variant"] for r in d["runs"]] == ["m256", "m320", "baseline"] * 3 and [r["seq"] for r in d["runs"]] == list(range(9))'
check "every run succeeded" 'all(r["ok"] and r["status"] == 0 for r in d["runs"]) or [r["error"] for r in d["runs"]]'
check "ucrt runs have every phase (the console byte may be absent)" \
	'all(r["phases_ms"][k] is not None for r in ucrt for k in d["phases"] if k != "console") or [r["phases_ms"] for r in ucrt]'
check "... in order" 'all(ordered(r) for r in ucrt) or [r["phases_ms"] for r in ucrt]'
check "guest clock: kernel entry after QEMU spawned, guest-init start before it is ready" \
	'all(r["phases_ms"]["qemu_spawned"] <= r["phases_ms"]["kernel_entry"] <= r["phases_ms"]["guest_init_start"] <= r["phases_ms"]["init_ready"] for r in ucrt) or [r["phases_ms"] for r in ucrt]'
check "baseline: QEMU spawned, its init's byte on the console, VM gone" \
	'all(r["phases_ms"]["qemu_spawned"] is not None and r["phases_ms"]["console"] is not None and r["phases_ms"]["vm_gone"] is not None and r["phases_ms"]["init_ready"] is None and ordered(r) for r in base)'
check "host CPU and peak PSS measured for every run" 'all(r["cpu_ms"] > 0 and r["pss_kib"] > 0 for r in d["runs"])'
check "QEMU CPU is part of the run's CPU" 'all(0 < r["qemu_cpu_ms"] <= r["cpu_ms"] + 10 for r in ucrt)'
# A ucrt guest prints to the console only now and then (quiet kernel; the
# reboot line races QEMU's exit), so its console phase has 0-3 values.
check "percentiles ordered for every phase" \
	'all(s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"] and (s["n"] == 3 or (k == "console" and v["name"] != "baseline" and 0 < s["n"] < 3)) for v in d["variants"] for k, s in v["phases_ms"].items())'
check "ratios to m256 with an interval around them" \
	'd["variants"][0]["ratio"] is None and all(v["ratio"]["to"] == "m256" and v["ratio"]["ci_low"] <= v["ratio"]["p50"] <= v["ratio"]["ci_high"] for v in d["variants"][1:])'
check "the m320 variant passed its options" 'd["variants"][1]["options"] == ["-m", "320M"]'

xmllint --noout "$tmp/p.svg" 2>"$tmp/err"; is "SVG parses (xmllint)" "$?" 0
rsvg-convert -f png -o "$tmp/p.png" "$tmp/p.svg" 2>"$tmp/err"
size=$(python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", b[16:24]) if b[:8] == b"\x89PNG\r\n\x1a\n" else "not a PNG")' "$tmp/p.png" 2>&1)
is "SVG renders to a 960x600 PNG (rsvg-convert)" "$size" "960x600"

U bench startup --runs 1 --warmup 0 --plot "$tmp/t.png" "$IMG" true >"$tmp/table" 2>"$tmp/err"; st=$?
is "table + --plot FILE.png exits 0" "$st" 0
grep -q "ms after launch .* min .* p50 .* p90 .* p99 .* max" "$tmp/table" && grep -q "guest-init ready" "$tmp/table" &&
	grep -q "runtime overhead" "$tmp/table" && [ "$(head -c 4 "$tmp/t.png" | tail -c 3)" = PNG ] &&
	ok "table has the percentiles of each phase, and the PNG was written" || { nok "table and PNG"; sed 's/^/# /' "$tmp/table"; }

# --compare podman with a podman that does not work: said once, not measured.
mkdir -p "$tmp/fakebin"
printf '#!/bin/sh\necho "Error: no runtime here (fake podman)" >&2\nexit 125\n' >"$tmp/fakebin/podman"
chmod +x "$tmp/fakebin/podman"
PATH=$tmp/fakebin:$PATH U bench startup --runs 1 --warmup 1 --compare podman --format json "$IMG" true \
	>"$tmp/pm.json" 2>"$tmp/err"; st=$?
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [v["name"] for v in d["variants"]] == ["ucrt", "podman"], d["variants"]
assert "podman: Error: no runtime here (fake podman)" in d["notes"], d["notes"]
pm = [r for r in d["runs"] if r["variant"] == "podman"]
assert len(pm) == 1 and pm[0]["warmup"] and not pm[0]["ok"], pm
assert [r["ok"] for r in d["runs"] if r["variant"] == "ucrt"] == [True, True]' "$tmp/pm.json" >"$tmp/py" 2>&1
[ $? = 0 ] && [ $st = 0 ] && ok "a podman that fails is noted with its error and not measured further" ||
	{ nok "podman that fails ($st)"; sed 's/^/# /' "$tmp/py" | tail -3; }

U bench startup --runs 1 --warmup 1 --format csv "$IMG" true >"$tmp/out.csv" 2>"$tmp/err"
python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [(r["seq"], r["warmup"], r["ok"]) for r in rows] == [("0", "1", "1"), ("1", "0", "1")], rows
assert all(float(r["end_ms"]) >= float(r["process_started_ms"]) > 0 for r in rows), rows' "$tmp/out.csv" >"$tmp/py" 2>&1
[ $? = 0 ] && ok "--format csv: a line per run, warm-up marked" || { nok "csv"; sed 's/^/# /' "$tmp/py" | tail -3; }

out=$(U bench startup --help 2>&1); st=$?
[ $st = 0 ] && grep -q "^Usage: ucrt bench startup" <<<"$out" && [ "$(t_qemu_count "$tmp/root")" = 0 ] &&
	ok "--help prints help, exits 0" || nok "--help"
U bench startup --variant 'x: --rm' "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
[ $st = 125 ] && grep -q "would change what is measured" "$tmp/err" && ok "a refused --variant: 125 and why" ||
	nok "a refused --variant ($st)"

# Ctrl-C while a run is in flight: partial results, exit 130. (bash starts
# background jobs with SIGINT ignored; a terminal's Ctrl-C is not.) The
# runs sleep: a run of `true` can be over (all three can) before the poll
# below sees its QEMU and the signal lands, and nothing is interrupted.
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
	"$UCRT_BIN" --root "$tmp/root" bench startup --runs 3 --warmup 0 --format json "$IMG" sleep 600 >"$tmp/int.json" 2>"$tmp/err" &
bp=$!
for _ in $(seq 600); do [ "$(t_qemu_count "$tmp/root")" -gt 0 ] && break; sleep 0.1; done
kill -INT $bp
wait $bp; st=$?
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["interrupted"] is True and len(d["runs"]) >= 1 and any(r["error"] == "interrupted" for r in d["runs"])' "$tmp/int.json" 2>"$tmp/err"
[ $? = 0 ] && [ $st = 130 ] && ok "Ctrl-C: exit 130, JSON with the interrupted run" || nok "Ctrl-C ($st)"
[ "$(t_qemu_count "$tmp/root")" = 0 ] && [ -z "$(U ps -a -q 2>&1)" ] && ok "... no QEMU and no container left behind" ||
	{ nok "left after Ctrl-C"; U ps -a | sed 's/^/# /'; }
