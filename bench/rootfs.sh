#!/bin/bash
# rootfs build benchmark: a debootstrap'ed Debian rootfs as one gzip layer
# (and as zstd), ucrt rootfs build vs igzip -dc (the inflate floor) vs
# tar x + mke2fs -d (the e2fsprogs route), all in the same run.
# The rootfs is cached under build/bench-cache (debootstrap needs the Debian
# mirror apt uses; BENCH_MIRROR overrides).
set -eu
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
cache=$UCRT_SRC/build/bench-cache
runs=${BENCH_RUNS:-3}
for t in igzip debootstrap mke2fs zstd; do
	command -v $t >/dev/null || { echo "rootfs bench: SKIP ($t not installed)"; exit 0; }
done
mkdir -p "$cache"

mirror() {
	[ -n "${BENCH_MIRROR:-}" ] && { echo "$BENCH_MIRROR"; return; }
	# deb822 sources (URIs:) or one-line sources (deb URL suite ...)
	local u
	u=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '{print $2}' | grep -v security | head -n1)
	[ -z "$u" ] && u=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '{print $2}' | grep -i debian | grep -v security | head -n1)
	echo "${u:-http://deb.debian.org/debian}"
}

if [ ! -f "$cache/debian.tar.gz" ]; then
	if [ ! -d "$cache/rootfs" ]; then
		[ "$(id -u)" = 0 ] || { echo "rootfs bench: SKIP (debootstrap needs root)"; exit 0; }
		rm -rf "$cache/rootfs.tmp"
		debootstrap --variant=minbase bookworm "$cache/rootfs.tmp" "$(mirror)" >"$cache/debootstrap.log" 2>&1 ||
			{ echo "rootfs bench: SKIP (debootstrap failed, see $cache/debootstrap.log)"; exit 0; }
		mv "$cache/rootfs.tmp" "$cache/rootfs"
	fi
	tar --numeric-owner --xattrs -C "$cache/rootfs" -cf "$cache/debian.tar" .
	igzip -c "$cache/debian.tar" >"$cache/debian.tar.gz.tmp" 2>/dev/null ||
		gzip -6 -c "$cache/debian.tar" >"$cache/debian.tar.gz.tmp"
	mv "$cache/debian.tar.gz.tmp" "$cache/debian.tar.gz"
	zstd -q -3 -f "$cache/debian.tar" -o "$cache/debian.tar.zst"
	rm -f "$cache/debian.tar"
fi
[ -f "$cache/debian.tar.zst" ] || igzip -dc "$cache/debian.tar.gz" | zstd -q -3 -o "$cache/debian.tar.zst"

work=$(mktemp -d "${TMPDIR:-/tmp}/ucrt-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# best of $runs wall-clock seconds of a command. Images of earlier runs are
# removed first, outside the timing: deleting a 250 MiB file (with discard)
# is not part of a build.
best() {
	local b=999999 s e t
	for _ in $(seq "$runs"); do
		rm -f "$work"/*.ext4
		s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; return 1; }
		e=$(date +%s.%N)
		b=$(awk -v s="$s" -v e="$e" -v b="$b" 'BEGIN { t = e - s; printf "%.3f", (t < b ? t : b) }')
	done
	echo "$b"
}

gz=$cache/debian.tar.gz
files=$(igzip -dc "$gz" | tar t | wc -l)
printf 'layer: %s (%s MiB gzip, %s MiB tar, %s entries)\n' "$gz" \
	$(( $(stat -c %s "$gz") >> 20 )) $(( $(igzip -dc "$gz" | wc -c) >> 20 )) "$files"

t_igzip=$(best sh -c "igzip -dc '$gz' >/dev/null")
t_ucrt=$(best "$UCRT_BIN" rootfs build --no-fsync -o "$work/u.ext4" "$gz")
t_ucrt_sync=$(best "$UCRT_BIN" rootfs build -o "$work/u.ext4" "$gz")
t_zstd=$(best sh -c "zstd -dc '$cache/debian.tar.zst' >/dev/null")
t_ucrt_zst=$(best "$UCRT_BIN" rootfs build --no-fsync -o "$work/z.ext4" "$cache/debian.tar.zst")
"$UCRT_BIN" rootfs build --no-fsync -o "$work/u.ext4" "$gz" >/dev/null 2>&1
size=$(( $(stat -c %s "$work/u.ext4") ))
e2fsck -fn "$work/u.ext4" >/dev/null 2>&1 && fsck=clean || fsck=ERRORS
mv "$work/u.ext4" "$work/u.img"
e2fs() {
	rm -rf "$work/x"; mkdir "$work/x"
	igzip -dc "$gz" | tar --numeric-owner -C "$work/x" -xf - &&
		mke2fs -q -t ext4 -d "$work/x" "$work/m.ext4" "$((size >> 10))k"
}
t_e2fs=$(best e2fs)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-38s %8s s\n' "igzip -dc (inflate floor)" "$t_igzip" \
	"ucrt rootfs build (gzip, no fsync)" "$t_ucrt" \
	"ucrt rootfs build (gzip, fsync)" "$t_ucrt_sync" \
	"zstd -dc" "$t_zstd" \
	"ucrt rootfs build (zstd, no fsync)" "$t_ucrt_zst" \
	"igzip -dc | tar x + mke2fs -d" "$t_e2fs"
echo "ratio ucrt/igzip:        $(ratio "$t_ucrt" "$t_igzip")  (target <= 1.30)"
echo "ratio ucrt(fsync)/igzip: $(ratio "$t_ucrt_sync" "$t_igzip")"
echo "ratio ucrt-zstd/zstd:    $(ratio "$t_ucrt_zst" "$t_zstd")"
echo "ratio ucrt/tar+mke2fs:   $(ratio "$t_ucrt" "$t_e2fs")"
echo "image e2fsck -fn: $fsck"
