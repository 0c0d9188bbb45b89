#!/bin/bash
# `ucrt bench density --max 3` end to end: three detached idle containers
# started one after another, each with its start latency, its VM's PSS
# and the host memory left; JSON against docs/bench-schema.json, the
# picture parses and renders, the table, and no container left behind.
# No timing is asserted. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
for t in xmllint rsvg-convert; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed (./configure --install-deps)"; exit 0; }
done
python3 -c 'import jsonschema' 2>/dev/null || { echo "1..0 # SKIP python3-jsonschema not installed"; exit 0; }
trap 'U rm -f $(U ps -a -q 2>/dev/null) >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
echo 1..9

U image pull -q "$IMG" >/dev/null 2>"$tmp/err"; is "image pulled before measuring" "$?" 0
U bench density --max 3 --format json --plot "$tmp/d.svg" "$IMG" >"$tmp/out.json" 2>"$tmp/err"
is "bench density --max 3 exits 0" "$?" 0
python3 - "$tmp/out.json" "$UCRT_SRC/docs/bench-schema.json" <<'PY' >"$tmp/py" 2>&1
import json, sys, jsonschema
d = json.load(open(sys.argv[1]))
jsonschema.validate(d, json.load(open(sys.argv[2])))
PY
[ $? = 0 ] && ok "JSON validates against docs/bench-schema.json" || { nok "schema"; sed 's/^/# /' "$tmp/py" | tail -5; }
python3 - "$tmp/out.json" <<'PY' >"$tmp/py" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
r = d["runs"]
assert d["mode"] == "density" and d["stop_reason"] == "max", d.get("stop_reason")
assert [x["running"] for x in r] == [0, 1, 2], [x["running"] for x in r]
assert all(x["ok"] and x["phases_ms"]["end"] > 0 for x in r), [x["error"] for x in r]
assert all(x["pss_kib"] > 0 and x["mem_available_kib"] > 0 for x in r), r
assert d["cmd"] == ["sleep", "86400"]
PY
[ $? = 0 ] && ok "3 starts with 0, 1, 2 already running: latency, PSS, memory left" ||
	{ nok "density records"; sed 's/^/# /' "$tmp/py" | tail -5; }
xmllint --noout "$tmp/d.svg" 2>"$tmp/err"; is "SVG parses (xmllint)" "$?" 0
rsvg-convert -f png -o "$tmp/d.png" "$tmp/d.svg" 2>"$tmp/err"
size=$(python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", b[16:24]) if b[:8] == b"\x89PNG\r\n\x1a\n" else "not a PNG")' "$tmp/d.png" 2>&1)
is "SVG renders to a 960x600 PNG" "$size" "960x600"
is "the containers were removed" "$(U ps -a -q 2>&1)" ""
# On a terminal (script(1) gives it one): the progress line, then the
# table; --max may follow IMAGE.
script -qec "$UCRT_BIN --root $tmp/root bench density $IMG --max 1" /dev/null >"$tmp/table" 2>"$tmp/err"
grep -q "running .*started ms .*PSS MiB" "$tmp/table" && grep -q "stopped: max" "$tmp/table" &&
	ok "table output" || { nok "table output"; sed 's/^/# /' "$tmp/table"; }
grep -aq "bench density: [01]/1 runs done, 0 failed" "$tmp/table" && ok "a progress line on a terminal" ||
	{ nok "progress line"; sed 's/^/# /' "$tmp/table" | cat -v | head -5; }
