#!/bin/bash
# Cold pull benchmark. Two images on a local docker-registry started here:
#   deb3: a debootstrap minbase layer + a layer of 2,000 small files + a
#         layer holding one 24 MB incompressible file (all gzip);
#   one:  the minbase layer alone.
# For each, in one run: `ucrt image pull` into an empty store (blobs and
# the ext4 disk, durable when it returns) against
#   - the inflate floor: `igzip -dc` of the same layers to /dev/null,
#   - `skopeo copy` to an OCI layout (blobs only, no unpack),
#   - `podman pull` into an empty storage (blobs + overlay unpack),
# and `ucrt rootfs build` of the minbase layer against its floor. Medians
# of BENCH_RUNS (default 5) runs; the page cache stays warm (the registry's
# files and the layers are read from memory by all of them).
# The debootstrap output and the image layouts are cached under
# build/bench-cache (BENCH_MIRROR overrides the Debian mirror).
set -eu
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
cache=$UCRT_SRC/build/bench-cache
runs=${BENCH_RUNS:-5}
for t in igzip debootstrap skopeo docker-registry python3 curl; do
	command -v $t >/dev/null || { echo "pull bench: SKIP ($t not installed)"; exit 0; }
done
if ! command -v podman >/dev/null; then
	[ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman >/dev/null 2>&1 || true
	command -v podman >/dev/null || echo "pull bench: podman not installed and could not be installed: no podman column"
fi
mkdir -p "$cache"

mirror() {
	[ -n "${BENCH_MIRROR:-}" ] && { echo "$BENCH_MIRROR"; return; }
	local u
	u=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '{print $2}' | grep -v security | head -n1)
	[ -z "$u" ] && u=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '{print $2}' | grep -i debian | grep -v security | head -n1)
	echo "${u:-http://deb.debian.org/debian}"
}

# The minbase tree (shared with bench/rootfs.sh) and its gzip layer.
if [ ! -d "$cache/rootfs" ]; then
	[ "$(id -u)" = 0 ] || { echo "pull bench: SKIP (debootstrap needs root)"; exit 0; }
	rm -rf "$cache/rootfs.tmp"
	debootstrap --variant=minbase bookworm "$cache/rootfs.tmp" "$(mirror)" >"$cache/debootstrap.log" 2>&1 ||
		{ echo "pull bench: SKIP (debootstrap failed, see $cache/debootstrap.log)"; exit 0; }
	mv "$cache/rootfs.tmp" "$cache/rootfs"
fi

