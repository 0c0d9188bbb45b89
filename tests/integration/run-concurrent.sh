#!/bin/bash
# 8 `ucrt run` processes started at once on one store while the image's
# disk is missing: one builds it under the rootfs lock, the others wait
# for it; all 8 succeed with their own output, exactly one disk is left
# and no temp disk, and `system check` is clean. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/images.sh"
t_run_init
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; t_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/registry" http >/dev/null 2>&1 || { echo "1..0 # SKIP registry did not start"; exit 0; }
t_img_build "$tmp/fx" v1 extra_mb=24 random=1 >/dev/null && t_reg_upload "$tmp/fx" conc/run v1
IMG=$REG/conc/run:v1
U image pull -q "$IMG" >/dev/null 2>"$tmp/err" || nok "pull"
rm -f "$tmp/root"/rootfs/*.ext4
for i in $(seq 8); do
	U run --rm "$IMG" echo "instance $i" >"$tmp/out.$i" 2>"$tmp/err.$i" &
	pids+=($!)
done
fails=0
for i in "${!pids[@]}"; do
	wait "${pids[i]}" || { fails=$((fails + 1)); sed 's/^/# /' "$tmp/err.$((i + 1))" | tail -3; }
done
pids=()
[ $fails = 0 ] && ok "8 runs started while the disk builds all succeed" || nok "$fails of 8 runs failed"
good=0
for i in $(seq 8); do [ "$(cat "$tmp/out.$i")" = "instance $i" ] && good=$((good + 1)); done
[ $good = 8 ] && ok "each printed its own line" || nok "$good of 8 printed their line"
[ "$(ls "$tmp/root/rootfs" | grep -c '\.ext4$')" = 1 ] && ! ls "$tmp/root/rootfs" | grep -q tmp &&
	ok "one disk built, no temp disk left" || nok "rootfs/: $(ls "$tmp/root/rootfs")"
U system check >"$tmp/out" 2>&1 && ok "system check is clean" || { nok "system check"; sed 's/^/# /' "$tmp/out"; }
echo "1..$n"
