#!/usr/bin/env python3
"""busybox-image.py OUT.tar REF CONFIG_JSON: an OCI layout tar (for `ucrt
image load -i`) of one image named REF: the host's static /bin/busybox
with the applets the tests use, /w/index.html ("hello-srv"), and an image
config whose "config" object is CONFIG_JSON (ExposedPorts, Healthcheck,
Cmd...). No registry needed."""
import gzip, hashlib, io, json, sys, tarfile

out, ref, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
applets = ("sh echo cat sleep httpd nc rm touch test true false ls mkdir ip ifconfig "
           "grep wget date seq kill").split()
blobs = {}


def put(data):
    d = hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return "sha256:" + d, len(data)


def add(t, name, data=None, mode=0o755, link=None):
    ti = tarfile.TarInfo(name)
    ti.mtime = 0
    ti.mode = mode
    if link is not None:
        ti.type = tarfile.SYMTYPE
        ti.linkname = link
        t.addfile(ti)
    elif data is None:
        ti.type = tarfile.DIRTYPE
        t.addfile(ti)
    else:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))


b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
    for d in ("bin", "etc", "root", "dev", "proc", "sys", "run", "w"):
        add(t, d)
    add(t, "tmp", mode=0o1777)
    add(t, "bin/busybox", open("/bin/busybox", "rb").read())
    for a in applets:
        add(t, "bin/" + a, link="busybox")
    add(t, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    add(t, "w/index.html", b"hello-srv\n", 0o644)
raw = b.getvalue()
diff = "sha256:" + hashlib.sha256(raw).hexdigest()
ld, ln = put(gzip.compress(raw, 6, mtime=0))
config = {"Env": ["PATH=/bin"], "Cmd": ["sh"]}
config.update(extra)
cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
       "config": config, "rootfs": {"type": "layers", "diff_ids": [diff]}}
cd, cn = put(json.dumps(cfg).encode())
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ln}]}
md, mn = put(json.dumps(m).encode())
index = {"schemaVersion": 2, "manifests": [{"mediaType": m["mediaType"], "digest": md, "size": mn,
         "annotations": {"org.opencontainers.image.ref.name": ref}}]}
with tarfile.open(out, "w") as t:
    for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                       ("index.json", json.dumps(index).encode())] + \
            [("blobs/sha256/" + d, v) for d, v in blobs.items()]:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mtime = 0
        t.addfile(ti, io.BytesIO(data))