# OCI layouts of both images, built once: the layers are deterministic
# (sorted names, mtime 0) except the random file, made once.
[ -f "$cache/pull-images/done" ] || python3 - "$cache" <<'PY'
import gzip, hashlib, io, json, os, shutil, subprocess, sys, tarfile
cache = sys.argv[1]
out = cache + "/pull-images"
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out + "/blobs/sha256")
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
def gz(raw):
    # igzip when present (what the registries' clients meet in practice is
    # gzip -6; igzip -3 is close in ratio and much faster to make)
    try:
        return subprocess.run(["igzip", "-3", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    except Exception:
        return gzip.compress(raw, 6, mtime=0)
def tar_tree(root):
    r = subprocess.run(["tar", "--numeric-owner", "--xattrs", "--sort=name", "--mtime=@0", "-C", root, "-cf", "-", "."],
                       stdout=subprocess.PIPE, check=True)
    return r.stdout
def tar_files(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name); ti.mtime = 0; ti.mode = 0o644
            if data is None:
                ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
            else:
                ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    return b.getvalue()
base = tar_tree(cache + "/rootfs")
small = [("srv", None), ("srv/small", None)]
for i in range(2000):
    small.append((f"srv/small/f{i:04d}.txt", (f"file {i}\n" * (1 + i % 97)).encode()))
small = tar_files(small)
rnd = tar_files([("opt", None), ("opt/blob.bin", os.urandom(24 << 20))])
MT_L = "application/vnd.oci.image.layer.v1.tar+gzip"
index = []
for name, raws in (("deb3", [base, small, rnd]), ("one", [base])):
    layers, diffs = [], []
    for raw in raws:
        diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
        d, n = put(gz(raw))
        layers.append({"mediaType": MT_L, "digest": d, "size": n})
    cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
           "config": {"Cmd": ["/bin/bash"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
           "rootfs": {"type": "layers", "diff_ids": diffs}}
    cd, cn = put(json.dumps(cfg).encode())
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn}, "layers": layers}
    md, mn = put(json.dumps(m).encode())
    index.append({"name": name, "manifest": md, "size": mn, "layers": [l["digest"] for l in layers]})
    os.makedirs(f"{out}/{name}/blobs", exist_ok=True)
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
               "digest": md, "size": mn, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
              open(f"{out}/{name}/index.json", "w"))
    open(f"{out}/{name}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
    # each image's layout shares the blob directory
    if not os.path.exists(f"{out}/{name}/blobs/sha256"):
        os.symlink("../../blobs/sha256", f"{out}/{name}/blobs/sha256")
    with open(f"{out}/{name}/layers", "w") as f:
        f.write("\n".join(l[7:] for l in index[-1]["layers"]) + "\n")
open(out + "/done", "w").write("ok\n")
PY
imgs=$cache/pull-images

. "$UCRT_SRC/tests/lib/registry.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ucrt-bench-pull.XXXXXX")
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/reg" http >/dev/null
for img in deb3 one; do
	t_reg_upload "$imgs/$img" bench/$img v1 || { echo "pull bench: upload of $img failed"; exit 1; }
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# seconds of one run of "$@" (output dropped); a failure ends the bench
t1() {
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null 2>"$tmp/err" || { echo "pull bench: FAILED: $*" >&2; tail -5 "$tmp/err" >&2; exit 1; }
	e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f\n", e - s }'
}
floor() { (cd "$imgs/blobs/sha256" && xargs igzip -dc <"$imgs/$1/layers" >/dev/null); }
ucrt_pull() { "$UCRT_BIN" --root "$tmp/store" image pull -q "$REG/bench/$1:v1"; }
skopeo_copy() { skopeo copy -q --src-tls-verify=false "docker://$REG/bench/$1:v1" "oci:$tmp/sk:v1"; }
podman_pull() {
	podman --root "$tmp/pod" --runroot "$tmp/podrun" --storage-driver "$pod_driver" pull -q --tls-verify=false \
		"$REG/bench/$1:v1"
}
pod_driver=overlay
if command -v podman >/dev/null; then
	podman_pull one >/dev/null 2>&1 || pod_driver=vfs
	podman --root "$tmp/pod" --runroot "$tmp/podrun" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
	rm -rf "$tmp/pod" "$tmp/podrun"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "pull bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), medians of $runs runs, cold store, warm page cache"
for img in deb3 one; do
	gzmb=$(cd "$imgs/blobs/sha256" && xargs du -cb <"$imgs/$img/layers" | tail -1 | awk '{ printf "%.0f", $1 / 1e6 }')
	: >"$tmp/u"; : >"$tmp/f"; : >"$tmp/s"; : >"$tmp/p"
	for _ in $(seq "$runs"); do
		rm -rf "$tmp/store" "$tmp/sk"; sync
		t1 ucrt_pull "$img" >>"$tmp/u"
		t1 floor "$img" >>"$tmp/f"
		t1 skopeo_copy "$img" >>"$tmp/s"
		if command -v podman >/dev/null; then
			rm -rf "$tmp/pod" "$tmp/podrun"; sync
			t1 podman_pull "$img" >>"$tmp/p"
		fi
	done
	u=$(median <"$tmp/u") f=$(median <"$tmp/f") s=$(median <"$tmp/s")
	line="pull $img ($(wc -l <"$imgs/$img/layers") layers, $gzmb MB gzip): ucrt $u s; floor (igzip -dc) $f s: ucrt/floor $(ratio "$u" "$f")x;"
	line="$line skopeo copy $s s: ucrt/skopeo $(ratio "$u" "$s")x"
	if [ -s "$tmp/p" ]; then
		p=$(median <"$tmp/p")
		line="$line; podman pull ($pod_driver) $p s: ucrt/podman $(ratio "$u" "$p")x"
	fi
	echo "$line"
done
rm -rf "$tmp/pod" "$tmp/podrun"

# ucrt rootfs build of the minbase layer vs its floor
base=$(head -n1 "$imgs/one/layers")
: >"$tmp/u"; : >"$tmp/f"
for _ in $(seq "$runs"); do
	rm -f "$tmp/base.ext4"
	t1 "$UCRT_BIN" rootfs build -o "$tmp/base.ext4" "$imgs/blobs/sha256/$base" >>"$tmp/u"
	t1 igzip -dc "$imgs/blobs/sha256/$base" >>"$tmp/f"
done
u=$(median <"$tmp/u") f=$(median <"$tmp/f")
echo "rootfs build (minbase layer): ucrt $u s; floor (igzip -dc) $f s: ucrt/floor $(ratio "$u" "$f")x (goal 1.3x)"
