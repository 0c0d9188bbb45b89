#!/usr/bin/env python3
"""Layer fixtures, a reference layer applier and a tree comparer for the
rootfs tests (tests/integration/rootfs-*.sh).

  layers.py gen DIR            write fixture sets DIR/<name>/{1,2,3}.tar[.gz|.zst]
                               and DIR/<name>/layers (the ordered list)
  layers.py compare MNT L...   apply layers L... with the reference applier
                               (in memory) and compare with the tree at MNT

The reference follows docs/rootfs.md: lexical normalisation clamped at the
root, symlinks in parents resolved inside the image, implicit parents 0755
root with the entry's mtime (whole seconds), OCI whiteouts that only hide
lower layers, directory over directory merges, anything else replaces."""
import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile

T0 = 1700000000


# ---------------------------------------------------------------- fixtures

def ti(name, typ=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, mtime=T0, ns=0, **kw):
    t = tarfile.TarInfo(name)
    t.type, t.mode, t.uid, t.gid = typ, mode, uid, gid
    t.mtime = mtime
    if ns:
        t.pax_headers["mtime"] = "%d.%09d" % (mtime, ns)
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def add(tf, t, data=b""):
    if t.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
        t.size = len(data)
        tf.addfile(t, io.BytesIO(data))
    else:
        tf.addfile(t)


def write_layer(path, members, comp):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            add(tf, *m) if isinstance(m, tuple) else add(tf, m)
    raw = buf.getvalue()
    if comp == "gz":
        import gzip
        raw = gzip.compress(raw, 6)
        path += ".gz"
    elif comp == "zst":
        raw = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE,
                             check=True).stdout
        path += ".zst"
    with open(path, "wb") as f:
        f.write(raw)
    return os.path.basename(path)


def cap_bind():
    # vfs_cap_data v2: cap_net_bind_service permitted+effective
    return (b"\x01\x00\x00\x02" + (1 << 10).to_bytes(4, "little") + b"\0" * 12)


def xattr(t, name, value):
    t.pax_headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return t


