#!/bin/bash
# Foreign-architecture images end to end (docs/platforms.md): a
# multi-platform index (linux/amd64 + linux/arm64 busybox, the arm64 one
# from Debian's busybox-static:arm64) in a real registry; `run --platform
# linux/arm64` runs translated by qemu-user inside the VM (uname -m,
# a pipeline, exit statuses, a binary exec'ed by another), the same name
# with linux/amd64 natively; both stay apart in the store; a missing
# platform and a missing qemu-user-static give clear errors; --parallel
# instances each get the emulator; `ucrt info`. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/platform.sh"
t_run_init
trap 't_reg_stop; rm -rf "$tmp"' EXIT
[ "$(uname -m)" = x86_64 ] || { echo "1..0 # SKIP written for an x86-64 host"; exit 0; }
[ -x /usr/bin/qemu-aarch64-static ] || { echo "1..0 # SKIP qemu-user-static not installed (./configure --install-deps)"; exit 0; }
bb=$(t_arm64_busybox "$UCRT_SRC/build/test-cache/busybox-arm64" 2>"$tmp/err") ||
	{ echo "1..0 # SKIP no arm64 busybox: $(cat "$tmp/err")"; exit 0; }
{ t_reg_start "$tmp/registry" http && t_platform_image "$tmp/layout" 1 /bin/busybox "$bb" &&
  t_reg_upload "$tmp/layout" ucrt-test/multi 1; } >"$tmp/setup.log" 2>&1 ||
	{ echo "1..0 # SKIP registry setup failed"; exit 0; }
IMG=$REG/ucrt-test/multi:1

out=$(U run --rm --platform linux/arm64 "$IMG" uname -m 2>"$tmp/err"); st=$?
is "run --platform linux/arm64 IMG uname -m" "$out" aarch64
is "... exits 0" "$st" 0
out=$(U run --rm --platform linux/arm64 "$IMG" 2>"$tmp/err")
is "the image's own Cmd (uname -m) runs translated too" "$out" aarch64
out=$(U run --rm --platform linux/arm64 "$IMG" sh -c \
	'seq 1 100 | grep 7 | sort -r | head -n 3 | tr "\n" " "; echo | wc -l; printf %s "$0"' 2>"$tmp/err")
is "a pipeline of applets, each exec'ed by an arm64 sh; argv[0] kept" "$out" "97 87 79 1
sh"
U run --rm --platform linux/arm64 "$IMG" sh -c 'exit 42' >/dev/null 2>"$tmp/err"
is "exit status passes through" "$?" 42
U run --rm --platform linux/arm64 "$IMG" false >/dev/null 2>"$tmp/err"
is "false: 1" "$?" 1
U run --rm --platform linux/arm64 "$IMG" no-such-command >/dev/null 2>"$tmp/err"
is "command not found: 127" "$?" 127
out=$(echo from-stdin | U run --rm -i --platform linux/arm64 "$IMG" cat 2>"$tmp/err")
is "stdin through a translated cat" "$out" from-stdin
out=$(U run --rm --platform linux/arm64 "$IMG" sh -c 'test -e /run/ucrt-emu && echo still-there; head -n 1 /proc/sys/fs/binfmt_misc/qemu-aarch64' 2>"$tmp/err")
is "emulator disk unmounted before the start; handler enabled" "$out" "enabled"

out=$(U run --parallel 3 --max-concurrent 2 --platform linux/arm64 "$IMG" sh -c 'echo $UCRT_TASK_INDEX $(uname -m)' 2>"$tmp/err")
is "--parallel: every instance gets the emulator" "$(printf '%s\n' "$out" | grep -c 'aarch64$')" 3
out=$(U run --rm --platform linux/amd64 "$IMG" uname -m 2>"$tmp/err")
is "the same name with --platform linux/amd64 runs natively" "$out" x86_64
out=$(U run --rm "$IMG" uname -m 2>"$tmp/err")
is "without --platform: the host's" "$out" x86_64

U image ls --format '{{.Name}} {{.Platform}}' >"$tmp/ls" 2>"$tmp/err"
grep -q "ucrt-test/multi:1 .*linux/arm64" "$tmp/ls" && grep -q "ucrt-test/multi:1 .*linux/amd64" "$tmp/ls" &&
	ok "image ls: one name, both platforms" || { nok "image ls: one name, both platforms"; sed 's/^/# /' "$tmp/ls"; }
U image inspect "$IMG" >"$tmp/insp" 2>"$tmp/err"
grep -q '"Platform": *"linux/amd64"' "$tmp/insp" && ok "image inspect: the host's platform by default" ||
	{ nok "image inspect: the host's platform by default"; head -c 600 "$tmp/insp" | sed 's/^/# /'; }
U image inspect --platform linux/arm64 "$IMG" >"$tmp/insp" 2>"$tmp/err"
grep -q '"Platform": *"linux/arm64' "$tmp/insp" && ok "image inspect --platform linux/arm64" ||
	{ nok "image inspect --platform linux/arm64"; head -c 600 "$tmp/insp" | sed 's/^/# /'; }

U run --rm --platform linux/s390x "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
is "a platform the index lacks: 125" "$st" 125
grep -q "no image for platform linux/s390x.*linux/amd64, linux/arm64" "$tmp/err" &&
	ok "... the error lists the platforms the index has" || nok "... the error lists the platforms the index has"
U image pull --platform linux/riscv64 "$IMG" >/dev/null 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "no image for platform linux/riscv64" "$tmp/err" &&
	ok "image pull --platform of a missing platform fails, saying so" ||
	nok "image pull --platform of a missing platform fails, saying so"
U run --rm --platform linux "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
is "a malformed --platform: 125" "$st" 125
grep -q "invalid platform 'linux'" "$tmp/err" && ok "... saying how to write it" || nok "... saying how to write it"

mkdir -p "$tmp/nobin"
UCRT_QEMU_USER_DIR=$tmp/nobin U run --rm --platform linux/arm64 "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
is "no qemu-user-static on the host: 125" "$st" 125
grep -q "linux/arm64 needs the emulator .*qemu-aarch64-static.*qemu-user-static" "$tmp/err" &&
	ok "... the error names the emulator and the package" || nok "... the error names the emulator and the package"

U info >"$tmp/info" 2>"$tmp/err"
grep -q "linux/amd64 *native" "$tmp/info" && grep -q "linux/arm64 *emulated.*qemu-aarch64-static" "$tmp/info" &&
	ok "ucrt info: native and emulated platforms" || { nok "ucrt info: native and emulated platforms"; sed 's/^/# /' "$tmp/info"; }
echo "1..$n"
