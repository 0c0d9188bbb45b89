#!/bin/bash
# Disk sizing (docs/rootfs.md "Size"): a disk sized from bytes that runs out
# of inodes or blocks is rebuilt with what the layers were counted to need,
# by `rootfs build` and by a streaming `image pull` (70k entries: more than
# the 65536 inodes of the smallest streamed disk); a --size given is kept
# and a full image says what the layers need; a full host filesystem is
# reported as such, naming the path; a pull whose disk cannot be written
# fails; temp files a killed build left are removed by the next one. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/images.sh"
UCRT_SRC=${UCRT_SRC:-$(cd "$T_LIB_DIR/../.." && pwd)}
for t in e2fsck debugfs gzip; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 0; }
done
t_img_init size
# `run` below stops before any boot; it needs no network (as root the
# default one is a bridge in the host namespace).
export UCRT_NETWORK=none
mnt=$tmp/full
trap 't_reg_stop; mountpoint -q "$mnt" && umount "$mnt"; rm -rf "$tmp"' EXIT
is() {	# NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '# got:  %s\n# want: %s\n' "$2" "$3"; fi
}
# Entries of a directory of an image (debugfs, no mount).
count() { debugfs -R "ls $2" "$1" 2>/dev/null | tr -s ' \n' '\n\n' | grep -c '^f[0-9]'; }

