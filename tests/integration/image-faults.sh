#!/bin/bash
# Pull failures: a blob corrupted or truncated in the registry's storage is
# refused with its digest named and nothing committed (neither the blob nor
# the manifest and config the failed pull had stored); an index without the
# host's platform is not left behind; kill -9 in the middle of a pull, then
# pull again: the partial blob is resumed with Range. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init faults
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }
# the layer blob file inside the registry's storage
regblob() { echo "$tmp/reg/storage/docker/registry/v2/blobs/sha256/${1:7:2}/${1:7}/data"; }
layer_of() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+sys.argv[2][7:])); print(m["layers"][0]["digest"])' "$1" "$2"; }

for kind in corrupt truncate; do
	top=$(t_img_build "$tmp/fx-$kind" "$kind" extra_mb=1)
	t_reg_upload "$tmp/fx-$kind" "bad/$kind" v1
	l=$(layer_of "$tmp/fx-$kind" "$top")
	f=$(regblob "$l")
	if [ $kind = corrupt ]; then printf 'XXXX' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null
	else truncate -s -1000 "$f"; fi
	U image pull --retries 2 "$REG/bad/$kind:v1" >/dev/null 2>"$tmp/err"
	rc=$?
	[ $rc = 125 ] && grep -q "$l" "$tmp/err" && ok "$kind blob: exit 125, error names $l" || nok "$kind blob error (rc $rc)"
	[ ! -e "$tmp/store/blobs/sha256/${l:7}" ] && ok "$kind blob: not committed" || nok "$kind blob committed"
	[ ! -e "$tmp/store/ingest/${l:7}" ] && ok "$kind blob: partial discarded" || nok "$kind partial kept"
	U image ls | grep -q "bad/$kind" && nok "$kind: image named" || ok "$kind: no image named"
	cfg=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+sys.argv[2][7:]))["config"]["digest"])' "$tmp/fx-$kind" "$top")
	[ ! -e "$tmp/store/blobs/sha256/${top:7}" ] && [ ! -e "$tmp/store/blobs/sha256/${cfg:7}" ] &&
		ok "$kind: the failed pull took its manifest and config with it" || nok "$kind: manifest or config left behind"
done
# A pull rejected after its index was stored: no platform for this host.
t_img_build "$tmp/fx-arm" v1 platforms=linux/arm64,linux/s390x >/dev/null && t_reg_upload "$tmp/fx-arm" arm/app v1
before=$(ls "$tmp/store/blobs/sha256" | wc -l)
fails "index without the host's platform is refused" "no image for platform .* (it has: linux/arm64" U image pull "$REG/arm/app:v1"
[ "$(ls "$tmp/store/blobs/sha256" | wc -l)" = "$before" ] && ok "the refused index is not left in the store" ||
	nok "blobs left by the refused pull: $(ls "$tmp/store/blobs/sha256" | wc -l), had $before"
t_img_build "$tmp/fx-ok" v1 >/dev/null && t_reg_upload "$tmp/fx-ok" good/app v1
U image pull "$REG/good/app:v1" >/dev/null 2>"$tmp/err" && ok "store still usable after failures" || nok "store unusable"

# kill -9 mid-transfer, then resume
top=$(t_img_build "$tmp/fx-big" v1 extra_mb=400 random=1)
t_reg_upload "$tmp/fx-big" big/app v1
l=$(layer_of "$tmp/fx-big" "$top")
"$UCRT_BIN" --root "$tmp/store" image pull -q --jobs 1 "$REG/big/app:v1" >/dev/null 2>&1 &
pid=$!
# Until 20 MB of the 400 MB layer are in (up to 60 s: a loaded machine may
# take seconds before the first byte).
for _ in $(seq 3000); do
	s=$(stat -c %s "$tmp/store/ingest/${l:7}" 2>/dev/null || echo 0)
	[ "$s" -gt 20000000 ] && break
	sleep 0.02
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
partial=$(stat -c %s "$tmp/store/ingest/${l:7}" 2>/dev/null || echo 0)
[ "$partial" -gt 0 ] && ok "kill -9 left a partial of $partial bytes" || nok "no partial left (pull too fast?)"
U --log-level debug image pull -q "$REG/big/app:v1" >"$tmp/out" 2>"$tmp/err" && ok "pull after kill -9 completes" || nok "pull after kill"
at=$(sed -n "s/.*resuming $l at \([0-9]*\) bytes.*/\1/p" "$tmp/err")
[ -n "$at" ] && [ "$at" -gt 0 ] && ok "partial blob was resumed at $at bytes" || nok "not resumed"
# The registry's access log: the rest came as a 206 of exactly size - offset.
size=$(stat -c %s "$(regblob "$l")")
grep -q "\"GET /v2/big/app/blobs/$l HTTP/1.1\" 206 $((size - ${at:-0})) " "$tmp/reg/registry.log" &&
	ok "the registry answered a Range request with the remaining $((size - ${at:-0})) bytes" ||
	nok "no 206 for the rest of $l: $(grep "blobs/$l HTTP" "$tmp/reg/registry.log" | grep -v time= | tail -3)"
[ "$(sha256sum <"$tmp/store/blobs/sha256/${l:7}" | cut -d' ' -f1)" = "${l:7}" ] && ok "resumed blob verifies" || nok "resumed blob bad"
echo "1..$n"
