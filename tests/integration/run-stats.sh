#!/bin/bash
# ucrt stats and top on detached containers without network (--network
# none): CPU % from the guest's counters (a busy loop is busy), memory
# used / the guest's memory, block I/O after a write, empty network
# columns (not an error), all running containers when none is named,
# JSON for scripts; top lists the guest's processes; both refuse a
# stopped container. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f busy idle >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

U run -d --network none --name busy "$IMG" sh -c 'while :; do :; done' >/dev/null 2>"$tmp/err"
U run -d --network none --name idle "$IMG" sh -c 'dd if=/dev/zero of=/srv/f bs=1M count=8 2>/dev/null; sync; sleep 1000' >/dev/null 2>"$tmp/err"
sleep 1
U stats --no-stream busy >"$tmp/out" 2>"$tmp/err"; st=$?
is "stats --no-stream exits 0 with --network none" "$st" 0
is "... no error" "$(cat "$tmp/err")" ""
head -1 "$tmp/out" | grep -q "CPU %.*MEM USAGE / LIMIT.*MEM %.*NET I/O.*BLOCK I/O.*PIDS" && ok "docker's columns" || nok "docker's columns"
row=$(grep busy "$tmp/out")
# CPU % covers the time since the guest's previous sample; for the first one
# that is since boot, with the idle waits of the boot's handshake, which on
# a loaded machine can outweigh a second of the loop. Each request takes a
# new sample: ask again (up to 60 s) until one covers the loop alone.
cpu=$(echo "$row" | grep -oE '[0-9]+\.[0-9]{2}%' | head -1 | cut -d. -f1)
for _ in $(seq 60); do
	[ "${cpu:-0}" -ge 50 ] && break
	sleep 1
	cpu=$(U stats --no-stream busy 2>/dev/null | grep busy | grep -oE '[0-9]+\.[0-9]{2}%' | head -1 | cut -d. -f1)
done
[ "${cpu:-0}" -ge 50 ] && ok "a busy loop shows as busy (${cpu}%)" || nok "a busy loop shows as busy (${cpu:-none}%)"
echo "$row" | grep -qE '[0-9.]+MiB / (2[0-9][0-9]|1[0-9][0-9])\.?[0-9]*MiB' && ok "memory used / the guest's memory" || { nok "memory used / the guest's memory"; echo "# $row"; }
# The write takes a moment under TCG: wait (up to 60 s) until the guest
# counted it.
for _ in $(seq 120); do
	U stats --format json idle >"$tmp/json" 2>"$tmp/err"
	[ "$(tr -d ' \n' <"$tmp/json" | grep -o '"BlkWrite":[0-9]*' | cut -d: -f2)" -ge $((8 << 20)) ] 2>/dev/null && break
	sleep 0.5
done
python3 - "$tmp/json" <<'PY' && ok "JSON: no network, memory, block writes, pids" || nok "JSON: no network, memory, block writes, pids"
import json, sys
d = json.loads(open(sys.argv[1]).readline())
c = d["Counters"]
assert d["Name"] == "idle" and d["IP"] == "" and d["NetIO"] == "" and "RxBytes" not in c, d
assert 0 < c["MemUsage"] < c["MemLimit"] and d["MemUsage"].endswith("MiB"), d
assert c["BlkWrite"] >= 8 << 20, d
assert 1 <= c["Pids"] <= 3 and c["CpuPercent"] is not None and d["CPUPerc"].endswith("%"), d
PY
is "stats --format TEMPLATE: one sample, fields" "$(U stats --format '{{.Name}} [{{.NetIO}}] {{.ID}}' idle 2>"$tmp/err")" \
	"idle [] $(U ps -q --filter name=idle)"
is "stats --format 'table ...': docker's headers, aligned" "$(U stats --no-stream --format 'table {{.Name}}\t{{.NetIO}}\t{{.Container}}' idle 2>"$tmp/err" | head -1)" \
	"NAME      NET I/O   CONTAINER"
is "stats without names: every running container" "$(U stats --no-stream 2>/dev/null | tail -n +2 | awk '{print $2}' | sort | tr '\n' ' ')" "busy idle "
U top busy >"$tmp/top" 2>"$tmp/err"; st=$?
is "top exits 0" "$st" 0
head -1 "$tmp/top" | grep -q "PID.*PPID.*UID.*CMD" && ok "top: header" || nok "top: header"
grep -qE '^[0-9]+ +1 +0 +R .*sh -c while :; do :; done$' "$tmp/top" && ok "top lists the busy shell (running, child of init)" || { nok "top lists the busy shell"; sed 's/^/# /' "$tmp/top"; }
is "top: no kernel threads, no guest-init" "$(grep -cE '\[|ucrt-init' "$tmp/top")" 0
U stop -t 1 busy >/dev/null 2>&1
U top busy >/dev/null 2>"$tmp/err"; is "top of a stopped container: 125" "$?" 125
U stats --no-stream busy >/dev/null 2>"$tmp/err"; is "stats of a stopped container: 125" "$?" 125
grep -q "not running" "$tmp/err" && ok "... saying it is not running" || nok "... saying it is not running"
echo "1..$n"