# Layers: N empty files in directories of 1000 (a tar's size says little
# about its entry count), a 24 MiB file, and gzip that is not a tar.
mklayer() {	# OUT.tar.gz NFILES [BIG_MB]; ustar headers written directly (tarfile is slow)
	python3 - "$@" <<'PY'
import gzip, os, sys
out, n = sys.argv[1], int(sys.argv[2]); big = int(sys.argv[3]) if len(sys.argv) > 3 else 0
def hdr(name, typ, size=0, mode=0o644):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"%07o\0" % mode
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156] = ord(typ)
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"        "
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)
parts = []
for i in range(n):
    if i % 1000 == 0:
        parts.append(hdr("d%03d/" % (i // 1000), "5", mode=0o755))
    parts.append(hdr("d%03d/f%04d" % (i // 1000, i % 1000), "0"))
if big:
    parts += [hdr("big", "0", big << 20), os.urandom(big << 20)]
parts.append(bytes(1024))
open(out, "wb").write(gzip.compress(b"".join(parts), 1, mtime=0))
PY
}
mklayer "$tmp/many.tar.gz" 20000 || { echo "1..0 # SKIP fixture generation failed"; exit 0; }
mklayer "$tmp/big.tar.gz" 0 24

# rootfs build: the estimate (gzip ISIZE: ~20 MiB of tar) gives ~10k
# inodes; the image is rebuilt with enough.
"$UCRT_BIN" --log-level debug rootfs build --no-fsync -o "$tmp/many.ext4" "$tmp/many.tar.gz" 2>"$tmp/err"
is "rootfs build of 20000 files: exit 0" "$?" 0
grep -q "image full: no free inode.*building it again" "$tmp/err" && ok "the first image ran out of inodes and was rebuilt" ||
	nok "the first image ran out of inodes and was rebuilt"
e2fsck -fn "$tmp/many.ext4" >"$tmp/fsck" 2>&1 && ok "e2fsck -fn clean" || { nok "e2fsck -fn clean"; sed 's/^/# /' "$tmp/fsck" | tail -5; }
is "every file is there (last directory)" "$(count "$tmp/many.ext4" /d019)" 1000
rm -f "$tmp/many.ext4"

# A --size given is kept: too small for the blocks fails, saying so.
"$UCRT_BIN" rootfs build --no-fsync --size 16M -o "$tmp/small.ext4" "$tmp/big.tar.gz" 2>"$tmp/err"
is "24 MiB into --size 16M: exit 125" "$?" 125
grep -q "entry big: image full: no free block.*the layers need about [0-9]* inodes and [0-9]* MiB" "$tmp/err" &&
	ok "the message names the entry and what the layers need" || nok "the message names the entry and what the layers need"
grep -q -- "--size" "$tmp/err" && nok "no advice about an option" || ok "no advice about an option"
is "nothing left next to the output" "$(ls "$tmp" | grep -c small)" 0

# An xattr larger than a block: libext2fs's ENOSPC, with the image empty.
python3 -c 'import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("f"); ti.pax_headers = {"SCHILY.xattr.user.big": "x" * 5000}; t.addfile(ti)' "$tmp/xattr.tar"
"$UCRT_BIN" rootfs build --no-fsync -o "$tmp/xattr.ext4" "$tmp/xattr.tar" 2>"$tmp/err"
grep -q "entry f: its xattrs do not fit in one block" "$tmp/err" && ok "a too large xattr is not called a full image" ||
	nok "a too large xattr is not called a full image"

# The host's filesystem full: a 4 MiB tmpfs in a private mount namespace.
mkdir -p "$mnt"
if unshare -m sh -c 'mount -t tmpfs -o size=4m tmpfs "$1" && "$2" rootfs build --no-fsync -o "$1/x.ext4" "$3" 2>"$4"
	echo $? >"$4.st"; ls -A "$1" >"$4.left"' sh "$mnt" "$UCRT_BIN" "$tmp/big.tar.gz" "$tmp/err" 2>/dev/null &&
	[ -f "$tmp/err.st" ]; then
	is "full host: exit 125" "$(cat "$tmp/err.st")" 125
	grep -q "writing $mnt/x.ext4: No space left on device" "$tmp/err" && ok "full host: ENOSPC reported, naming the path" ||
		nok "full host: ENOSPC reported, naming the path"
	grep -q "image full" "$tmp/err" && nok "full host: not called a full image" || ok "full host: not called a full image"
	is "full host: nothing left" "$(cat "$tmp/err.left")" ""
else
	for d in "exit 125" "ENOSPC reported" "not a full image" "nothing left"; do ok "# SKIP cannot mount a tmpfs: full host: $d"; done
fi

# Pulls. An OCI layout of one image whose layers are the given files.
mkimage() {	# LAYOUT LAYER...
	python3 - "$@" <<'PY'
import gzip, hashlib, json, os, sys
out, layers = sys.argv[1], sys.argv[2:]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
ls, diffs = [], []
for p in layers:
    raw = open(p, "rb").read()
    diffs.append("sha256:" + hashlib.sha256(gzip.decompress(raw)).hexdigest())
    ls.append(dict(put(raw), mediaType="application/vnd.oci.image.layer.v1.tar+gzip"))
cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
       "rootfs": {"type": "layers", "diff_ids": diffs}}
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": dict(put(json.dumps(cfg).encode()), mediaType="application/vnd.oci.image.config.v1+json"),
     "layers": ls}
md = put(json.dumps(m).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(md, mediaType=m["mediaType"],
           annotations={"org.opencontainers.image.ref.name": "v1"})]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}
t_reg_start "$tmp/reg" http >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry did not start"; exit 0; }
mklayer "$tmp/70k.tar.gz" 70000
printf 'this is not a tar archive\n%.0s' $(seq 100) | gzip -c >"$tmp/notar.tar.gz"
mklayer "$tmp/small.tar.gz" 10
{ mkimage "$tmp/fx-many" "$tmp/small.tar.gz" "$tmp/70k.tar.gz" && t_reg_upload "$tmp/fx-many" size/many v1 &&
	mkimage "$tmp/fx-notar" "$tmp/small.tar.gz" "$tmp/notar.tar.gz" && t_reg_upload "$tmp/fx-notar" size/notar v1 &&
	mkimage "$tmp/fx-small" "$tmp/small.tar.gz" && t_reg_upload "$tmp/fx-small" size/small v1; } >/dev/null ||
	{ echo "1..0 # SKIP fixture upload failed"; exit 0; }

U --log-level debug image pull -q "$REG/size/many:v1" >/dev/null 2>"$tmp/err"
is "pull of 70001 entries: exit 0" "$?" 0
grep -q "disk full: building it again" "$tmp/err" && ok "the streamed disk filled up and was rebuilt" ||
	nok "the streamed disk filled up and was rebuilt"
disks=("$tmp"/store/rootfs/*.ext4)
if [ -f "${disks[0]}" ]; then
	ok "the pull left the disk"
	e2fsck -fn "${disks[0]}" >"$tmp/fsck" 2>&1 && ok "e2fsck -fn clean" || { nok "e2fsck -fn clean"; sed 's/^/# /' "$tmp/fsck" | tail -5; }
	is "every file is there (last directory)" "$(count "${disks[0]}" /d069)" 1000
else
	nok "the pull left the disk"; nok "e2fsck -fn clean"; nok "every file is there"
fi
is "no temp file left" "$(ls "$tmp/store/rootfs" | grep -c tmp-)" 0
rm -f "$tmp"/store/rootfs/*

# `run` of the stored image builds its disk from the blobs (sized from
# their gzip ISIZE: ~11k inodes) and grows it too. No VM: an unknown user
# fails the run right after the disk is built, before any boot.
if command -v qemu-system-x86_64 >/dev/null; then
	U --log-level debug run --rm --user nosuchuser "$REG/size/many:v1" true >/dev/null 2>"$tmp/err"
	grep -q "image full: no free inode.*building it again" "$tmp/err" && ok "run: the disk built from the store was rebuilt" ||
		nok "run: the disk built from the store was rebuilt"
	grep -q -- "--size" "$tmp/err" && nok "run: no advice about an option run lacks" ||
		ok "run: no advice about an option run lacks"
	disks=("$tmp"/store/rootfs/*.ext4)
	if [ -f "${disks[0]}" ]; then is "run: every file is there (last directory)" "$(count "${disks[0]}" /d069)" 1000
	else nok "run: every file is there (last directory)"; fi
	rm -f "$tmp"/store/rootfs/*
else
	for d in "rebuilt" "no advice" "every file"; do ok "# SKIP qemu-system-x86_64 missing: run: $d"; done
fi

# A layer whose blob is fine but is no tar: the pull fails, naming it.
set -- $(python3 -c 'import json,sys; d=sys.argv[1]; t=json.load(open(d+"/index.json"))["manifests"][0]["digest"]
print(" ".join(l["digest"] for l in json.load(open(d+"/blobs/sha256/"+t[7:]))["layers"]))' "$tmp/fx-notar")
U image pull -q "$REG/size/notar:v1" >/dev/null 2>"$tmp/err"
is "pull of a layer that is no tar: exit 125" "$?" 125
grep -q "layer $2: not a tar archive" "$tmp/err" && ok "the error names the layer" || nok "the error names the layer"
is "no disk and no temp file left" "$(ls "$tmp/store/rootfs" | grep -c ext4)" 0

# A killed build's temp file (1 GiB apparent) goes with the next build.
U image pull -q "$REG/size/small:v1" >/dev/null 2>"$tmp/err" || nok "pull of a small image"
disks=("$tmp"/store/rootfs/*.ext4)
d=${disks[0]}
rm -f "$d"
truncate -s 1G "$d.tmp-Ab12Cd"
U image rm "$REG/size/small:v1" >/dev/null 2>&1
U image pull -q "$REG/size/small:v1" >/dev/null 2>"$tmp/err"
is "pull again: exit 0" "$?" 0
[ -f "$d" ] && ok "the disk is there" || nok "the disk is there"
is "the stale temp file is gone" "$(ls "$tmp/store/rootfs" | grep -c tmp-)" 0

# rootfs/ read-only (a bind mount in a private namespace): the disk cannot
# be made, so the pull fails, saying why, instead of leaving it to `run`.
U image rm "$REG/size/small:v1" >/dev/null 2>&1
rm -f "$tmp"/store/rootfs/*
if unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 77
	"$2" --root "$3" image pull -q "$4" >/dev/null 2>"$5"; echo $? >"$5.st"' sh \
	"$tmp/store/rootfs" "$UCRT_BIN" "$tmp/store" "$REG/size/small:v1" "$tmp/err" 2>/dev/null; then
	is "read-only rootfs/: pull exits 125" "$(cat "$tmp/err.st")" 125
	grep -q "writing the image's disk: .*Read-only file system" "$tmp/err" && ok "read-only rootfs/: the error says why" ||
		nok "read-only rootfs/: the error says why"
else
	ok "# SKIP cannot bind-mount: read-only rootfs/ exit"; ok "# SKIP cannot bind-mount: read-only rootfs/ error"
fi
echo "1..$n"
