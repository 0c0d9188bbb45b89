#!/bin/bash
# `ucrt system check [--repair]` against damage made by hand: a blob whose
# bytes changed, an index that does not parse, a disk e2fsck refuses,
# leftovers of dead writers (ingest partial, blob and disk temp files, a
# build's lock file), a half-created container directory, a detached
# container whose supervisor was killed -9. Each is reported (exit 1),
# --repair fixes it (exit 0), a second check is clean, and the image can
# be pulled and run again. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
command -v e2fsck >/dev/null || { echo "1..0 # SKIP e2fsck not installed"; exit 0; }
trap 'U rm -f victim >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
S=$tmp/root

# check WANT_RC PATTERN...: system check exits WANT_RC and prints each pattern.
check() {
	local want=$1 desc=$2; shift 2
	U system check >"$tmp/out" 2>"$tmp/err"
	local rc=$? bad=
	[ "$rc" = "$want" ] || bad="exit $rc, want $want"
	while [ $# -gt 0 ]; do
		grep -q -- "$1" "$tmp/out" || bad="$bad; no /$1/"
		shift
	done
	if [ -z "$bad" ]; then ok "$desc"; else nok "$desc: $bad"; sed 's/^/# /' "$tmp/out" | tail -8; fi
}
repair() { U system check --repair >"$tmp/out" 2>"$tmp/err"; }

U system check --help >"$tmp/out" 2>&1 && grep -q "Usage: ucrt system check" "$tmp/out" && [ ! -d "$S" ] &&
	ok "--help prints usage and touches nothing" || nok "--help"
U image pull -q "$IMG" >/dev/null 2>"$tmp/err" || nok "pull"
check 0 "a fresh store is clean" "checked 3 blobs, 1 images, 1 disks" "no problem"

layer=$(ls -S "$S/blobs/sha256" | head -1)
disk=$(ls "$S/rootfs" | grep '\.ext4$')
printf 'XXXX' | dd of="$S/blobs/sha256/$layer" bs=1 seek=200 conv=notrunc 2>/dev/null
check 1 "a changed blob is found" "PROBLEM  blob sha256:$layer: content hashes to sha256:"
repair
grep -q "repaired blob sha256:$layer: .*moved to quarantine/" "$tmp/out" && [ -f "$S/quarantine/$layer".* ] &&
	ok "--repair quarantines it" || nok "blob not quarantined: $(cat "$tmp/out")"
grep -q "repaired image $IMG: blob missing: sha256:$layer: name removed" "$tmp/out" &&
	ok "--repair drops the name that needed it" || nok "name kept: $(cat "$tmp/out")"
check 0 "clean after repair" "no problem"
U image pull -q "$IMG" >/dev/null 2>"$tmp/err" && [ -f "$S/blobs/sha256/$layer" ] &&
	ok "pull again restores the blob" || nok "pull after repair"

# A disk e2fsck refuses: its superblock magic zeroed.
printf '\0\0' | dd of="$S/rootfs/$disk" bs=1 seek=$((1024 + 56)) conv=notrunc 2>/dev/null
check 1 "a damaged disk is found" "PROBLEM  rootfs/$disk: e2fsck -fn found errors"
repair
[ ! -e "$S/rootfs/$disk" ] && ok "--repair removes the bad disk" || nok "disk kept"

# Leftovers of dead writers.
hex=$(printf '%064d' 7)
head -c 5000 /dev/urandom >"$S/ingest/$hex"
echo x >"$S/blobs/sha256/$hex.tmp.99999"
echo x >"$S/rootfs/$hex.ext4.tmp-99999"
: >"$S/rootfs/$hex.lock"
check 1 "leftovers of dead processes are found" "PROBLEM  ingest/$hex: partial download of 5000 bytes" \
	"PROBLEM  blob $hex.tmp.99999: temp file" "PROBLEM  rootfs/$hex.ext4.tmp-99999: temp disk" \
	"PROBLEM  rootfs/$hex.lock: lock file"
repair
[ -z "$(ls "$S/ingest")" ] && [ ! -e "$S/blobs/sha256/$hex.tmp.99999" ] && [ ! -e "$S/rootfs/$hex.lock" ] &&
	[ ! -e "$S/rootfs/$hex.ext4.tmp-99999" ] && ok "--repair removes them" || nok "leftovers kept"

# An index that does not parse.
cp "$S/images/index.json" "$tmp/index.good"
echo '{"not": [an index' >"$S/images/index.json"
check 1 "a corrupt name index is found" "PROBLEM  images/index.json"
repair
ls "$S/quarantine/" | grep -q '^index.json\.' && ok "--repair moves the index to quarantine/" || nok "index not moved"
check 0 "clean after the index repair" "checked .* 0 images"

# Containers: a half-created directory (older than a minute), a detached
# container whose supervisor died.
U image pull -q "$IMG" >/dev/null 2>&1
cid=$(printf 'c%063d' 1)
mkdir -p "$S/containers/$cid" && touch -d '2 minutes ago' "$S/containers/$cid"
U run -d --name victim "$IMG" sleep 600 >"$tmp/id" 2>"$tmp/err" || nok "run -d"
sup=$(pgrep -f "root $S __supervise" | head -1)
[ -n "$sup" ] && kill -9 "$sup"
for _ in $(seq 600); do [ "$(t_qemu_count "$S/containers")" = 0 ] && break; sleep 0.1; done
check 1 "dead containers are found" "PROBLEM  container ${cid:0:12}: config.json missing" \
	"PROBLEM  container $(cut -c1-12 "$tmp/id"): recorded as running, but the ucrt that ran it (pid $sup) is gone"
repair
[ ! -d "$S/containers/$cid" ] && ok "--repair removes the half-created one" || nok "half-created kept"
U ps -a | grep victim | grep -qi dead && ok "--repair marks the other dead" || nok "victim: $(U ps -a | grep victim)"
check 0 "clean at the end" "no problem"
U run --rm "$IMG" echo again >"$tmp/out" 2>"$tmp/err" && grep -q again "$tmp/out" &&
	ok "run works after the repairs (disk rebuilt)" || nok "run after repairs"
echo "1..$n"
