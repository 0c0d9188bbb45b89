# Helpers for the foreign-architecture tests and bench/platform.sh.
#   t_arm64_busybox DIR   the arm64 busybox-static from Debian (apt, with
#       arm64 added as a foreign architecture) extracted under DIR; prints
#       the binary's path, or fails with a reason on stderr.
#   t_platform_image LAYOUT TAG AMD64_BUSYBOX ARM64_BUSYBOX
#       an OCI layout whose TAG is an image index with a linux/amd64 and a
#       linux/arm64 busybox image (same applets, Cmd uname -m).
t_arm64_busybox() {
	local dir=$1 deb
	mkdir -p "$dir"
	if [ -x "$dir/bin/busybox" ]; then echo "$dir/bin/busybox"; return 0; fi
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		[ "$(id -u)" = 0 ] || { echo "arm64 is not a dpkg architecture (needs root to add)" >&2; return 1; }
		dpkg --add-architecture arm64 || return 1
		apt-get update -qq >/dev/null 2>&1 || { echo "apt-get update failed" >&2; return 1; }
	fi
	( cd "$dir" && apt-get download -qq busybox-static:arm64 >/dev/null 2>&1 ) ||
		{ apt-get update -qq >/dev/null 2>&1; ( cd "$dir" && apt-get download -qq busybox-static:arm64 >/dev/null 2>&1 ); } ||
		{ echo "apt-get download busybox-static:arm64 failed" >&2; return 1; }
	deb=$(ls "$dir"/busybox-static_*_arm64.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || { echo "no busybox-static arm64 package downloaded" >&2; return 1; }
	dpkg-deb -x "$deb" "$dir" || return 1
	[ -x "$dir/bin/busybox" ] || { echo "no bin/busybox in $deb" >&2; return 1; }
	echo "$dir/bin/busybox"
}

t_platform_image() {	# LAYOUT TAG AMD64_BUSYBOX ARM64_BUSYBOX
	python3 - "$@" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, tag, bb_amd64, bb_arm64 = sys.argv[1:5]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
applets = ("sh echo cat uname true false head dd tr wc sha256sum grep seq sort uniq "
           "printf test sleep env ls").split()
def image(bb, arch):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(name, data=None, mode=0o755, link=None):
            ti = tarfile.TarInfo(name); ti.mtime = 0; ti.mode = mode
            if link is not None:
                ti.type = tarfile.SYMTYPE; ti.linkname = link; t.addfile(ti)
            elif data is None:
                ti.type = tarfile.DIRTYPE; t.addfile(ti)
            else:
                ti.size = len(data); t.addfile(ti, io.BytesIO(data))
        for d in ("bin", "etc", "root", "dev", "proc", "sys", "run", "tmp"):
            add(d)
        add("bin/busybox", open(bb, "rb").read())
        for a in applets:
            add("bin/" + a, link="busybox")
        add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        add("etc/group", b"root:x:0:\n", 0o644)
    raw = b.getvalue()
    diff = "sha256:" + hashlib.sha256(raw).hexdigest()
    ld, ln = put(gzip.compress(raw, 6, mtime=0))
    cfg = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
           "config": {"Cmd": ["uname", "-m"], "Env": ["PATH=/bin"]},
           "rootfs": {"type": "layers", "diff_ids": [diff]}}
    cd, cn = put(json.dumps(cfg).encode())
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ln}]}
    md, mn = put(json.dumps(m).encode())
    return {"mediaType": m["mediaType"], "digest": md, "size": mn,
            "platform": {"os": "linux", "architecture": arch}}
ix = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [image(bb_amd64, "amd64"), image(bb_arm64, "arm64")]}
ixd, ixn = put(json.dumps(ix).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": ix["mediaType"], "digest": ixd, "size": ixn,
           "annotations": {"org.opencontainers.image.ref.name": tag}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}
