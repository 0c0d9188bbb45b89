# Helpers for the `ucrt run` tests and the demo. Source after
# tests/lib/registry.sh.
#   t_run_image DIR TAG   write an OCI layout of a small busybox image:
#       applet links, /etc/passwd (root, user 1000), /srv as WorkingDir,
#       Env IMGVAR=from-image, Cmd ["sh","-c","echo default-cmd"],
#       /bin/not-executable (mode 0644) for the 126 case. $T_IMG_APPLETS
#       adds applets, $T_IMG_CMD (JSON) replaces the Cmd.
#   t_run_setup WORKDIR   start a registry, push the image as
#       $REG/ucrt-test/busybox:1 into it; sets IMG. Needs t_reg_need first.
#   t_qemu_count          QEMU processes whose command line or fds name $1
#   t_qemu_pids           their pids
#   t_qemu_uid            the uid QEMU runs as (ucrt-qemu or $UCRT_QEMU_USER
#       when root, else the invoking user)
t_run_image() {
	python3 - "$1" "$2" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, tag = sys.argv[1], sys.argv[2]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
applets = ("sh echo cat sleep id pwd stty head dd tr true false env ls wc yes tty printf "
           "test hostname kill trap seq grep uname rm mkdir touch").split() + \
          os.environ.get("T_IMG_APPLETS", "").split()
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
    for d in ("bin", "etc", "root", "srv", "home", "home/user", "dev", "proc", "sys", "run"):
        add(d, mode=0o700 if d == "root" else 0o755)
    add("tmp", mode=0o1777)
    add("bin/busybox", open("/bin/busybox", "rb").read())
    for a in applets:
        add("bin/" + a, link="busybox")
    add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", 0o644)
    add("etc/group", b"root:x:0:\nuser:x:1000:\nstaff:x:50:\n", 0o644)
    add("bin/not-executable", b"#!/bin/sh\necho never\n", 0o644)
raw = b.getvalue()
diff = "sha256:" + hashlib.sha256(raw).hexdigest()
ld, ln = put(gzip.compress(raw, 6, mtime=0))
cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
       "config": {"Cmd": json.loads(os.environ.get("T_IMG_CMD", '["sh", "-c", "echo default-cmd"]')),
                  "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "IMGVAR=from-image"],
                  "WorkingDir": "/srv"},
       "rootfs": {"type": "layers", "diff_ids": [diff]}}
cd, cn = put(json.dumps(cfg).encode())
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ln}]}
md, mn = put(json.dumps(m).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": m["mediaType"], "digest": md, "size": mn,
           "annotations": {"org.opencontainers.image.ref.name": tag}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}

t_run_setup() {	# WORKDIR
	local w=$1
	t_reg_start "$w/registry" http || return 1
	t_run_image "$w/layout" 1 || return 1
	t_reg_upload "$w/layout" ucrt-test/busybox 1 || return 1
	IMG=$REG/ucrt-test/busybox:1
}

t_qemu_count() {	# PATTERN: QEMU processes whose command line or open files name it
	t_qemu_pids "$1" | wc -l
}

t_qemu_pids() {	# PATTERN: their pids (QEMU gets its disks and shares as fds)
	local p
	for p in $(pgrep -f qemu-system 2>/dev/null); do
		{ tr '\0' ' ' </proc/$p/cmdline; find /proc/$p/fd -mindepth 1 -printf '%l\n'; } 2>/dev/null |
			grep -q -- "$1" && echo $p
	done
}

t_qemu_uid() {
	if [ "$(id -u)" = 0 ]; then id -u "${UCRT_QEMU_USER:-ucrt-qemu}"; else id -u; fi
}

# Common preamble of tests/integration/run-*.sh: skips, scratch dir, TAP
# helpers (ok, nok, is "name" got want), U = ucrt with a private root.
t_run_init() {
	UCRT_SRC=${UCRT_SRC:-$(cd "$T_LIB_DIR/../.." && pwd)}
	UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
	t_reg_need
	command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed"; exit 0; }
	[ -x "$UCRT_BIN" ] || { echo "1..0 # SKIP $UCRT_BIN not built"; exit 0; }
	[ -x /bin/busybox ] || { echo "1..0 # SKIP busybox-static not installed"; exit 0; }
	tmp=$(mktemp -d /tmp/ucrt-run.XXXXXX)
	n=0
	# As root the default network is a bridge in the host namespace, shared
	# by every store root: the run tests need none, and prove runs them
	# concurrently. The network tests use their own namespaces.
	export UCRT_NETWORK=${UCRT_NETWORK:-none}
}
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; [ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | tail -5; return 0; }
is() {	# NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '# got:  %s\n# want: %s\n' "$2" "$3" | head -20; fi
}
U() { "$UCRT_BIN" --root "$tmp/root" "$@"; }
