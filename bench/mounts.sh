#!/bin/bash
# Data paths, measured from inside one guest in one run: sequential write
# and read of a BENCH_MOUNT_MB (256) MiB file and creating/reading 2,000
# small files through (a) a -v 9p share, (b) a named volume, (c) a
# read-only input disk (reads only) and (d) the container's own root disk;
# each printed as a ratio to (d). The guest's page cache is dropped before
# every read, so reads come through the device (the host's cache stays, as
# it would in use). Times come from the guest's /proc/uptime (10 ms).
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
mb=${BENCH_MOUNT_MB:-256}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/run.sh"
for t in docker-registry qemu-system-x86_64 python3; do
	command -v $t >/dev/null || { echo "mounts bench: SKIP ($t not installed)"; exit 0; }
done
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "mounts bench: SKIP (shares need ucrt's kernel: make kernel)"; exit 0; }
tmp=$(mktemp -d /tmp/ucrt-bench-mounts.XXXXXX)
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "mounts bench: SKIP (registry setup failed)"; exit 0; }
U() { "$UCRT_BIN" --root "$tmp/root" "$@"; }

# The input disk: the same file and small files, made by ucrt itself.
mkdir -p "$tmp/in/s" "$tmp/share"
head -c $((mb << 20)) /dev/urandom >"$tmp/in/big"
for i in $(seq 2000); do echo "$i" >"$tmp/in/s/$i"; done
tar -C "$tmp/in" -cf "$tmp/in.tar" big s
U rootfs build --no-fsync -o "$tmp/in.ext4" "$tmp/in.tar" >/dev/null 2>&1 ||
	{ echo "mounts bench: SKIP (input disk build failed)"; exit 0; }
U volume create --size $((mb * 3))M benchvol >/dev/null

cat >"$tmp/share/bench.sh" <<'SH'
bb=/bin/busybox
now() { read u _ </proc/uptime; echo "$u"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
for d in "$@"; do
	kind=${d%%=*}; dir=${d#*=}
	if [ "$kind" = disk ]; then w=-; else
		mkdir -p $dir; t0=$(now); dd if=/dev/zero of=$dir/big bs=1M count=$MB conv=fsync 2>/dev/null; t1=$(now)
		w=$(echo "$t1 $t0" | $bb awk '{print $1-$2}')
	fi
	drop; t0=$(now); dd if=$dir/big of=/dev/null bs=1M 2>/dev/null; t1=$(now)
	r=$(echo "$t1 $t0" | $bb awk '{print $1-$2}')
	if [ "$kind" = disk ]; then c=-; else
		mkdir -p $dir/s; t0=$(now); i=0
		while [ $i -lt 2000 ]; do echo $i >$dir/s/$i; i=$((i + 1)); done; sync; t1=$(now)
		c=$(echo "$t1 $t0" | $bb awk '{print $1-$2}')
	fi
	drop; t0=$(now); cat $dir/s/* >/dev/null; t1=$(now)
	s=$(echo "$t1 $t0" | $bb awk '{print $1-$2}')
	echo "$kind $w $r $c $s"
done
SH
U run --rm --memory 512M -e MB=$mb -v "$tmp/share:/bench" -v benchvol:/vol \
	--mount "type=disk,src=$tmp/in.ext4,dst=/in" "$IMG" \
	sh /bench/bench.sh root=/root/b 9p=/bench/data volume=/vol/b disk=/in >"$tmp/out" 2>"$tmp/err" ||
	{ echo "mounts bench: FAILED"; sed 's/^/    /' "$tmp/err" | tail -5; exit 1; }
python3 - "$tmp/out" "$mb" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5:
        rows[f[0]] = [None if x == "-" else float(x) for x in f[1:]]
mb = int(sys.argv[2])
base = rows["root"]
names = [f"seq write {mb} MiB", f"seq read {mb} MiB", "create 2000 files", "read 2000 files"]
print("mounts: 9p msize=512KiB cache=mmap (coherent with the host, mmap works), mapped-xattr; "
      "times in the guest, ratio to its root disk")
for i, n in enumerate(names):
    cells = []
    for k in ("root", "9p", "volume", "disk"):
        v = rows.get(k, [None] * 4)[i]
        if v is None:
            cells.append(f"{k} -")
        elif k == "root":
            cells.append(f"root {v:.2f}s")
        else:
            cells.append(f"{k} {v:.2f}s ({v / base[i]:.2f}x)" if base[i] else f"{k} {v:.2f}s")
    print(f"  {n:<20} " + " | ".join(cells))
PY
