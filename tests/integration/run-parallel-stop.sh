#!/bin/bash
# `ucrt stop`, `ucrt kill` and `ucrt rm -f` of one running instance of
# `ucrt run --parallel` (modules/container/instance-ctl.c): kill ends it
# as 137 and returns once ps no longer lists it; stop -t delivers SIGTERM
# (the process's trap exits 7) and returns only after the instance left
# ps; exec is still refused naming the run, rm without -f refused as for
# a running container, an unknown name is "no such container"; the run's
# socket answers bad, too long, out-of-range and concurrent requests with
# an error and goes on; rm -f kills; the others run on until kill -INT;
# the summary names each stopped instance with its exit code; no QEMU
# and no socket are left. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 't_reg_stop; [ -n "${p:-}" ] && kill -9 $p 2>/dev/null; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 0; }

# Where the records and the run's socket are (modules/container/instances.c).
mkdir -p "$tmp/root"
h=$(printf %s "$(realpath "$tmp/root")" | sha256sum | cut -c1-16)
if [ "$(id -u)" = 0 ]; then recs=/run/ucrt/instances/$h
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then recs=$XDG_RUNTIME_DIR/ucrt/instances/$h
else recs=/tmp/ucrt-$(id -u)/instances/$h; fi

"$UCRT_BIN" --root "$tmp/root" run --parallel 4 --max-concurrent 4 "$IMG" \
	sh -c 'trap "echo got TERM; exit 7" TERM; echo ready; while :; do sleep 1; done' >"$tmp/out" 2>"$tmp/err" &
p=$!
# TCG on a loaded host: up to 10 minutes for 4 boots.
for _ in $(seq 1200); do
	[ "$(grep -c '] ready' "$tmp/out")" = 4 ] && [ "$(U ps -q 2>/dev/null | wc -l)" = 4 ] && break
	sleep 0.5
done
is "4 instances run, ps lists them" "$(grep -c '] ready' "$tmp/out") $(U ps -q | wc -l)" "4 4"

U kill task-1 >"$tmp/o" 2>"$tmp/cerr"; st=$?
is "kill task-1: done, prints the name" "$st $(cat "$tmp/o")" "0 task-1"
is "kill returned once ps no longer lists it" "$(U ps --format '{{.Names}}' | sort | tr '\n' ' ')" "task-0 task-2 task-3 "

U stop -t 30 task-0 >"$tmp/o" 2>"$tmp/cerr"; st=$?
is "stop -t 30 task-0: done, prints the name" "$st $(cat "$tmp/o")" "0 task-0"
is "stop returned once ps no longer lists it" "$(U ps --format '{{.Names}}' | sort | tr '\n' ' ')" "task-2 task-3 "
grep -q '^\[0\] got TERM$' "$tmp/out" && ok "SIGTERM reached the process (its trap ran)" || nok "SIGTERM reached the process"

# What cannot apply to an instance stays refused, naming the run.
U exec task-2 true >/dev/null 2>"$tmp/cerr"; st=$?
[ $st = 125 ] && grep -q "instance 2 of the \`ucrt run --parallel\` with pid $p" "$tmp/cerr" &&
	ok "exec task-2: refused, naming the run" || { nok "exec refused ($st)"; sed 's/^/# /' "$tmp/cerr"; }
U logs task-3 >/dev/null 2>"$tmp/cerr"; st=$?
[ $st = 125 ] && grep -q "instance 3 of the \`ucrt run --parallel\` with pid $p" "$tmp/cerr" &&
	ok "logs task-3: refused, naming the run" || { nok "logs refused ($st)"; sed 's/^/# /' "$tmp/cerr"; }
U rm task-2 >/dev/null 2>"$tmp/cerr"; st=$?
[ $st = 125 ] && grep -q "cannot remove task-2: it is a running instance .* stop it first or use rm -f" "$tmp/cerr" &&
	ok "rm without -f of a running instance: refused" || { nok "rm refused ($st)"; sed 's/^/# /' "$tmp/cerr"; }
U kill nosuch >/dev/null 2>"$tmp/cerr"; st=$?
[ $st = 125 ] && grep -q "no such container: nosuch" "$tmp/cerr" && ok "kill nosuch: no such container" ||
	{ nok "kill nosuch ($st)"; sed 's/^/# /' "$tmp/cerr"; }
U stop task-1 >/dev/null 2>"$tmp/cerr"; st=$?
[ $st = 125 ] && grep -q "no such container: task-1" "$tmp/cerr" && ok "stop of the ended task-1: no such container" ||
	{ nok "stop task-1 again ($st)"; sed 's/^/# /' "$tmp/cerr"; }

# The socket itself: every bad request gets an error reply, several
# clients at once are served, and the run goes on.
socks=$(ls "$recs" | grep -c "\-$p\.sock$")
is "one socket for the run, named by its pid" "$socks" 1
sock=$recs/$(ls "$recs" | grep "\-$p\.sock$")
python3 - "$sock" >"$tmp/replies" 2>&1 <<'PY'
import socket, sys
reqs = [b"bogus\n", b"kill 9 9\n", b"stop 1 5\n", b"kill 2 0\n", b"kill 2 65\n", b"stop 2 3601\n",
        b"kill -1 9\n", b"kill 2 99999999999\n", b"kill 2 9 \n", b"kill\x002 9\n", b"x" * 200 + b"\n",
        b"kill 2 9"]   # no newline: the client hangs up without a request
conns = []
for r in reqs:                 # all connected before any reply is read
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(r)
    conns.append(s)
conns[-1].close()
for s in conns[:-1]:
    s.settimeout(60)
    data = b""
    while True:
        d = s.recv(256)
        if not d:
            break
        data += d
    print(data.decode(errors="replace").strip())
PY
is "bad requests: an error reply each" "$(cut -c1-7 "$tmp/replies" | sort | uniq -c | tr -s ' ')" " 11 error: "
grep -q "no running instance 9 in this run" "$tmp/replies" && grep -q "no running instance 1 in this run" "$tmp/replies" &&
	grep -q "request too long" "$tmp/replies" && ok "errors say why (no such index, an ended one, too long)" ||
	{ nok "error replies"; sed 's/^/# /' "$tmp/replies"; }
is "the others still run" "$(U ps --format '{{.Names}}' | sort | tr '\n' ' ')" "task-2 task-3 "

U rm -f task-2 >"$tmp/o" 2>"$tmp/cerr"; st=$?
is "rm -f task-2: done" "$st $(cat "$tmp/o")" "0 task-2"
is "rm -f returned once ps no longer lists it" "$(U ps --format '{{.Names}}')" "task-3"

kill -INT $p; wait $p; st=$?; p=
is "the run ends with kill -INT: 130" "$st" 130
grep -q "4 instance(s): 0 succeeded, 4 failed" "$tmp/err" && ok "summary: 4 failed" ||
	{ nok "summary counts"; sed 's/^/# /' "$tmp/err"; }
is "summary: stop -> the trap's 7, kill and rm -f -> 137, Ctrl-C -> 137" \
	"$(grep -E '^  \[[0-9]\] exit' "$tmp/err" | tr -s ' ')" " [0] exit 7
 [1] exit 137
 [2] exit 137
 [3] exit 137"
for _ in $(seq 600); do [ "$(t_qemu_count "$tmp/root")" = 0 ] && break; sleep 0.1; done
is "no QEMU left" "$(t_qemu_count "$tmp/root")" 0
is "no record or socket left" "$(ls -A "$recs")" ""
echo "1..$n"
