#!/usr/bin/env bash
# `ucrt vm boot` end to end: boots to guest-init's hello with the kernel
# ucrt picks by itself and with --kernel, prints the timeline, and fails
# with 125 and a message naming the cause.
set -u
bin=${UCRT_BIN:?}
init=${UCRT_INIT:-}
command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed"; exit 0; }
[ -x "$init" ] || { echo "1..0 # SKIP guest-init not built"; exit 0; }
export UCRT_INIT=$init
tmp=$(mktemp -d /tmp/ucrt-vm-boot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
echo 1..9

"$bin" --root "$tmp/root" vm boot --count 2 >"$tmp/out" 2>"$tmp/err"
ok $? "vm boot --count 2 exits 0"
grep -q '^kernel=.* accel=' "$tmp/out"; ok $? "names the kernel and accelerator: $(head -n1 "$tmp/out")"
[ "$(grep -c '^boot [12]: hello_ms=[0-9.]* exit_ms=[0-9.]*' "$tmp/out")" = 2 ]
ok $? "one timeline line per boot"
grep -q '^median: hello_ms=' "$tmp/out"; ok $? "$(grep median "$tmp/out" || echo 'no median')"
ls "$tmp/root/vm/"initramfs-*.cpio >/dev/null 2>&1; ok $? "initramfs cached under the store root"

cloud=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1)
if [ -n "$cloud" ]; then
	"$bin" --root "$tmp/root" vm boot --kernel "$cloud" >"$tmp/out2" 2>&1 &&
		grep -q "^kernel=$cloud " "$tmp/out2" && grep -q '^boot 1: hello_ms=[0-9]' "$tmp/out2"
	ok $? "--kernel $cloud (modules from the initramfs) boots to hello"
else
	echo "ok $((n = n + 1)) # SKIP no cloud kernel in /boot"
fi

"$bin" --root "$tmp/root" vm boot --kernel /nonexistent/vmlinux >/dev/null 2>"$tmp/err3"
rc=$?
[ $rc = 125 ]; ok $? "a missing --kernel exits 125 (got $rc)"
grep -q 'kernel /nonexistent/vmlinux not found' "$tmp/err3"; ok $? "and says so: $(cat "$tmp/err3")"
"$bin" --root "$tmp/root" vm boot --accel hvf >/dev/null 2>"$tmp/err4"
[ $? = 125 ] && grep -q 'auto, kvm or tcg' "$tmp/err4"; ok $? "--accel hvf refused: $(cat "$tmp/err4")"
