#!/bin/bash
# ucrt logs on a detached container: stdout and stderr apart, --tail/-n,
# -t (RFC 3339 with nanoseconds), --since/--until with those times and
# relative ones, bad times refused, logs -f ending when the container is
# removed, a log from before output.idx existed still printed, and every
# line there once `wait` returned. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f lg >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

id=$(U run -d --name lg "$IMG" sh -c 'echo a1; echo e1 >&2; echo a2; sleep 2; echo b1; echo e2 >&2; while :; do sleep 1; done' 2>"$tmp/err")
for _ in $(seq 600); do U logs lg 2>&1 | grep -q e2 && break; sleep 0.1; done
U logs lg >"$tmp/out" 2>"$tmp/errout"
is "logs: stdout lines on stdout" "$(cat "$tmp/out")" "a1
a2
b1"
is "logs: stderr lines on stderr" "$(cat "$tmp/errout")" "e1
e2"
is "--tail 2" "$(U logs --tail 2 lg 2>&1)" "b1
e2"
is "-n 1" "$(U logs -n 1 lg 2>&1)" "e2"
is "--tail all" "$(U logs --tail all lg 2>&1 | wc -l)" 5
U logs -t lg >"$tmp/ts" 2>&1
is "-t: every line starts with an RFC 3339 time" \
	"$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z (a1|e1|a2|b1|e2)$' "$tmp/ts")" 5
tb1=$(grep ' b1$' "$tmp/ts" | cut -d' ' -f1)
ta2=$(grep ' a2$' "$tmp/ts" | cut -d' ' -f1)
# Lines that came in one chunk share its time: compare with -t's view.
is "--since the time of b1" "$(U logs --since "$tb1" lg 2>&1)" "$(awk -v t="$tb1" '$1 >= t { print $2 }' "$tmp/ts")"
is "--until the time of a2" "$(U logs --until "$ta2" lg 2>&1)" "$(awk -v t="$ta2" '$1 <= t { print $2 }' "$tmp/ts")"
is "... which holds a1 and a2, not b1" "$(U logs --until "$ta2" lg 2>/dev/null)" "a1
a2"
is "--since 1h (relative)" "$(U logs --since 1h lg 2>&1 | wc -l)" 5
is "--since with --tail" "$(U logs --since "$tb1" -n 1 lg 2>&1)" "e2"
U logs --since yesterday lg >/dev/null 2>"$tmp/err"; st=$?
is "a bad --since: 125" "$st" 125
grep -q "invalid --since 'yesterday'" "$tmp/err" && ok "... naming the value" || nok "... naming the value"

# logs -f ends when the container is removed.
# The rm waits until logs -f has printed what there is: removed before that,
# the container would be gone before logs -f found it (no fixed sleep: a
# loaded machine starts a process late).
U logs -f lg >"$tmp/follow" 2>&1 & fp=$!
for _ in $(seq 600); do [ "$(wc -l <"$tmp/follow")" -ge 5 ] && break; sleep 0.1; done
U rm -f lg >/dev/null 2>"$tmp/err"
for _ in $(seq 600); do kill -0 $fp 2>/dev/null || break; sleep 0.1; done
kill -0 $fp 2>/dev/null && { nok "logs -f ends when the container is removed"; kill $fp; } || ok "logs -f ends when the container is removed"
wait $fp 2>/dev/null
is "... after printing what there was" "$(wc -l <"$tmp/follow")" 5

# A log written before output.idx existed (or with the index gone).
U run --name old "$IMG" sh -c 'echo x; echo y >&2' >/dev/null 2>&1
rm -f "$tmp"/root/containers/*/output.idx
is "a log without index: every line" "$(U logs old 2>&1)" "x
y"
is "... -t prints them without a time" "$(U logs -t -n 1 old 2>&1)" "y"
U rm old >/dev/null 2>&1

# `wait` answers once the output's last writes are in output.log: logs
# right after it has every line (a last burst still being written when
# the exit came was missed).
U run -d --name burst "$IMG" sh -c 'seq 1 300000' >/dev/null 2>"$tmp/err"
is "wait: the exit code" "$(U wait burst 2>&1)" 0
U logs burst >"$tmp/burst" 2>&1
is "logs right after wait: every line, the last one too" "$(wc -l <"$tmp/burst") $(tail -n 1 "$tmp/burst")" "300000 300000"
is "... state.json says exited" "$(U inspect -f '{{.State.Status}}' burst 2>&1)" exited
U rm burst >/dev/null 2>&1
echo "1..$n"
