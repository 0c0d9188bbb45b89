# Fixture images for the image tests: OCI image layouts written directly
# (python3 stdlib + the zstd CLI) from busybox-static, in OCI or Docker
# media types, gzip/zstd/uncompressed layers, single manifest or a
# multi-arch index. Source after tests/lib/registry.sh.
#   t_img_build DIR TAG [mt=oci|docker] [comp=gzip|zstd|none] [platforms=linux/amd64,...] [extra_mb=0] [layers=1]
#   t_img_init NAME   common preamble of tests/integration/image-*.sh

# Skip unless the registry tools are there and ucrt is built; make $tmp
# (/tmp/ucrt-NAME.XXXXXX; the caller sets its EXIT trap) and the TAP
# helpers: ok, nok (shows the tail of $tmp/err), check DESC CMD..., fails
# DESC PATTERN CMD..., and U = ucrt on the private store $tmp/store.
t_img_init() {	# NAME
	UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
	t_reg_need
	[ -x "$UCRT_BIN" ] || { echo "1..0 # SKIP $UCRT_BIN not built"; exit 0; }
	tmp=$(mktemp -d "/tmp/ucrt-$1.XXXXXX")
	n=0
	ok() { n=$((n + 1)); echo "ok $n - $*"; }
	nok() { n=$((n + 1)); echo "not ok $n - $*"; [ -f "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | tail -5; }
	check() { local d=$1; shift; if "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$d"; else nok "$d"; fi; }
	fails() {
		local d=$1 pat=$2; shift 2
		if "$@" >"$tmp/out" 2>"$tmp/err"; then nok "$d (succeeded)"
		elif grep -q "$pat" "$tmp/err"; then ok "$d"
		else nok "$d (want /$pat/)"; fi
	}
	U() { "$UCRT_BIN" --root "$tmp/store" "$@"; }
}
t_img_build() {
	python3 - "$@" <<'PY'
import gzip, hashlib, io, json, os, subprocess, sys, tarfile
out, tag = sys.argv[1], sys.argv[2]
kv = dict(a.split("=", 1) for a in sys.argv[3:])
mt = kv.get("mt", "oci"); comp = kv.get("comp", "gzip")
plats = kv.get("platforms", "linux/amd64").split(",")
extra = int(kv.get("extra_mb", "0")); nlayers = int(kv.get("layers", "1"))
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
def tarball(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode in files:
            ti = tarfile.TarInfo(name); ti.mtime = 0; ti.mode = mode
            if data is None:
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            else:
                ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    return b.getvalue()
def compress(raw):
    if comp == "gzip":
        return gzip.compress(raw, 6, mtime=0)
    if comp == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    return raw
if mt == "docker":
    MT_M, MT_C = "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json"
    MT_L, MT_I = "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.distribution.manifest.list.v2+json"
else:
    MT_M, MT_C = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json"
    MT_L = "application/vnd.oci.image.layer.v1.tar" + {"gzip": "+gzip", "zstd": "+zstd", "none": ""}[comp]
    MT_I = "application/vnd.oci.image.index.v1+json"
bb = open("/bin/busybox", "rb").read()
manifests = []
for p in plats:
    parts = p.split("/")
    layers, diffs = [], []
    for i in range(nlayers):
        files = [("bin", None, 0o755), ("etc", None, 0o755), ("etc/plat", f"{p} {tag}\n".encode(), 0o644)]
        if i == 0:
            files.append(("bin/busybox", bb, 0o755))
        if extra:
            # incompressible filler so the benchmark moves real bytes
            seed = hashlib.sha256(f"{p}{i}".encode()).digest()
            files.append((f"data{i}", os.urandom(extra << 20) if kv.get("random") else (seed * ((extra << 20) // 32)), 0o644))
        raw = tarball(files)
        diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
        d, n = put(compress(raw))
        layers.append({"mediaType": MT_L, "digest": d, "size": n})
    cfg = {"architecture": parts[1], "os": parts[0], "created": "2024-01-01T00:00:00Z",
           "config": {"Entrypoint": ["/bin/busybox"], "Cmd": ["sh"], "Env": ["PATH=/bin"],
                      "WorkingDir": "/", "Labels": {"fixture": tag}, "ExposedPorts": {"80/tcp": {}}},
           "rootfs": {"type": "layers", "diff_ids": diffs}}
    if len(parts) > 2:
        cfg["variant"] = parts[2]
    cd, cn = put(json.dumps(cfg).encode())
    m = {"schemaVersion": 2, "mediaType": MT_M, "config": {"mediaType": MT_C, "digest": cd, "size": cn}, "layers": layers}
    md, mn = put(json.dumps(m).encode())
    pl = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        pl["variant"] = parts[2]
    manifests.append({"mediaType": MT_M, "digest": md, "size": mn, "platform": pl})
if len(manifests) > 1:
    ix = {"schemaVersion": 2, "mediaType": MT_I, "manifests": manifests}
    td, tn = put(json.dumps(ix).encode()); tmt = MT_I
else:
    td, tn, tmt = manifests[0]["digest"], manifests[0]["size"], MT_M
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": tmt, "digest": td, "size": tn,
           "annotations": {"org.opencontainers.image.ref.name": tag}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(td)
PY
}
