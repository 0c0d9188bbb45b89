#!/bin/bash
# A store on a small tmpfs: a pull whose layer does not fit fails with a
# message naming the full filesystem, removes its partial download (the
# space is given back), leaves `system check` clean, and the same store
# still takes an image that fits; a pull whose blobs fit but whose disk
# does not fails naming the space problem and leaves no temp disk. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init nospace
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP mounting a tmpfs needs root"; exit 0; }
mkdir -p "$tmp/small"
trap 'umount "$tmp/small" 2>/dev/null; t_reg_stop; rm -rf "$tmp"' EXIT
mount -t tmpfs -o size=12m tmpfs "$tmp/small" || { echo "1..0 # SKIP cannot mount a tmpfs"; exit 0; }
t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }
t_img_build "$tmp/big" v1 extra_mb=20 random=1 >/dev/null && t_reg_upload "$tmp/big" big v1
t_img_build "$tmp/small-img" v1 >/dev/null && t_reg_upload "$tmp/small-img" small v1
S=$tmp/small/store
V() { "$UCRT_BIN" --root "$S" "$@"; }
used() { df --output=used -k "$tmp/small" | tail -1 | tr -d ' '; }

V image pull -q "$REG/big:v1" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 125 ] && grep -q "the store's filesystem is full (No space left on device) after [0-9]* of [0-9]* bytes; the partial download was removed" "$tmp/err" &&
	ok "a layer larger than the free space: exit 125 naming the full filesystem" || nok "pull: rc $rc"
[ -z "$(ls -A "$S/ingest")" ] && ok "no partial download left" || nok "left in ingest/: $(ls -la "$S/ingest")"
[ "$(used)" -lt 1024 ] && ok "the space is given back ($(used) KiB used)" || nok "still $(used) KiB used"
! V image ls | grep -q big && ok "no image named" || nok "big is named"
V system check >"$tmp/out" 2>&1 && ok "system check is clean" || { nok "system check"; sed 's/^/# /' "$tmp/out"; }
V image pull -q "$REG/small:v1" >/dev/null 2>"$tmp/err" && ok "the store still takes an image that fits" || nok "small pull"

# Blobs fit, the disk built while they download does not.
umount "$tmp/small" && mount -t tmpfs -o size=30m tmpfs "$tmp/small"
V image pull -q "$REG/big:v1" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 125 ] && grep -q "No space left on device" "$tmp/err" && grep -q "disk" "$tmp/err" &&
	ok "a disk larger than the free space: exit 125 naming it" || nok "disk: rc $rc"
! ls "$S/rootfs" | grep -q tmp && ok "no temp disk left" || nok "temp disk left: $(ls "$S/rootfs")"
V system check >"$tmp/out" 2>&1 && ok "system check is clean" || { nok "system check"; sed 's/^/# /' "$tmp/out"; }
echo "1..$n"
