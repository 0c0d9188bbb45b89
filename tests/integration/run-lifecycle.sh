#!/bin/bash
# Lifecycle of kept containers: create (nothing boots), start (and start
# again on the kept overlay disk), start -a (exit status, stdout/stderr
# apart, stdin with -i), wait (several, in order), attach (output and
# stdin of a running detached container), restart, and stop of a process
# that ignores SIGTERM (Exited (137), exit 0, also under a foreground run;
# stopping it again is quiet).
# TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f c1 c2 c3 w1 w2 att r1 stub >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

# create: a container, no VM.
id=$(U create --name c1 "$IMG" sh -c 'echo hello; cat /srv/state 2>/dev/null; echo run >>/srv/state' 2>"$tmp/err")
is "create prints a 64-hex id" "$(echo "$id" | grep -cE '^[0-9a-f]{64}$')" 1
is "no VM boots for it" "$(t_qemu_count "$id")" 0
U ps -a >"$tmp/ps"
grep -q "c1" "$tmp/ps" && grep -q "Created" "$tmp/ps" && ok "ps -a shows it Created" || nok "ps -a shows it Created"
is "ps (running only) does not" "$(U ps -q)" ""

# start, wait; start again: a fresh VM on the same overlay disk.
is "start prints its name" "$(U start c1 2>"$tmp/err")" "c1"
is "wait prints its exit code" "$(U wait c1 2>"$tmp/err")" 0
is "start again" "$(U start c1 2>"$tmp/err")" "c1"
U wait c1 >/dev/null 2>"$tmp/err"
is "the second run saw the first run's file (kept overlay)" "$(U logs c1 2>"$tmp/err")" "hello
hello
run"

# start -a: output from the first byte, stderr apart, the exit status.
U create --name c2 "$IMG" sh -c 'echo out; echo err >&2; exit 3' >/dev/null 2>"$tmp/err"
U start -a c2 >"$tmp/out" 2>"$tmp/errout"; st=$?
is "start -a exits with the container's status" "$st" 3
is "start -a: stdout" "$(cat "$tmp/out")" "out"
is "start -a: stderr" "$(cat "$tmp/errout")" "err"
U create -i --name c3 "$IMG" sh -c 'read x; echo "got $x"' >/dev/null 2>"$tmp/err"
is "start -a -i feeds stdin" "$(echo piped | U start -a -i c3 2>"$tmp/err")" "got piped"

# wait for two, in the order given.
U run -d --name w1 "$IMG" sh -c 'sleep 1; exit 4' >/dev/null 2>"$tmp/err"
U run -d --name w2 "$IMG" sh -c 'exit 5' >/dev/null 2>"$tmp/err"
is "wait prints each exit code in order" "$(U wait w1 w2 2>"$tmp/err")" "4
5"
U wait no-such >/dev/null 2>"$tmp/err"; is "wait of an unknown container: 125" "$?" 125

# attach: a running detached container's output and stdin.
U run -d -i --name att "$IMG" sh -c 'read x; echo "got $x"; echo bye >&2; exit 6' >/dev/null 2>"$tmp/err"
echo hi | U attach att >"$tmp/out" 2>"$tmp/errout"; st=$?
is "attach exits with the container's status" "$st" 6
is "attach: stdin reached it, its stdout came back" "$(cat "$tmp/out")" "got hi"
is "attach: stderr" "$(cat "$tmp/errout")" "bye"
U attach att >/dev/null 2>"$tmp/err"; is "attach to a stopped container: 125" "$?" 125

# restart: stop, then a fresh VM.
U run -d --name r1 "$IMG" sh -c 'trap "exit 0" TERM; echo start; while :; do sleep 0.2; done' >/dev/null 2>"$tmp/err"
# Waits are bounded at 60 s and end as soon as the output is there: a
# signal sent before the trap that handles it is set ends the shell instead.
for _ in $(seq 600); do [ "$(U logs r1 2>/dev/null)" = start ] && break; sleep 0.1; done
is "restart prints its name" "$(U restart -t 5 r1 2>"$tmp/err")" "r1"
U ps >"$tmp/ps"
grep -q "r1" "$tmp/ps" && grep -q "Up " "$tmp/ps" && ok "it runs again" || nok "it runs again"
for _ in $(seq 600); do [ "$(U logs r1 2>/dev/null | grep -c start)" = 2 ] && break; sleep 0.1; done
is "its process ran twice" "$(U logs r1 2>"$tmp/err" | grep -c start)" 2

# stop: a process that ignores SIGTERM is killed after the timeout.
U run -d --name stub "$IMG" sh -c 'trap "" TERM; echo ready; while :; do sleep 0.2; done' >/dev/null 2>"$tmp/err"
for _ in $(seq 600); do [ "$(U logs stub 2>/dev/null)" = ready ] && break; sleep 0.1; done
U stop -t 1 stub >"$tmp/out" 2>"$tmp/err"; st=$?
is "stop after the timeout exits 0" "$st" 0
is "stop: no error" "$(cat "$tmp/err")" ""
U ps -a | grep stub >"$tmp/ps"
grep -q "Exited (137)" "$tmp/ps" && ok "it ends as Exited (137)" || { nok "it ends as Exited (137)"; sed 's/^/# /' "$tmp/ps"; }
U stop stub >"$tmp/out" 2>"$tmp/err"; st=$?
is "stop of a stopped container exits 0" "$st" 0
is "... quietly" "$(cat "$tmp/err")" ""
# ... also when a foreground `ucrt run` owns it.
"$UCRT_BIN" --root "$tmp/root" run --name fgstub "$IMG" sh -c 'trap "" TERM; echo ready; while :; do sleep 0.2; done' >"$tmp/fgout" 2>&1 & fgp=$!
for _ in $(seq 600); do grep -q ready "$tmp/fgout" && break; sleep 0.1; done
U stop -t 1 fgstub >/dev/null 2>"$tmp/err"; is "stop of a foreground run ignoring SIGTERM exits 0" "$?" 0
wait $fgp; is "... its ucrt exits 137" "$?" 137
U ps -a | grep fgstub | grep -q "Exited (137)" && ok "... and it is Exited (137), not Dead" || nok "... and it is Exited (137), not Dead"
U rm fgstub >/dev/null 2>&1
U stop r1 >/dev/null 2>"$tmp/err"
is "no QEMU left" "$(t_qemu_count "$tmp/root")" 0
echo "1..$n"
