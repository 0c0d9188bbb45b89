#!/bin/bash
# A container's disk filling up. (a) The guest's own ext4 fills: the
# process sees ENOSPC, the container ends with its exit status, and a later
# `start` and `cp` work. (b) The host filesystem under the overlay fills (the
# store on a small tmpfs): QEMU reports the failed write to the guest
# (werror=report) instead of pausing the VM, the process gets EIO, ucrt
# exits with its status, and `system check` is clean after `rm`. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP mounting a tmpfs needs root"; exit 0; }
mkdir -p "$tmp/small"
trap 'for c in $(U ps -aq 2>/dev/null); do U rm -f $c >/dev/null 2>&1; done;
	for c in $(V ps -aq 2>/dev/null); do V rm -f $c >/dev/null 2>&1; done;
	umount "$tmp/small" 2>/dev/null; t_reg_stop; rm -rf "$tmp"' EXIT
export T_IMG_APPLETS="fallocate df sync awk"
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
S=$tmp/small/store
V() { "$UCRT_BIN" --root "$S" "$@"; }

# (a) fallocate takes all but 2 MiB without writing data (TCG writes only
# ~15 MB/s); dd then writes until the filesystem is full. A second run of
# the same container frees the space.
fill='if [ -e /big ]; then rm /big /rest && echo freed; exit 0; fi
free=$(df -k / | awk "NR==2 {print \$4}")
fallocate -l $(( (free - 2048) * 1024 )) /big || exit 9
dd if=/dev/zero of=/rest bs=64k 2>&1; echo "dd=$?"; exit 3'
out=$(U run --name full "$IMG" sh -c "$fill" 2>"$tmp/err"); st=$?
is "guest disk full: the process's exit status" "$st" 3
echo "$out" | grep -q "No space left on device" && echo "$out" | grep -q "dd=1" &&
	ok "dd sees ENOSPC (No space left on device)" || { nok "ENOSPC"; echo "$out" "$(cat "$tmp/err")" | sed 's/^/# /'; }
U cp full:/etc/group "$tmp/group" 2>"$tmp/err"
is "cp out of the full container" "$(head -1 "$tmp/group" 2>&1)" "root:x:0:"
out=$(U start -a full 2>"$tmp/err"); st=$?
is "a later start runs (and frees the space)" "$out/$st" "freed/0"
[ "$st" = 0 ] || sed 's/^/# /' "$tmp/err"
U rm full >/dev/null 2>&1

# The same with --rm (QEMU's snapshot file instead of the overlay).
out=$(U run --rm "$IMG" sh -c "$fill" 2>"$tmp/err"); st=$?
is "--rm: guest disk full, exit status 3" "$st" 3
echo "$out" | grep -q "No space left on device" && ok "--rm: dd sees ENOSPC" || nok "--rm: ENOSPC: $out"

# (b) The store on a tmpfs with ~12 MiB free once the image is in; the
# guest writes 32 MiB and syncs.
mount -t tmpfs -o size=64m tmpfs "$tmp/small" || { echo "1..$n # SKIP cannot mount a tmpfs"; exit 0; }
V image pull -q "$IMG" >/dev/null 2>"$tmp/err" || nok "pull into the small store: $(cat "$tmp/err")"
used=$(df --output=used -k "$tmp/small" | tail -1)
umount "$tmp/small"; mount -t tmpfs -o size=$((used + 12288))k tmpfs "$tmp/small"
V image pull -q "$IMG" >/dev/null 2>"$tmp/err" || nok "pull again: $(cat "$tmp/err")"
start=$(date +%s)
out=$(V run --name hostfull "$IMG" sh -c 'dd if=/dev/zero of=/big bs=1M count=32 conv=fsync 2>&1; r=$?; echo "dd=$r"; exit $r' 2>"$tmp/err"); st=$?
took=$(( $(date +%s) - start ))
[ "$st" != 0 ] && [ "$st" != 125 ] && echo "$out" | grep -q "Input/output error" &&
	ok "host full: the guest's write fails with EIO, ucrt exits with its status ($st)" ||
	{ nok "host full: rc $st"; echo "$out" "$(cat "$tmp/err")" | sed 's/^/# /'; }
[ "$took" -lt 50 ] && ok "... without the VM pausing until a timeout (${took}s)" || nok "took ${took}s"
is "no QEMU left" "$(t_qemu_count "$S")" 0
V rm hostfull >/dev/null 2>"$tmp/err" && ok "rm the container" || nok "rm: $(cat "$tmp/err")"
# --rm: QEMU's snapshot file goes to $TMPDIR (QEMU inherits ucrt's
# environment), here on the full tmpfs too.
mkdir -p "$tmp/small/snap" && chmod 1777 "$tmp/small/snap" && chmod o+x "$tmp" "$tmp/small"	# QEMU may run as ucrt-qemu
out=$(TMPDIR=$tmp/small/snap V run --rm "$IMG" sh -c 'dd if=/dev/zero of=/big bs=1M count=32 conv=fsync 2>&1; r=$?; echo "dd=$r"; exit $r' 2>"$tmp/err"); st=$?
[ "$st" != 0 ] && [ "$st" != 125 ] && echo "$out" | grep -q "Input/output error" &&
	ok "--rm, snapshot file's filesystem full: EIO in the guest, the process's status ($st)" ||
	{ nok "--rm host full: rc $st"; echo "$out" "$(cat "$tmp/err")" | sed 's/^/# /'; }
is "... and QEMU removed its snapshot file" "$(ls -A "$tmp/small/snap")" ""
V system check >"$tmp/out" 2>&1 && ok "system check is clean" || { nok "system check"; sed 's/^/# /' "$tmp/out"; }
is "the store still runs a container" "$(V run --rm "$IMG" echo ok 2>"$tmp/err")" "ok"
echo "1..$n"
