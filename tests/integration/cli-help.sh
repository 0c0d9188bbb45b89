#!/bin/bash
# `--help` and `-h` on every command and group print its usage on stdout,
# exit 0 and do nothing else (the store root is not even created); a bare
# group prints its commands and fails; destructive commands refuse to run
# unattended without -f. The command list comes from `ucrt --help`, so a
# new command is covered without editing this file. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
[ -x "$UCRT_BIN" ] || { echo "1..0 # SKIP $UCRT_BIN not built"; exit 0; }
tmp=$(mktemp -d /tmp/ucrt-help.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }

mapfile -t cmds < <("$UCRT_BIN" --help | sed -n 's/^  \([a-z][a-z-]*\( [a-z][a-z-]*\)\?\)  .*/\1/p' | sed 's/ *$//')
[ ${#cmds[@]} -gt 20 ] && ok "ucrt --help lists ${#cmds[@]} commands" || nok "ucrt --help lists the commands"
groups=$(printf '%s\n' "${cmds[@]}" | awk 'NF == 2 { print $1 }' | sort -u)
for c in "${cmds[@]}" $groups; do
	for h in --help -h; do
		# shellcheck disable=SC2086
		out=$("$UCRT_BIN" --root "$tmp/root" $c $h 2>"$tmp/err" </dev/null); st=$?
		if [ $st = 0 ] && grep -qi "usage" <<<"$out" && [ ! -e "$tmp/root" ]; then
			ok "$c $h: usage on stdout, exit 0, nothing done"
		else
			nok "$c $h: exit $st, stdout '$(head -c 80 <<<"$out")', root created: $([ -e "$tmp/root" ] && echo yes || echo no)"
			sed 's/^/# /' "$tmp/err" | head -3
			rm -rf "$tmp/root"
		fi
	done
done
for g in $groups; do
	"$UCRT_BIN" --root "$tmp/root" "$g" >/dev/null 2>"$tmp/err"; st=$?
	[ $st = 125 ] && grep -q "Usage: ucrt $g COMMAND" "$tmp/err" && ok "ucrt $g alone: its commands, exit 125" ||
		nok "ucrt $g alone: exit $st"
done
for c in "image prune" "volume rm x" "volume prune"; do
	# shellcheck disable=SC2086
	"$UCRT_BIN" --root "$tmp/root" $c </dev/null >/dev/null 2>"$tmp/err"; st=$?
	[ $st = 125 ] && grep -q -- "-f" "$tmp/err" && ok "$c without a terminal needs -f" || nok "$c without a terminal needs -f (exit $st)"
done
echo "1..$n"
