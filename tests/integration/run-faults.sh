#!/bin/bash
# Misbehaving guests and interrupted commands: a detached container's
# supervisor keeps none of its caller's fds; a guest that halts ends
# `run` (foreground, --rm, -d) with 125 and an error naming it, whose
# console tail is quoted when the log went with the container; SIGTERM
# ends `run` and `exec` on a halted guest (or a stopped supervisor)
# promptly; rm/stop/kill without a container are usage errors. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f fds hd ex sigt >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

# Wait (bounded) until the kernel of container $1 printed that it halted.
t_halted() {
	local id=
	for _ in $(seq 600); do
		[ -n "$id" ] || id=$(U inspect "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])' 2>/dev/null)
		grep -q "System halted" "$tmp/root/containers/${id:-none}/console.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# The pid of process $1's child (here: ucrt under timeout), once forked.
t_child() {
	local c
	for _ in $(seq 600); do
		c=$(pgrep -P "$1" | head -1)
		[ -n "$c" ] && { echo "$c"; return 0; }
		sleep 0.05
	done
	echo 999999999
}

# Wait (bounded) until process $1 blocks SIGTERM: its signalfd is set up.
t_blocks_term() {
	local m
	for _ in $(seq 600); do
		m=$(awk '/^SigBlk/ {print $2}' "/proc/$1/status" 2>/dev/null)
		[ -n "$m" ] && [ $((0x$m & 0x4000)) -ne 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# 1. The supervisor of a detached container keeps none of the caller's
#    fds (a pipe it held would keep `ucrt run -d ... | cat` waiting).
: >"$tmp/marker"
id=$(U run -d --name fds "$IMG" sleep 1000 7>>"$tmp/marker" 2>"$tmp/err")
sup=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["owner_pid"])' \
	"$tmp/root/containers/$id/state.json" 2>/dev/null)
if [ -n "$sup" ] && [ -d "/proc/$sup/fd" ]; then
	is "the supervisor holds none of the caller's fds" "$(ls -l "/proc/$sup/fd" | grep -c "$tmp/marker")" 0
	qemu=$(pgrep -P "$sup" -f qemu-system | head -1)
	is "nor does its QEMU" "$(ls -l "/proc/${qemu:-0}/fd" 2>/dev/null | grep -c "$tmp/marker")" 0
	# An exec whose supervisor cannot answer (stopped) gives up after a
	# signal instead of waiting forever.
	kill -STOP "$sup"
	timeout -s KILL 240 "$UCRT_BIN" --root "$tmp/root" exec fds echo alive >/dev/null 2>"$tmp/err" &
	ex=$!
	client=$(t_child $ex)
	t_blocks_term "$client"
	kill -TERM "$client"
	wait $ex; st=$?
	kill -CONT "$sup"
	is "SIGTERM ends an exec whose supervisor is stopped: 125" "$st" 125
	grep -q "neither its guest nor its supervisor answered" "$tmp/err" && ok "saying so" || nok "saying so"
else
	nok "the supervisor runs (state.json names it)"
	nok "its QEMU runs"
	nok "exec with a stopped supervisor"; nok "(skipped)"
fi
U rm -f fds >/dev/null 2>&1

# 2. A halted guest ends `run --rm` with 125 (the guest timeout made short;
#    a kernel without a way to power off halts on poweroff -f too); the
#    console log went with the container, so its tail is quoted.
for how in halt poweroff; do
	UCRT_GUEST_TIMEOUT=3 timeout -s KILL 240 "$UCRT_BIN" --root "$tmp/root" run --rm "$IMG" \
		sh -c "busybox $how -f" >/dev/null 2>"$tmp/err"
	is "run --rm of a guest that runs '$how -f': 125" "$?" 125
	# A kernel that can power off ends QEMU: that is said too.
	grep -q "stopped answering\|VM ended before the process did" "$tmp/err" &&
		ok "the error says the guest stopped ($how)" || nok "the error says the guest stopped ($how)"
	if grep -q "containers/" "$tmp/err"; then
		nok "the error names no removed console log ($how)"
	elif grep -q "console: .*reboot\|console was empty" "$tmp/err"; then
		ok "the error quotes the console instead ($how)"
	else
		nok "the error quotes the console instead ($how)"
	fi
done

# 3. SIGTERM to a foreground run on a halted guest ends it (long guest
#    timeout: only the signal's liveness probe can end it in time).
UCRT_GUEST_TIMEOUT=3600 timeout -s KILL 240 "$UCRT_BIN" --root "$tmp/root" run --name sigt "$IMG" \
	sh -c 'busybox halt -f' >/dev/null 2>"$tmp/err.sigt" &
fg=$!
if t_halted sigt; then
	pid=$(t_child $fg)
	t_blocks_term "$pid"
	kill -TERM "$pid" 2>/dev/null
	wait $fg; st=$?
	is "SIGTERM ends run on a halted guest: 125" "$st" 125
	grep -q "guest of sigt stopped answering" "$tmp/err.sigt" && ok "naming the guest" || nok "naming the guest"
else
	nok "the guest of sigt halted"; nok "(skipped)"
	kill -9 $fg 2>/dev/null
fi
U rm -f sigt >/dev/null 2>&1

# 4. Detached: a guest halted by an exec ends the container; ps no
#    longer shows it Up; the exec ends too, with the reason.
UCRT_GUEST_TIMEOUT=10 U run -d --name hd "$IMG" sleep 1000 >/dev/null 2>"$tmp/err"
timeout -s KILL 240 "$UCRT_BIN" --root "$tmp/root" exec hd busybox halt -f >/dev/null 2>"$tmp/err"
is "exec that halts the guest ends with 125" "$?" 125
grep -q "stopped answering" "$tmp/err" && ok "and says the guest stopped answering" ||
	nok "and says the guest stopped answering"
is "ps does not show it" "$(U ps | grep -c ' hd$')" 0
U ps -a | grep ' hd$' | grep -q "Exited (125)" && ok "ps -a: Exited (125)" || { nok "ps -a: Exited (125)"; U ps -a | sed 's/^/# /'; }
U inspect hd | grep -q '"Error": "the guest of hd stopped answering' && ok "inspect keeps the reason" ||
	nok "inspect keeps the reason"
U rm hd >/dev/null 2>&1

# 5. exec into a halted guest: SIGTERM ends the client promptly with an
#    error naming the unresponsive guest (long guest timeout again).
UCRT_GUEST_TIMEOUT=3600 U run -d --name ex "$IMG" sleep 1000 >/dev/null 2>"$tmp/err"
"$UCRT_BIN" --root "$tmp/root" exec ex busybox halt -f >/dev/null 2>&1 &
halter=$!
if t_halted ex; then
	timeout -s KILL 240 "$UCRT_BIN" --root "$tmp/root" exec ex echo alive >"$tmp/out" 2>"$tmp/err" &
	ex=$!
	client=$(t_child $ex)
	t_blocks_term "$client"
	kill -TERM "$client"
	wait $ex; st=$?
	is "SIGTERM ends exec into a halted guest: 125" "$st" 125
	grep -q "guest of ex stopped answering" "$tmp/err" && ok "naming the unresponsive guest" ||
		nok "naming the unresponsive guest"
else
	nok "the guest of ex halted"; nok "(skipped)"
fi
kill -9 $halter 2>/dev/null; wait $halter 2>/dev/null
U rm -f ex >/dev/null 2>&1

# 6. Nothing to act on is a usage error, as in docker.
for cmd in rm stop kill; do
	U $cmd >/dev/null 2>"$tmp/err"
	is "'$cmd' without a container: 125" "$?" 125
	grep -q "requires at least one container" "$tmp/err" && ok "'$cmd' says why" || nok "'$cmd' says why"
done
echo "1..$n"
