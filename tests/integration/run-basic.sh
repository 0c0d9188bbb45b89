#!/bin/bash
# `ucrt run` end to end against a real registry and real QEMU (TCG here):
# pull on first use, output, docker exit statuses (0/1/42/125/126/127),
# image config with -e/--env-file/-w/-u/--entrypoint overrides, stdin
# piped with -i, a terminal session with -t -i (prompt, command, window
# resize, exit status), the startup timeline at --log-level debug. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

out=$(U run --rm "$IMG" echo hello 2>"$tmp/err"); st=$?
is "run --rm IMG echo hello prints hello (image pulled first)" "$out" "hello"
is "... and exits 0" "$st" 0
grep -q "pulling" "$tmp/err" && ok "missing image was pulled" || nok "missing image was pulled"
is "image's default cmd runs without CMD" "$(U run --rm "$IMG" 2>"$tmp/err")" "default-cmd"

out=$(U run --rm "$IMG" sh -c 'pwd; echo $IMGVAR; exit 0' 2>"$tmp/err"); st=$?
is "image WorkingDir and Env honoured" "$out" "/srv
from-image"
is "exit 0" "$st" 0
U --log-level debug run --rm "$IMG" sh -c 'exit 1' >/dev/null 2>"$tmp/err"; st=$?
is "exit 1" "$st" 1
grep -q "timeline image ready.*disk ready.*qemu spawned.*init ready.*process started.*exited" "$tmp/err" &&
	ok "--log-level debug prints the startup timeline" || nok "--log-level debug prints the startup timeline"
U run --rm "$IMG" sh -c 'exit 42' >/dev/null 2>"$tmp/err"; is "exit 42" "$?" 42
U run --rm "$IMG" /bin/not-executable >/dev/null 2>"$tmp/err"; is "not executable: 126" "$?" 126
grep -q "not-executable" "$tmp/err" && ok "126 names the file" || nok "126 names the file"
U run --rm "$IMG" no-such-command >/dev/null 2>"$tmp/err"; is "command not found: 127" "$?" 127
U run --rm "127.0.0.1:1/nope/nope:1" true >/dev/null 2>"$tmp/err"; is "unreachable image: 125" "$?" 125
U run --rm --memory 1k "$IMG" true >/dev/null 2>"$tmp/err"; is "bad option: 125" "$?" 125
U run --rm --pull never "$REG/ucrt-test/absent:1" true >/dev/null 2>"$tmp/err"; is "--pull never, absent image: 125" "$?" 125
grep -q "not found" "$tmp/err" && ok "125 says the image was not found" || nok "125 says the image was not found"

printf 'FROMFILE=file-value\n# comment\n\nFOO=overridden-below\n' >"$tmp/envfile"
out=$(FROMHOST=host-value U run --rm --env-file "$tmp/envfile" -e FOO=bar -e FROMHOST -e IMGVAR=cli \
	-w /tmp/new -u user:staff "$IMG" sh -c 'echo $FOO $FROMFILE $FROMHOST $IMGVAR; pwd; id -u; id -g; echo $HOME' 2>"$tmp/err")
is "-e/--env-file/-w/-u override the image config" "$out" "bar file-value host-value cli
/tmp/new
1000
50
/home/user"
is "--entrypoint replaces entrypoint and drops the image cmd" \
	"$(U run --rm --entrypoint /bin/echo "$IMG" a b 2>"$tmp/err")" "a b"
U run --rm -u nobody "$IMG" true >/dev/null 2>"$tmp/err"; is "unknown user: 125" "$?" 125

head -c 300000 /dev/urandom >"$tmp/blob"
out=$( (cat "$tmp/blob"; echo) | U run --rm -i "$IMG" sh -c 'wc -c' 2>"$tmp/err")
is "stdin streamed with -i (300001 bytes)" "$(echo $out)" 300001

if python3 "$T_LIB_DIR/run-tty.py" "$UCRT_BIN" --root "$tmp/root" run --rm -t -i "$IMG" sh >"$tmp/tty" 2>&1; then
	ok "terminal session through a pty (prompt, command, resize, exit 7)"
else
	nok "terminal session through a pty"; sed 's/^/# /' "$tmp/tty"
fi

# The root disk's mount: no ext4lazyinit thread competing with the
# container for its vCPU (guest-init/gi.h, GI_EXT4_OPTS).
out=$(U run --rm "$IMG" sh -c 'grep " / " /proc/mounts; cat /proc/[0-9]*/comm' 2>"$tmp/err")
case $out in
*noinit_itable,no_prefetch_block_bitmaps*) ok "root ext4 mounted with noinit_itable,no_prefetch_block_bitmaps" ;;
*) nok "root ext4 mount options"; echo "$out" | sed 's/^/# /' ;;
esac
echo "$out" | grep -q ext4lazyinit && nok "no ext4lazyinit thread in the guest" || ok "no ext4lazyinit thread in the guest"
# A discarded (--rm) root is mounted without its journal (norecovery:
# nothing to replay, no jbd2 thread); a disk whose journal needs replay
# is mounted with it after all (guest-init/mount.c, gi_mount_root).
case $out in
*norecovery*) ok "--rm: the root is mounted without its journal" ;;
*) nok "--rm root mounted norecovery"; echo "$out" | sed 's/^/# /' ;;
esac
echo "$out" | grep -q jbd2 && nok "--rm: no jbd2 thread in the guest" || ok "--rm: no jbd2 thread in the guest"
img_disk=$(ls "$tmp/root/rootfs/"*.ext4 | head -1)
cp --sparse=always "$img_disk" "$tmp/dirty.ext4" && chmod u+w "$tmp/dirty.ext4" &&
	debugfs -w -R "feature needs_recovery" "$tmp/dirty.ext4" >/dev/null 2>&1
dumpe2fs -h "$tmp/dirty.ext4" 2>/dev/null | grep -q "features:.*needs_recovery" &&
	ok "a disk whose journal needs replay (debugfs)" || nok "setting needs_recovery with debugfs"
out=$(U run --rm --rootfs "$tmp/dirty.ext4" sh -c 'grep " / " /proc/mounts' 2>"$tmp/err"); st=$?
case "$st $out" in
"0 "*norecovery*) nok "--rm on a disk that needs replay: journal loaded"; echo "$out" | sed 's/^/# /' ;;
"0 "*ext4*) ok "--rm on a disk that needs replay: mounted with its journal" ;;
*) nok "--rm on a disk that needs replay runs ($st)"; sed 's/^/# /' "$tmp/err" ;;
esac
rm -f "$tmp/dirty.ext4"

# --rm: the root is QEMU's snapshot, discarded with the VM; a kept
# container's overlay must be left clean for its next start.
case $(U run --rm "$IMG" cat /proc/cmdline 2>"$tmp/err") in
*ucrt.ephemeral*) ok "--rm: the guest is told its root is discarded (ucrt.ephemeral)" ;;
*) nok "--rm: ucrt.ephemeral on the command line"; sed 's/^/# /' "$tmp/err" ;;
esac
out=$(U run --name kept-cmdline "$IMG" cat /proc/cmdline 2>"$tmp/err")
case $out in
*ucrt.ephemeral*) nok "a kept container's root is not ephemeral" ;;
*console=*) ok "a kept container's root is not ephemeral" ;;
*) nok "a kept container's command line"; sed 's/^/# /' "$tmp/err" ;;
esac
U rm kept-cmdline >/dev/null 2>&1

U ps -a -q >"$tmp/ps"
is "--rm left no container behind" "$(cat "$tmp/ps")" ""
is "no QEMU left" "$(t_qemu_count "$tmp/root")" 0
echo "1..$n"
