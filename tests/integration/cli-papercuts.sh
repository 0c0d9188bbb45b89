#!/bin/bash
# Papercuts a docker user meets: the top-level aliases (pull, push, images,
# rmi, tag), `version` (client, QEMU, kernel, guest-init), `info` (accel,
# store, network), `image prune` reporting the space it really freed. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

# ---- aliases ----
U pull -q "$IMG" >/dev/null 2>"$tmp/err"; is "pull IMG: like image pull" "$?" 0
is "images: like image ls" "$(U images --format '{{.Repository}}:{{.Tag}}' 2>"$tmp/err")" "$IMG"
U tag "$IMG" "${IMG%:1}:2" 2>"$tmp/err"; is "tag SRC DST" "$(U images -q "${IMG%:1}:2" | wc -l)" 1
U push "${IMG%:1}:2" >/dev/null 2>"$tmp/err"; is "push: like image push" "$?" 0
U rmi "${IMG%:1}:2" >/dev/null 2>"$tmp/err"; is "rmi: like image rm" "$(U images -q "${IMG%:1}:2" | wc -l)" 0
U images --help >"$tmp/out" 2>"$tmp/err"; is "images --help: image ls's usage" "$? $(grep -c '^Usage: ucrt image ls' "$tmp/out")" "0 1"
U --help | grep -q '^  rmi ' && ok "the aliases are in ucrt --help" || nok "aliases in --help"

# ---- version ----
U version >"$tmp/v" 2>"$tmp/err"
qv=$(qemu-system-x86_64 --version | head -1 | sed 's/.*version \([^ ]*\).*/\1/')
is "version: client" "$(grep '^Client:' "$tmp/v" | tr -s ' ')" "Client: ucrt 0.1.0"
grep -q "^QEMU: *$qv (" "$tmp/v" && ok "version: QEMU's ($qv)" || { nok "version: QEMU"; cat "$tmp/v" | sed 's/^/# /'; }
grep -qE "^Kernel: *[0-9]+\.[0-9]+" "$tmp/v" && ok "version: the guest kernel's release" || nok "version: kernel"
is "version: guest-init's, read from the binary" "$(grep '^Guest-init:' "$tmp/v" | awk '{print $2}')" "0.1.0"
is "--version: one line" "$(U --version)" "ucrt version 0.1.0"
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["Client"]["Version"]=="0.1.0" and d["GuestInit"]["Version"]=="0.1.0" and d["Qemu"]["Version"]==sys.argv[1], d' \
	"$qv" < <(U version --format json) && ok "version --format json" || nok "version --format json"

# ---- info ----
U info >"$tmp/info" 2>"$tmp/err"
if grep -qE '^flags.*\b(vmx|svm)\b' /proc/cpuinfo && [ -w /dev/kvm ]; then
	grep -q "^Accel: *KVM" "$tmp/info" && ok "info: KVM" || nok "info: KVM"
else
	grep -q "^Accel: *TCG (.*)" "$tmp/info" && ok "info: TCG and why" || { nok "info: TCG and why"; sed 's/^/# /' "$tmp/info"; }
fi
is "info: the store root" "$(grep '^Store:' "$tmp/info" | awk '{print $2}')" "$tmp/root"
grep -qE "^Store usage: [0-9.]+[kMG]?B \(blobs [0-9.]+[kMG]?B" "$tmp/info" && ok "info: store usage by part" || nok "info: usage"
grep -qE "^Network: *default none; " "$tmp/info" && ok "info: network state (default mode, bridge)" || nok "info: network"
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["StoreRoot"]==sys.argv[1] and d["StoreUsage"]["Blobs"]>0 and d["Accel"] in ("kvm","tcg") and d["Network"]["DefaultMode"]=="none", d' \
	"$tmp/root" < <(U info --format json) && ok "info --format json" || nok "info --format json"

# ---- image prune: allocated bytes ----
U rmi "$IMG" >/dev/null 2>"$tmp/err"
alloc=$(find "$tmp/root/blobs" "$tmp/root/rootfs" "$tmp/root/ingest" -type f -printf '%b\n' 2>/dev/null | awk '{s += $1 * 512} END {print s + 0}')
apparent=$(find "$tmp/root/blobs" "$tmp/root/rootfs" "$tmp/root/ingest" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')
want=$(python3 -c '
import sys
b = float(sys.argv[1]); u = 0; units = ["B", "kB", "MB", "GB", "TB"]
while b >= 1000: b /= 1000; u += 1
print("%.3g%s" % (b, units[u]))' "$alloc")
U image prune -f >"$tmp/prune" 2>"$tmp/err"
is "image prune: the allocated bytes freed ($alloc of $apparent apparent)" "$(grep '^Total reclaimed space:' "$tmp/prune")" "Total reclaimed space: $want"
[ -z "$(find "$tmp/root/blobs" "$tmp/root/rootfs" -type f)" ] && ok "prune left no blob or disk" || nok "prune left files"
echo "1..$n"
