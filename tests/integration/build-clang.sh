#!/usr/bin/env bash
# The tree builds warning-free with clang -Werror too (make check builds it
# with the configured compiler, usually gcc).
set -u
src=${UCRT_SRC:?}
if [ "${UCRT_SANITIZE:-0}" = 1 ]; then echo "1..0 # SKIP covered by the plain run"; exit 0; fi
command -v clang >/dev/null || { echo "1..0 # SKIP clang not installed"; exit 0; }
echo 1..1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if make -C "$src" -s -j2 B="$out" CC=clang all tests >"$out/log" 2>&1; then
	echo "ok 1 - clang -Werror build of everything"
else
	echo "not ok 1 - clang -Werror build of everything"
	grep -E 'error|warning' "$out/log" | head -20 | sed 's/^/# /'
fi