def fx_types():
    long = "d" * 120 + "/" + "n" * 200
    l1 = [
        ti("./", tarfile.DIRTYPE, 0o755, mtime=T0 + 1),
        ti("etc/", tarfile.DIRTYPE, 0o755),
        (ti("etc/hostname", ns=123456789), b"fixture\n"),
        (ti("empty"), b""),
        (ti("bin/suid", mode=0o4755, uid=70000, gid=70001), b"#!/bin/sh\n"),
        (ti("bin/sgid", mode=0o2711), b"x" * 5000),
        ti("tmp/", tarfile.DIRTYPE, 0o1777),
        (xattr(xattr(ti("bin/ping", mode=0o755), "security.capability", cap_bind()),
               "user.note", b"hello"), b"\x7fELF" + os.urandom(70000)),
        ti("fastlink", tarfile.SYMTYPE, 0o777, linkname="etc/hostname"),
        ti("slowlink", tarfile.SYMTYPE, 0o777, linkname="/" + "x/" * 60 + "target"),
        ti("hard", tarfile.LNKTYPE, linkname="etc/hostname"),
        ti("dev/null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3),
        ti("dev/bigdev", tarfile.BLKTYPE, 0o660, devmajor=259, devminor=70000),
        ti("run/fifo", tarfile.FIFOTYPE, 0o600),
        (ti(long, mtime=T0 + 5, ns=5), os.urandom(9000)),
        ti("deep/a/b/c/d/", tarfile.DIRTYPE, 0o700, uid=1000, gid=1000),
        (ti("big", mode=0o600), os.urandom(3 << 20) + b"tail"),
        (ti("zeros"), b"\0" * (1 << 20)),
    ]
    return [l1]


def fx_whiteouts():
    l1 = [
        ti("a/", tarfile.DIRTYPE), (ti("a/keep"), b"keep"), (ti("a/gone"), b"gone"),
        ti("a/tree/", tarfile.DIRTYPE), (ti("a/tree/x"), b"x"), ti("a/tree/sub/", tarfile.DIRTYPE),
        (ti("a/tree/sub/y"), b"y"),
        ti("opq/", tarfile.DIRTYPE), (ti("opq/old1"), b"1"), ti("opq/olddir/", tarfile.DIRTYPE),
        (ti("opq/olddir/f"), b"f"),
        (ti("f2d"), b"file becomes dir"), ti("d2f/", tarfile.DIRTYPE), (ti("d2f/inner"), b"i"),
        (ti("lib/libc.so", mode=0o755), b"libc" * 1000),
        ti("lib/hl1", tarfile.LNKTYPE, linkname="lib/libc.so"),
        (ti("grp/a"), b"group"), ti("grp/b", tarfile.LNKTYPE, linkname="grp/a"),
        ti("grp/c", tarfile.LNKTYPE, linkname="grp/a"),
        ti("usr/", tarfile.DIRTYPE), ti("usr/bin/", tarfile.DIRTYPE),
        ti("bin", tarfile.SYMTYPE, 0o777, linkname="usr/bin"),
    ]
    l2 = [
        ti("a/.wh.gone"), ti("a/.wh.tree"), ti("a/.wh.neverthere"),
        ti("opq/", tarfile.DIRTYPE, 0o750, mtime=T0 + 2),
        ti("opq/.wh..wh..opq"), (ti("opq/new"), b"new"),
        ti("f2d/", tarfile.DIRTYPE), (ti("f2d/child"), b"c"),
        (ti("d2f", mtime=T0 + 3), b"dir became file"),
        ti("lib/hl2", tarfile.LNKTYPE, linkname="lib/libc.so"),   # link to lower layer
        ti("grp/.wh.a"),
        (ti("bin/tool", mode=0o755), b"through the usr-merge symlink"),
        (ti("same/x"), b"same layer"), ti("same/.wh.x"),          # own-layer whiteout: ignored
        ti("implicit/parent/file", mtime=T0 + 7),
    ]
    l3 = [
        ti("grp/.wh.b"),
        ti("lib/.wh.libc.so"),
        ti("a/.wh.keep"), (ti("a/tree/again"), b"recreated"),
        ti("opq/.wh.new"),
        (ti("f2d"), b"file again"),
    ]
    return [l1, l2, l3]


def fx_hostile():
    l1 = [
        (ti("../../../../escape"), b"stays inside"),
        (ti("/abs/path"), b"absolute"),
        (ti("./a/./b/../c"), b"dots"),
        ti("evil", tarfile.SYMTYPE, 0o777, linkname="/../../../../tmp"),
        ti("evil2", tarfile.SYMTYPE, 0o777, linkname="../../.."),
        (ti("evil/pwned"), b"resolved inside the image"),
        (ti("evil2/pwned2"), b"resolved at the image root"),
    ]
    return [l1]


ERROR_FIXTURES = {
    # name: (layers, extra args, expected stderr substring)
    "err-hardlink-missing": ([[ti("l", tarfile.LNKTYPE, linkname="nope")]], [],
                             "entry l: hardlink target does not exist"),
    "err-hardlink-escape": ([[ti("l", tarfile.LNKTYPE, linkname="../../../etc/passwd")]], [],
                            "hardlink target does not exist"),
    "err-hardlink-dir": ([[ti("d/", tarfile.DIRTYPE), ti("l", tarfile.LNKTYPE, linkname="d")]], [],
                         "hardlink target is a directory"),
    "err-entry-size": ([[(ti("huge"), b"z" * (2 << 20))]], ["--max-entry-size", "1M"],
                       "entry huge: file larger than the entry size limit"),
    "err-notdir": ([[(ti("f"), b"x"), (ti("f/g"), b"y")]], [], "entry f/g: a parent is not a directory"),
    "err-loop": ([[ti("l1", tarfile.SYMTYPE, linkname="l2"), ti("l2", tarfile.SYMTYPE, linkname="l1"),
                   (ti("l1/x"), b"x")]], [], "too many symlinks"),
}


def fx_sparse(d):
    """GNU tar writes the sparse layer (Python's tarfile cannot)."""
    src = os.path.join(d, "src")
    os.makedirs(src, exist_ok=True)
    p = os.path.join(src, "sparse")
    with open(p, "wb") as f:
        f.truncate(64 << 20)
        for off in (0, 5 << 20, (20 << 20) + 123, (64 << 20) - 3):
            f.seek(off)
            f.write(b"data@%d" % off if off < (64 << 20) - 3 else b"end")
    os.utime(p, ns=(T0 * 10**9, T0 * 10**9))
    os.utime(src, ns=(T0 * 10**9, T0 * 10**9))
    subprocess.run(["tar", "--sparse", "--format=pax", "--owner=0", "--group=0",
                    "-C", src, "-cf", os.path.join(d, "1.tar"), "."], check=True)
    subprocess.run(["rm", "-rf", src], check=True)
    return ["1.tar"]


def gen(outdir):
    sets = {"types": (fx_types(), ["gz"]), "types-zst": (fx_types(), ["zst"]),
            "types-plain": (fx_types(), [""]), "whiteouts": (fx_whiteouts(), ["gz", "zst", ""]),
            "hostile": (fx_hostile(), ["gz"])}
    for name, (layers, comps) in sets.items():
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        names = [write_layer(os.path.join(d, "%d.tar" % (i + 1)), l, comps[i % len(comps)])
                 for i, l in enumerate(layers)]
        open(os.path.join(d, "layers"), "w").write("\n".join(names) + "\n")
    d = os.path.join(outdir, "sparse")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "layers"), "w").write("\n".join(fx_sparse(d)) + "\n")
    for name, (layers, args, msg) in ERROR_FIXTURES.items():
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        names = [write_layer(os.path.join(d, "%d.tar" % (i + 1)), l, "gz") for i, l in enumerate(layers)]
        open(os.path.join(d, "layers"), "w").write("\n".join(names) + "\n")
        open(os.path.join(d, "args"), "w").write(" ".join(args) + "\n")
        open(os.path.join(d, "expect"), "w").write(msg + "\n")
    # decompression bomb: 200 MiB of zeros, gzip ratio ~1000
    d = os.path.join(outdir, "err-bomb")
    os.makedirs(d, exist_ok=True)
    import gzip
    with gzip.open(os.path.join(d, "1.tar.gz"), "wb", 9) as g:
        with tarfile.open(fileobj=g, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            t = ti("bomb")
            t.size = 200 << 20
            tf.addfile(t, ZeroReader(t.size))
    open(os.path.join(d, "layers"), "w").write("1.tar.gz\n")
    open(os.path.join(d, "args"), "w").write("--max-ratio 100 --size 512M\n")
    open(os.path.join(d, "expect"), "w").write("decompression bomb\n")


class ZeroReader:
    def __init__(self, n):
        self.n = n

    def read(self, k=-1):
        k = self.n if k < 0 else min(k, self.n)
        self.n -= k
        return b"\0" * k


# ------------------------------------------------------- reference applier

class Inode:
    def __init__(self, kind, mode=0o755, uid=0, gid=0, mtime_ns=0):
        self.kind, self.mode, self.uid, self.gid, self.mtime_ns = kind, mode, uid, gid, mtime_ns
        self.xattrs, self.data, self.target, self.rdev = {}, b"", None, (0, 0)
        self.children = {} if kind == "dir" else None


def norm(name):
    out = []
    for c in name.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if out:
                out.pop()
            continue
        out.append(c)
    return out


class Ref:
    def __init__(self):
        self.root = Inode("dir")
        self.touched, self.fresh = set(), set()

    def walk(self, comps, follow_last, create_mtime=None, depth=0):
        """chroot-like resolution; returns the inode or raises OSError."""
        stack = [self.root]
        comps = list(comps)
        links = 0
        while comps:
            c = comps.pop(0)
            if c == ".":
                continue
            if c == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            d = stack[-1]
            n = d.children.get(c)
            if n is None:
                if create_mtime is None:
                    raise FileNotFoundError(c)
                n = Inode("dir", 0o755, 0, 0, create_mtime * 10**9)
                d.children[c] = n
                self.fresh.add(id(n))
            if n.kind == "lnk" and (comps or follow_last):
                links += 1
                if links > 40:
                    raise OSError("loop")
                if n.target.startswith("/"):
                    stack = [self.root]
                comps = [x for x in n.target.split("/") if x] + comps
                continue
            if comps and n.kind != "dir":
                raise NotADirectoryError(c)
            stack.append(n)
        return stack[-1]

    def apply(self, tf):
        self.touched, self.fresh = set(), set()
        for m in tf:
            self.entry(tf, m)

    def clear_opaque(self, d):
        for name in list(d.children):
            n = d.children[name]
            if (id(d), name) not in self.touched:
                del d.children[name]
            elif n.kind == "dir" and id(n) not in self.fresh:
                self.clear_opaque(n)

    def entry(self, tf, m):
        comps = norm(m.name)
        mtime_ns = int(m.mtime) * 10**9
        if "mtime" in m.pax_headers:
            s, _, f = m.pax_headers["mtime"].partition(".")
            mtime_ns = int(s) * 10**9 + int((f + "000000000")[:9])
        if not comps:
            self.meta(self.root, m, mtime_ns)
            return
        base, dcomps = comps[-1], comps[:-1]
        if base.startswith(".wh."):
            if base == ".wh..wh..opq":
                self.clear_opaque(self.walk(dcomps, True, int(m.mtime)))
            elif not base.startswith(".wh..wh."):
                try:
                    d = self.walk(dcomps, True)
                except OSError:
                    return
                name = base[4:]
                if name in d.children and (id(d), name) not in self.touched:
                    del d.children[name]
            return
        d = self.walk(dcomps, True, int(m.mtime))
        if m.islnk():
            t = self.walk(norm(m.linkname), False)
            d.children[base] = t
        else:
            kind = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "lnk", tarfile.CHRTYPE: "chr",
                    tarfile.BLKTYPE: "blk", tarfile.FIFOTYPE: "fifo"}.get(m.type, "reg")
            old = d.children.get(base)
            if old is not None and old.kind == "dir" and kind == "dir":
                n = old
            else:
                n = Inode(kind)
                d.children[base] = n
                if kind == "dir":
                    self.fresh.add(id(n))
            self.meta(n, m, mtime_ns)
            if kind == "reg":
                n.data = tf.extractfile(m).read()
            elif kind == "lnk":
                n.target = m.linkname
            elif kind in ("chr", "blk"):
                n.rdev = (m.devmajor, m.devminor)
        self.touched.add((id(d), base))

    def meta(self, n, m, mtime_ns):
        n.mode, n.uid, n.gid, n.mtime_ns = m.mode & 0o7777, m.uid, m.gid, mtime_ns
        n.xattrs = {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape")
                    for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}

    def flatten(self):
        out, ids = {}, {}

        def rec(d, prefix):
            for name, n in d.children.items():
                p = prefix + "/" + name
                out[p] = desc(n.kind, n.mode, n.uid, n.gid, n.mtime_ns, n.xattrs,
                              n.target, hashlib.sha256(n.data).hexdigest() if n.kind == "reg" else None,
                              n.rdev if n.kind in ("chr", "blk") else None)
                ids.setdefault(id(n), []).append(p)
                if n.kind == "dir":
                    rec(n, p)
        out["/"] = desc("dir", self.root.mode, self.root.uid, self.root.gid, self.root.mtime_ns,
                        self.root.xattrs, None, None, None)
        rec(self.root, "")
        return out, sorted(sorted(v) for v in ids.values() if len(v) > 1)


