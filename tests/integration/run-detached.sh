#!/bin/bash
# Detached containers: run -d (supervisor), ps, logs [-f], exec (status,
# stdin, env), kill -s, stop, the overlay keeping changes across exec,
# inspect JSON, rm; a foreground ucrt killed by SIGKILL leaves no QEMU and
# `ps -a` / `rm` clean its container up. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f web fg1 fg2 >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

id=$(U run -d --name web "$IMG" sh -c 'trap "echo got-term; exit 7" TERM; echo started; while true; do sleep 0.2; done' 2>"$tmp/err")
is "run -d exits 0 and prints a 64-hex id" "$(echo "$id" | grep -cE '^[0-9a-f]{64}$')" 1
U ps >"$tmp/ps" 2>"$tmp/err"
grep -q "web" "$tmp/ps" && grep -q "Up " "$tmp/ps" && ok "ps lists it as Up" || nok "ps lists it as Up"
# Bounds below are generous (60 s): a loop ends as soon as its condition
# holds, and a loaded machine (TCG guests of a parallel test) is slow.
for _ in $(seq 600); do grep -q started "$tmp/root/containers/$id/output.log" 2>/dev/null && break; sleep 0.1; done
is "logs shows its output" "$(U logs web 2>"$tmp/err")" "started"
out=$(U exec -e X=1 web sh -c 'echo exec $X $HOSTNAME; echo data >/srv/file; exit 3' 2>"$tmp/err"); st=$?
is "exec output" "$out" "exec 1 ${id:0:12}"
is "exec exit status" "$st" 3
is "exec -i streams stdin" "$(echo piped | U exec -i web cat 2>"$tmp/err")" "piped"
is "a second exec sees the first one's file" "$(U exec web cat /srv/file 2>"$tmp/err")" "data"
U exec web no-such-command >/dev/null 2>"$tmp/err"; is "exec of a missing command: 127" "$?" 127
U logs -f web >"$tmp/follow" 2>&1 & follow=$!
U stop -t 5 web >/dev/null 2>"$tmp/err"; is "stop exits 0" "$?" 0
wait $follow; is "logs -f ends when the container stops" "$?" 0
is "logs -f saw the whole output" "$(cat "$tmp/follow")" "started
got-term"
U ps -a >"$tmp/ps"
grep -q "Exited (7)" "$tmp/ps" && ok "ps -a shows Exited (7)" || { nok "ps -a shows Exited (7)"; sed 's/^/# /' "$tmp/ps"; }
U inspect web >"$tmp/insp" 2>"$tmp/err"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["State"]["Status"]=="exited" and d["State"]["ExitCode"]==7 and d["Name"]=="web", d' "$tmp/insp" &&
	ok "inspect prints JSON with config and state" || nok "inspect JSON"
U exec web true >/dev/null 2>"$tmp/err"; is "exec in a stopped container: 125" "$?" 125
is "rm removes it" "$(U rm web 2>"$tmp/err")" "web"
[ ! -e "$tmp/root/containers/$id" ] && ok "its directory is gone" || nok "its directory is gone"

# kill -s: a signal to the main process; rm -f of a running one.
U run -d --name web "$IMG" sh -c 'trap "exit 9" USR1; echo ready; while true; do sleep 0.2; done' >/dev/null 2>"$tmp/err"
# Until "ready": a USR1 before the trap is set would kill the shell (138).
for _ in $(seq 600); do [ "$(U logs web 2>/dev/null)" = ready ] && break; sleep 0.1; done
U kill -s USR1 web >/dev/null 2>"$tmp/err"
for _ in $(seq 600); do U ps -a | grep -q "Exited (9)" && break; sleep 0.1; done
U ps -a | grep -q "Exited (9)" && ok "kill -s USR1 reached the process" || nok "kill -s USR1 reached the process"
U rm web >/dev/null 2>&1

# Foreground ucrt processes killed by SIGKILL: their VMs die with them.
pids=
for c in fg1 fg2; do "$UCRT_BIN" --root "$tmp/root" run --name $c "$IMG" sleep 1000 >/dev/null 2>&1 & pids="$pids $!"; done
for _ in $(seq 120); do [ "$(t_qemu_count "$tmp/root/containers")" -ge 2 ] && break; sleep 0.5; done
is "two VMs running" "$(t_qemu_count "$tmp/root/containers")" 2
kill -9 $pids; wait $pids 2>/dev/null
for _ in $(seq 600); do [ "$(t_qemu_count "$tmp/root")" = 0 ] && break; sleep 0.1; done
is "SIGKILL of ucrt leaves no QEMU" "$(t_qemu_count "$tmp/root")" 0
is "ps -a shows both as Dead" "$(U ps -a | grep -c ' Dead ')" 2
U rm fg1 fg2 >/dev/null 2>"$tmp/err"; is "rm cleans them up" "$?" 0
is "nothing left" "$(ls "$tmp/root/containers" | grep -vc lock)" 0
echo "1..$n"
