#!/bin/bash
# ucrt rootfs build on large and sparse files: dense files past 600 MB and
# across 2^31 bytes, sparse files with data across 2^31 and 2^32 bytes and in
# the last block below ext4's 2^32-block limit, and a file whose extent tree
# has two levels of index. Each image passes e2fsck -fn (which checks
# i_blocks against the extent tree) and every byte is read back through
# debugfs's extent map (tests/lib/ext4check.py). TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
for t in python3 e2fsck debugfs tar gzip; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 0; }
done
[ -x "$UCRT_BIN" ] || { echo "1..0 # SKIP $UCRT_BIN not built"; exit 0; }

tmp=$(mktemp -d /tmp/ucrt-rootfs-large.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chk() { python3 "$UCRT_SRC/tests/lib/ext4check.py" "$@"; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
t() { local what=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$what"; sed 's/^/# /' "$tmp/out"
	else nok "$what"; sed 's/^/# /' "$tmp/out"; fi; }

# 1: the reported case: 800 MB of zeros, one gzip layer. Its extent tree
# needs an index block, and the extents added below it were not counted in
# i_blocks (e2fsck: "i_blocks is 1272296, should be 1638408").
mkdir -p "$tmp/a"
truncate -s 800M "$tmp/a/z"
tar --format=pax --owner=0 --group=0 -C "$tmp/a" -cf - z | gzip -1 >"$tmp/a.tgz"
t "800 MB of zeros: build" "$UCRT_BIN" rootfs build --no-fsync -o "$tmp/a.ext4" "$tmp/a.tgz"
t "800 MB of zeros: e2fsck -fn clean" e2fsck -fn "$tmp/a.ext4"
t "800 MB of zeros: bytes read back" chk compare "$tmp/a.ext4" /z "$tmp/a/z"
rm -rf "$tmp/a" "$tmp/a.tgz" "$tmp/a.ext4"

# 2: one plain layer with a dense file across 2^31 bytes, a sparse file of
# the largest size ext4 allows with data around 2^31, 2^32 and in its last
# block, and a sparse file of 2000 separate extents (more than the 4 x 340
# a one-level tree holds).
mkdir -p "$tmp/b"
max=$(((2 ** 32 - 1) * 4096))
many=()
for i in $(seq 0 1999); do many+=("$((i * 12288)):4096"); done
chk mkfile "$tmp/b/dense" $((2 ** 31 + 4097)) &&
	chk mkfile "$tmp/b/sparse" $max 0:4096 $((2 ** 31 - 4096)):8192 $((2 ** 32)):12288 $((max - 4096)):4096 &&
	chk mkfile "$tmp/b/deep" $((2000 * 12288)) "${many[@]}" &&
	tar --sparse --format=pax --owner=0 --group=0 -C "$tmp/b" -cf "$tmp/b.tar" dense sparse deep ||
	{ echo "1..0 # SKIP fixture generation failed"; exit 0; }
t "large and sparse files: build" "$UCRT_BIN" rootfs build --no-fsync --max-entry-size 16T \
	-o "$tmp/b.ext4" "$tmp/b.tar"
t "large and sparse files: e2fsck -fn clean" e2fsck -fn "$tmp/b.ext4"
t "dense file across 2^31 bytes: bytes read back" chk compare "$tmp/b.ext4" /dense "$tmp/b/dense"
t "sparse file to the 2^32-block limit: bytes read back" chk compare "$tmp/b.ext4" /sparse "$tmp/b/sparse"
t "2000-extent file: bytes read back" chk compare "$tmp/b.ext4" /deep "$tmp/b/deep"
if grep -q "depth 2" "$tmp/out"; then ok "2000-extent file has a two-level index"
else nok "2000-extent file has a two-level index"; fi
echo "1..$n"
