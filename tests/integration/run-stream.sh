#!/bin/bash
# Streaming pull (docs/rootfs.md): `ucrt run` of a missing 3-layer image
# writes the disk while the layers download ("applied layer N while
# downloading" at --log-level debug). The streamed disk passes e2fsck -fn
# and its tree equals the disk built afterwards from the stored blobs. A
# layer corrupted in the registry's storage fails the run naming the
# layer, and leaves no rootfs/*.ext4 and no temp file behind. `ucrt image
# pull` leaves the disk too. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/images.sh"
t_run_init
for t in e2fsck debugfs; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 0; }
done
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/reg" http >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry did not start"; exit 0; }
t_img_build "$tmp/fx" v1 layers=3 extra_mb=6 >/dev/null && t_reg_upload "$tmp/fx" stream/app v1 ||
	{ echo "1..0 # SKIP fixture upload failed"; exit 0; }
regblob() { echo "$tmp/reg/storage/docker/registry/v2/blobs/sha256/${1:7:2}/${1:7}/data"; }
layers_of() {	# LAYOUT: layer digests of its single manifest
	python3 -c 'import json,sys; d=sys.argv[1]; t=json.load(open(d+"/index.json"))["manifests"][0]["digest"]
m=json.load(open(d+"/blobs/sha256/"+t[7:])); print(" ".join(l["digest"] for l in m["layers"]))' "$1"
}
# A disk's tree: names, types, modes, owners, times, sizes and contents
# (lost+found is made by mkfs, with the build time).
tree() {	# DISK DIR
	mkdir -p "$2" && debugfs -R "rdump / $2" "$1" >/dev/null 2>&1 &&
		(cd "$2" && find . -path ./lost+found -prune -o -printf '%p %y %m %U %G %T@ %s %l\n' | sort &&
			find . -type f -exec md5sum {} + | sort)
}

out=$(U --log-level debug run --rm "$REG/stream/app:v1" true 2>"$tmp/err"); st=$?
is "run of a missing 3-layer image exits 0" "$st" 0
grep -q "applied layer 0 while downloading" "$tmp/err" && ok "layer 0 applied while downloading" ||
	nok "layer 0 applied while downloading"
is "every layer applied by the streaming writer" "$(grep -c 'applied layer [0-2] ' "$tmp/err")" 3
grep -q "disk .* built in" "$tmp/err" && nok "no second build from the store" || ok "no second build from the store"
disks=("$tmp"/root/rootfs/*.ext4)
is "one disk in rootfs/" "${#disks[@]}" 1
d=${disks[0]}
e2fsck -fn "$d" >"$tmp/fsck" 2>&1 && ok "streamed disk passes e2fsck -fn" || { nok "e2fsck -fn"; sed 's/^/# /' "$tmp/fsck" | tail; }
is "streamed disk is read-only" "$(stat -c %a "$d")" 444
tree "$d" "$tmp/t1" >"$tmp/tree1"

# The same image from the stored blobs (non-streaming path).
mv "$d" "$tmp/streamed.ext4"
U --log-level debug run --rm "$REG/stream/app:v1" true >/dev/null 2>"$tmp/err"
grep -q "disk .* built in" "$tmp/err" && ok "image in the store: disk built from the blobs" ||
	nok "image in the store: disk built from the blobs"
tree "$d" "$tmp/t2" >"$tmp/tree2"
[ -s "$tmp/tree1" ] && cmp -s "$tmp/tree1" "$tmp/tree2" && ok "streamed tree equals the tree built from the store" ||
	{ nok "streamed tree equals the tree built from the store"; diff "$tmp/tree1" "$tmp/tree2" | head | sed 's/^/# /'; }
grep -q "/data2 f 644 0 0 " "$tmp/tree1" && ok "last layer's file present" || nok "last layer's file present"

# A corrupt middle layer: the pull fails, no disk and no temp file left.
t_img_build "$tmp/fx-bad" bad layers=3 extra_mb=6 >/dev/null && t_reg_upload "$tmp/fx-bad" stream/bad v1
set -- $(layers_of "$tmp/fx-bad")
printf 'XXXX' | dd of="$(regblob "$2")" bs=1 seek=5000 conv=notrunc 2>/dev/null
rm -f "$tmp"/root/rootfs/*
U --log-level debug run --rm "$REG/stream/bad:v1" true >/dev/null 2>"$tmp/err"; st=$?
is "corrupt layer: exit 125" "$st" 125
grep -q "${2}" "$tmp/err" && ok "error names the corrupt layer" || nok "error names the corrupt layer"
is "no disk and no temp file left in rootfs/" "$(ls -A "$tmp/root/rootfs")" ""

# `ucrt image pull` streams too: the disk is there after the pull.
t_img_build "$tmp/fx-pull" pull layers=2 extra_mb=3 comp=zstd >/dev/null && t_reg_upload "$tmp/fx-pull" stream/pull v1
U --log-level debug image pull -q "$REG/stream/pull:v1" >/dev/null 2>"$tmp/err"; st=$?
is "image pull exits 0" "$st" 0
grep -q "applied layer 1 " "$tmp/err" && ok "image pull applied the layers" || nok "image pull applied the layers"
disks=("$tmp"/root/rootfs/*.ext4)
[ -f "${disks[0]}" ] && e2fsck -fn "${disks[0]}" >/dev/null 2>&1 && ok "image pull left a clean disk" ||
	nok "image pull left a clean disk"
echo "1..$n"
