#!/bin/bash
# Several ucrt processes pulling into one store at the same time: the same
# image (every blob contended), and images sharing layers under different
# names (the name index updated by all). All succeed, each blob is stored
# once and verifies, nothing is left in ingest/, every name is recorded
# exactly once. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init conc
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; t_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }

# Every file in blobs/ is named by its content's digest and nothing else
# lies around (no temp files, no partials).
store_sound() {
	local f bad=0
	for f in "$tmp/store/blobs/sha256/"*; do
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "# bad blob $f"; bad=1; }
	done
	[ -z "$(ls -A "$tmp/store/ingest")" ] || { echo "# left in ingest/: $(ls "$tmp/store/ingest")"; bad=1; }
	return $bad
}
nblobs() { ls "$tmp/store/blobs/sha256" | wc -l; }
# Blobs of an OCI layout fixture: the ones a pull of its single platform stores.
fx_blobs() { ls "$1/blobs/sha256" | wc -l; }
count_name() { U image ls --format json | python3 -c 'import json,sys; print(sum(1 for i in map(json.loads, sys.stdin) if i["Name"]==sys.argv[1]))' "$1"; }

# pull_many NAME COUNT JOBS REF...: start COUNT pulls (cycling over the REFs) at once.
pull_many() {
	local tag=$1 count=$2 jobs=$3 i refs
	shift 3
	refs=("$@")
	pids=()
	for ((i = 0; i < count; i++)); do
		U image pull -q --jobs "$jobs" "${refs[i % ${#refs[@]}]}" >"$tmp/$tag.$i.out" 2>"$tmp/$tag.$i.err" &
		pids+=($!)
	done
	local fails=0
	for i in "${!pids[@]}"; do
		wait "${pids[i]}" || { fails=$((fails + 1)); sed 's/^/# /' "$tmp/$tag.$i.err" | tail -3; }
	done
	pids=()
	return $fails
}

top=$(t_img_build "$tmp/fx" v1 extra_mb=16 random=1 layers=3)
t_reg_upload "$tmp/fx" conc/app v1 || nok "seed"
want=$(fx_blobs "$tmp/fx")

for round in 1 2; do
	rm -rf "$tmp/store"
	jobs=$((round == 1 ? 4 : 1))
	if pull_many same$round 4 $jobs "$REG/conc/app:v1"; then
		ok "round $round: 4 concurrent pulls of one image (--jobs $jobs) all succeed"
	else
		nok "round $round: some concurrent pulls failed"
	fi
	same=1
	for i in 0 1 2 3; do [ "$(cat "$tmp/same$round.$i.out")" = "$top" ] || same=0; done
	[ $same = 1 ] && ok "round $round: every pull reports digest $top" || nok "round $round: digests differ"
	[ "$(nblobs)" = "$want" ] && ok "round $round: $want blobs stored, no duplicates" ||
		nok "round $round: $(nblobs) blobs stored, want $want"
	store_sound && ok "round $round: blobs verify, ingest/ is empty" || nok "round $round: store not sound"
	[ "$(count_name "$REG/conc/app:v1")" = 1 ] && ok "round $round: the name is recorded once" ||
		nok "round $round: name recorded $(count_name "$REG/conc/app:v1") times"
done

# Different names over shared blobs, all registering at once.
rm -rf "$tmp/store"
for t in a b c; do t_reg_upload "$tmp/fx" conc/app "$t" || nok "seed tag $t"; done
refs=("$REG/conc/app:a" "$REG/conc/app:b" "$REG/conc/app:c" "$REG/conc/app:v1")
if pull_many names 8 2 "${refs[@]}"; then ok "8 concurrent pulls of 4 names succeed"; else nok "concurrent pulls of 4 names"; fi
all=1
for r in "${refs[@]}"; do [ "$(count_name "$r")" = 1 ] || { echo "# $r recorded $(count_name "$r") times"; all=0; }; done
[ $all = 1 ] && ok "each of the 4 names is recorded exactly once" || nok "names lost or duplicated"
[ "$(nblobs)" = "$want" ] && ok "shared blobs stored once" || nok "$(nblobs) blobs, want $want"
store_sound && ok "store sound after concurrent naming" || nok "store not sound"

# A pull killed mid-transfer while another pull of the same image runs:
# the survivor (or a retry) completes from what is there.
rm -rf "$tmp/store"
U image pull -q --jobs 1 "$REG/conc/app:v1" >/dev/null 2>&1 &
victim=$!
pids=($victim)
for _ in $(seq 200); do
	[ -n "$(ls -A "$tmp/store/ingest" 2>/dev/null)" ] && break
	sleep 0.01
done
U image pull -q --jobs 4 "$REG/conc/app:v1" >"$tmp/surv.out" 2>"$tmp/surv.err" &
pids+=($!)
sleep 0.2
kill -9 $victim 2>/dev/null
wait $victim 2>/dev/null
if wait "${pids[1]}"; then ok "pull completes although a concurrent pull was killed"; else
	nok "pull next to a killed one failed"; sed 's/^/# /' "$tmp/surv.err" | tail -3; fi
pids=()
store_sound && [ "$(nblobs)" = "$want" ] && ok "store sound after the kill" || nok "store not sound after the kill"
# A pull racing `image rm` and `image prune -f` of the same image: each
# command ends with success or a clear error (exit 125 and a message, never
# a crash or a hang), and afterwards the store is sound (`system check`)
# and a pull succeeds.
clear_end() {	# TAG: the command's exit status and stderr
	local rc=$(cat "$tmp/$1.rc")
	[ "$rc" = 0 ] && return 0
	[ "$rc" = 125 ] && [ -s "$tmp/$1.err" ] && return 0
	echo "# $1: exit $rc: $(tail -1 "$tmp/$1.err")"
	return 1
}
race_ok=1
for round in 1 2 3; do
	rm -rf "$tmp/store"
	U image pull -q "$REG/conc/app:v1" >/dev/null 2>&1	# round 1..3: named, then raced
	U image rm "$REG/conc/app:v1" >/dev/null 2>&1
	(U image pull -q --jobs 2 "$REG/conc/app:v1" >/dev/null 2>"$tmp/p.err"; echo $? >"$tmp/p.rc") &
	p1=$!
	sleep 0.$((round * 2))
	(U image rm "$REG/conc/app:v1" >/dev/null 2>"$tmp/r.err"; echo $? >"$tmp/r.rc") &
	p2=$!
	(U image prune -f >/dev/null 2>"$tmp/g.err"; echo $? >"$tmp/g.rc") &
	p3=$!
	wait $p1 $p2 $p3
	for t in p r g; do clear_end $t || race_ok=0; done
	echo "# round $round: pull $(cat "$tmp/p.rc"), rm $(cat "$tmp/r.rc") ($(tail -1 "$tmp/r.err")), prune $(cat "$tmp/g.rc") ($(tail -1 "$tmp/g.err"))"
	U system check >"$tmp/check" 2>&1 || { race_ok=0; sed 's/^/# /' "$tmp/check"; }
	U image pull -q "$REG/conc/app:v1" >/dev/null 2>"$tmp/err" || { race_ok=0; echo "# pull after the race failed"; }
done
[ $race_ok = 1 ] && ok "pull vs image rm vs image prune -f, 3 rounds: each ends clearly, system check clean, pull works after" ||
	nok "pull/rm/prune race"
echo "1..$n"
