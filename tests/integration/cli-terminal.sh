#!/bin/bash
# On a terminal as docker users expect: the pull `run` starts draws image
# pull's per-layer bars; a TCG-only host is told once why it runs without
# KVM; TERM in the guest for -t (the caller's, default xterm; -e wins);
# exec -t -i starts at the caller's window size; -e wins over --env-file
# whatever their order. Terminals are real ptys (tests/lib/pty-run.py). TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f w >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
PTY() { python3 "$T_LIB_DIR/pty-run.py" "$@"; }
tcg=false
U info | grep -q '^Accel: *TCG' && tcg=true

# ---- the first run: pulls on a terminal ----
PTY -- "$UCRT_BIN" --root "$tmp/root" run --rm "$IMG" true >"$tmp/first" 2>&1
is "run on a terminal, image missing: exit 0" "$?" 0
grep -qaE 'sha256:[0-9a-f]{12} done +\[=+\]' "$tmp/first" && grep -qa $'\033\\[K' "$tmp/first" &&
	ok "its pull draws image pull's per-layer bars" || { nok "pull bars in run"; tr -d '\033' <"$tmp/first" | sed 's/^/# /' | head; }
if $tcg; then
	is "TCG-only host: the first run says why it runs without KVM" "$(grep -ac 'without KVM' "$tmp/first")" 1
	U run --rm "$IMG" true >/dev/null 2>"$tmp/err"
	is "... and only the first" "$(grep -c 'without KVM' "$tmp/err")" 0
else
	ok "# SKIP KVM host: no TCG notice"; ok "# SKIP KVM host"
fi

# ---- -e over --env-file ----
printf 'A=from-file\nB=file-b\n' >"$tmp/env"
is "-e after --env-file wins" "$(U run --rm --env-file "$tmp/env" -e A=from-e "$IMG" sh -c 'echo $A $B' 2>"$tmp/err")" "from-e file-b"
is "-e before --env-file wins too" "$(U run --rm -e A=from-e --env-file "$tmp/env" "$IMG" sh -c 'echo $A $B' 2>"$tmp/err")" "from-e file-b"

# ---- TERM ----
out=$(TERM=screen-256color PTY -- "$UCRT_BIN" --root "$tmp/root" run --rm -t "$IMG" sh -c 'echo T=$TERM' 2>&1)
is "-t: the caller's TERM" "$(echo "$out" | tr -d '\r' | grep '^T=')" "T=screen-256color"
out=$(env -u TERM python3 "$T_LIB_DIR/pty-run.py" -- "$UCRT_BIN" --root "$tmp/root" run --rm -t "$IMG" sh -c 'echo T=$TERM' 2>&1)
is "-t without a TERM: xterm" "$(echo "$out" | tr -d '\r' | grep '^T=')" "T=xterm"
out=$(TERM=screen PTY -- "$UCRT_BIN" --root "$tmp/root" run --rm -t -e TERM=dumb "$IMG" sh -c 'echo T=$TERM' 2>&1)
is "-t -e TERM=dumb: -e wins" "$(echo "$out" | tr -d '\r' | grep '^T=')" "T=dumb"
is "no -t: no TERM" "$(TERM=screen U run --rm "$IMG" sh -c 'echo T=${TERM-unset}' 2>"$tmp/err")" "T=unset"

# ---- exec -t -i ----
U run -d --name w "$IMG" sleep 300 >/dev/null 2>"$tmp/err"
out=$(TERM=vt100 PTY --size 33x111 -- "$UCRT_BIN" --root "$tmp/root" exec -t -i w sh -c 'stty size; echo T=$TERM' 2>&1 | tr -d '\r')
is "exec -t -i starts at the caller's window size" "$(echo "$out" | grep -x '[0-9]* [0-9]*')" "33 111"
is "exec -t: the caller's TERM" "$(echo "$out" | grep '^T=')" "T=vt100"
echo "1..$n"
