#!/usr/bin/env python3
"""Large-file fixtures and a byte-exact check of one file inside an ext4
image, for tests/integration/rootfs-large.sh. The check reads the image
through debugfs's extent map, not through ucrt's code or a mount, so it
works without root and sees exactly what the kernel would.

  ext4check.py mkfile PATH SIZE [OFF:LEN ...]
      write PATH of SIZE bytes; with no ranges every byte is data, else only
      the given ranges hold data and the rest are holes. Every 4 KiB block
      of data starts with its own file offset, so a block written to the
      wrong place cannot compare equal.
  ext4check.py compare IMAGE NAME SOURCE
      compare file NAME in IMAGE with SOURCE: size, every data byte, zeros
      wherever one side has a hole; prints the extent tree depth and count.
"""
import os
import re
import struct
import subprocess
import sys

BS = 4096
CHUNK = 1 << 24


def block(off, filler):
    return struct.pack("<Q", off) + filler[8:]


def mkfile(path, size, ranges):
    filler = os.urandom(BS)
    with open(path, "wb") as f:
        f.truncate(size)
        for off, length in ranges or [(0, size)]:
            f.seek(off)
            end = off + length
            while off < end:
                n = min(CHUNK, end - off)
                buf = bytearray()
                for b in range(off, off + n, BS):
                    buf += block(b, filler)
                f.write(bytes(buf[:n]))
                off += n


def debugfs(image, cmd):
    r = subprocess.run(["debugfs", "-R", cmd, image], capture_output=True, text=True)
    if r.returncode:
        sys.exit("debugfs %s: %s" % (cmd, r.stderr))
    return r.stdout


def extents(image, name):
    """Leaf extents (lblk, pblk, len, initialised) and the tree depth."""
    out, depth = [], 0
    pat = re.compile(r"^\s*(\d+)/\s*(\d+)\s+\d+/\s*\d+\s+(\d+)\s*-\s*(\d+)\s+(\d+)\s*-\s*(\d+)\s+(\d+)\s*(\S*)")
    for line in debugfs(image, "ex " + name).splitlines():
        m = pat.match(line)
        if not m:
            continue
        lvl, depth = int(m.group(1)), int(m.group(2))
        if lvl == depth:
            out.append((int(m.group(3)), int(m.group(5)), int(m.group(7)), "Uninit" not in m.group(8)))
    return out, depth


def data_ranges(f):
    """(start, end) of the source's data, from SEEK_DATA/SEEK_HOLE."""
    size, off, out = os.fstat(f.fileno()).st_size, 0, []
    while off < size:
        try:
            start = os.lseek(f.fileno(), off, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(f.fileno(), start, os.SEEK_HOLE)
        out.append((start, end))
        off = end
    return out


def compare(image, name, source):
    st = debugfs(image, "stat " + name)
    m = re.search(r"Size: (\d+)", st)
    if not m:
        sys.exit("%s: no such file in %s" % (name, image))
    size = int(m.group(1))
    if size != os.path.getsize(source):
        sys.exit("%s: size %d, source %d" % (name, size, os.path.getsize(source)))
    ext, depth = extents(image, name)
    # Bytes each side holds, as (file offset, end, image offset or None).
    img_map = [(l * BS, (l + n) * BS, p * BS if init else None) for l, p, n, init in ext]
    checked = 0
    with open(source, "rb") as src, open(image, "rb") as im:
        want = data_ranges(src)
        # Every source data byte must be where the image maps it (or zero in
        # an image hole), and every mapped image byte outside source data
        # must be zero.
        cuts = sorted({0, size} | {a for r in want for a in r} | {min(a, size) for r in img_map for a in r[:2]})
        for a, b in zip(cuts, cuts[1:]):
            in_src = any(s <= a < e for s, e in want)
            mp = next((m for m in img_map if m[0] <= a < m[1]), None)
            off = a
            while off < b:
                n = min(CHUNK, b - off)
                if in_src:
                    src.seek(off)
                    s = src.read(n)
                else:
                    s = None
                if mp and mp[2] is not None:
                    im.seek(mp[2] + off - mp[0])
                    i = im.read(n)
                else:
                    i = None
                if s is not None or i is not None:
                    if (s if s is not None else bytes(n)) != (i if i is not None else bytes(n)):
                        sys.exit("%s: bytes differ in [%d, %d)" % (name, off, off + n))
                    checked += n
                off += n
    print("%s: %d bytes compared, %d extents, depth %d" % (name, checked, len(ext), depth))


def main(argv):
    if len(argv) >= 3 and argv[0] == "mkfile":
        ranges = [tuple(int(x) for x in r.split(":")) for r in argv[3:]]
        mkfile(argv[1], int(argv[2]), ranges)
    elif len(argv) == 4 and argv[0] == "compare":
        compare(argv[1], argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