def desc(kind, mode, uid, gid, mtime_ns, xattrs, target, sha, rdev):
    return dict(kind=kind, mode=oct(mode), uid=uid, gid=gid, mtime_ns=mtime_ns,
                xattrs={k: v.hex() for k, v in sorted(xattrs.items())}, target=target, sha=sha,
                rdev=rdev)


def open_layer(path):
    if path.endswith(".zst"):
        raw = subprocess.run(["zstd", "-dc", path], stdout=subprocess.PIPE, check=True).stdout
        return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    return tarfile.open(path, mode="r:*")


# ------------------------------------------------------ reading the image

def scan(mnt):
    out, ids = {}, {}
    kinds = {stat.S_IFDIR: "dir", stat.S_IFREG: "reg", stat.S_IFLNK: "lnk", stat.S_IFCHR: "chr",
             stat.S_IFBLK: "blk", stat.S_IFIFO: "fifo"}
    for dirpath, dirnames, filenames in os.walk(mnt):
        if dirpath == mnt and "lost+found" in dirnames:
            dirnames.remove("lost+found")
        for name in [None] + dirnames + filenames:
            p = dirpath if name is None else os.path.join(dirpath, name)
            if name is None and dirpath != mnt:
                continue
            st = os.lstat(p)
            kind = kinds[stat.S_IFMT(st.st_mode)]
            xa = {k: os.getxattr(p, k, follow_symlinks=False)
                  for k in os.listxattr(p, follow_symlinks=False)}
            sha = None
            if kind == "reg":
                with open(p, "rb") as f:
                    sha = hashlib.sha256(f.read()).hexdigest()
            rel = "/" + os.path.relpath(p, mnt) if p != mnt else "/"
            out[rel] = desc(kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, xa,
                            os.readlink(p) if kind == "lnk" else None, sha,
                            (os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in ("chr", "blk") else None)
            if kind != "dir":
                ids.setdefault(st.st_ino, []).append(rel)
    return out, sorted(sorted(v) for v in ids.values() if len(v) > 1)


def compare(mnt, layers):
    ref = Ref()
    for l in layers:
        with open_layer(l) as tf:
            ref.apply(tf)
    want, want_links = ref.flatten()
    got, got_links = scan(mnt)
    bad = 0
    for p in sorted(set(want) | set(got)):
        if want.get(p) != got.get(p):
            bad += 1
            print("# DIFF %s\n#   want %s\n#   got  %s" % (p, want.get(p), got.get(p)))
    if want_links != got_links:
        bad += 1
        print("# DIFF hardlink groups\n#   want %s\n#   got  %s" % (want_links, got_links))
    print("# compared %d paths, %d hardlink groups, %d differences" % (len(want), len(want_links), bad))
    return bad


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif sys.argv[1] == "compare":
        sys.exit(1 if compare(sys.argv[2], sys.argv[3:]) else 0)
    else:
        sys.exit("usage: layers.py gen DIR | compare MNT LAYER...")
