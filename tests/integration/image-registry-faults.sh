#!/bin/bash
# A hostile or flaky registry: tests/lib/fault-proxy.py sits between ucrt
# and the real docker-registry and breaks the layer download in one way per
# case (connection reset mid-body, a body cut short under a correct
# Content-Length, a lying Content-Length either way, 500/502/503, 429 with
# Retry-After in seconds and as a date, a stall past the stall timeout, a
# 307 to "object storage" on another port, and a redirect that then fails).
# A fault that passes is retried (resumed with Range where bytes arrived,
# after a growing, jittered backoff, or after Retry-After) and the pull
# succeeds with a verified blob; a fault that lasts ends with an error
# naming the blob and nothing committed. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init regfaults
PROXY_PID=
trap '[ -n "$PROXY_PID" ] && kill $PROXY_PID 2>/dev/null; t_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }
top=$(t_img_build "$tmp/fx" v1 extra_mb=2 random=1)
t_reg_upload "$tmp/fx" app v1
layer=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+sys.argv[2][7:])); print(m["layers"][0]["digest"])' "$tmp/fx" "$top")
UP=$REG
pport=$(t_free_port); oport=$(t_free_port)
python3 "$UCRT_SRC/tests/lib/fault-proxy.py" "$pport" "$oport" "$UP" 2>"$tmp/proxy.log" &
PROXY_PID=$!
P=127.0.0.1:$pport
for _ in $(seq 600); do curl -s -o /dev/null "http://$P/v2/" && break; sleep 0.1; done
fault() { curl -s -o /dev/null "http://$P/_fault/$1/$2"; }
# The proxy's log lines for the layer since mark (a line count).
layer_log() { tail -n +$((mark + 1)) "$tmp/proxy.log" | grep "blobs/$layer "; }
# Seconds between the first and second layer GETs since mark (and 2nd/3rd).
gap() { layer_log | awk -v a=$1 -v b=$2 'NR==a{t=$1} NR==b{printf "%.3f", $1-t}'; }

# pull_case MODE TIMES: a fresh store; the fault on the first TIMES layer GETs.
pull_case() {
	mark=$(wc -l <"$tmp/proxy.log")
	fault "$1" "$2"
	rm -rf "$tmp/store"
	UCRT_REGISTRY_STALL_TIMEOUT=2 U --log-level info image pull -q "$P/app:v1" >"$tmp/out" 2>"$tmp/err"
}
verified() { [ "$(sha256sum <"$tmp/store/blobs/sha256/${layer:7}" 2>/dev/null | cut -d' ' -f1)" = "${layer:7}" ]; }

# Faults that pass: each is retried, and bytes already received are kept.
for m in reset truncate short-length stall; do
	if pull_case $m 1 && verified; then ok "$m: pull retried and succeeded, blob verifies"; else nok "$m: pull failed"; fi
	r=$(layer_log | sed -n '2s/.*range=bytes=\([0-9]*\)-.*/\1/p')
	[ -n "$r" ] && [ "$r" -gt 0 ] && ok "$m: second try resumed with Range from byte $r" ||
		nok "$m: no resuming Range request: $(layer_log | tr '\n' '|')"
done
grep -q "no data for 2 s (stall timeout)" "$tmp/err" && ok "stall: reported as a stall timeout" || nok "stall: not named"
# Content-Length larger than the blob: every byte the manifest promises
# came, then the connection closed; the digest decides, no second request.
pull_case long-length 1 && verified && [ "$(layer_log | wc -l)" = 1 ] &&
	ok "long-length: the complete body is kept and verifies" || nok "long-length: $(layer_log | wc -l) requests"

for m in 500 502 503; do
	if pull_case $m 2 && verified; then ok "$m twice: retried and succeeded"; else nok "$m: pull failed"; fi
	[ "$(layer_log | wc -l)" = 3 ] && ok "$m: three tries" || nok "$m: $(layer_log | wc -l) tries"
done
# Backoff grows: the delay ucrt logs before try 3 is at least the one
# before try 2 (jittered within [d/2, d] of 200 ms, then of 400 ms), and
# the proxy saw each retry no sooner than its delay. Two measured gaps are
# not compared with each other: on a loaded machine scheduling noise is
# larger than the jitter.
d1=$(sed -n 's/.*retrying in \([0-9]*\) ms (try 2 of 3).*/\1/p' "$tmp/err" | tail -1)
d2=$(sed -n 's/.*retrying in \([0-9]*\) ms (try 3 of 3).*/\1/p' "$tmp/err" | tail -1)
g1=$(gap 1 2); g2=$(gap 2 3)
python3 -c "import sys; d1, d2, a, b = map(float, sys.argv[1:])
sys.exit(not (100 <= d1 <= 200 and 200 <= d2 <= 400 and d2 >= d1 and a >= d1 / 1000 - 0.01 and b >= d2 / 1000 - 0.01))" \
	"${d1:-0}" "${d2:-0}" "${g1:-0}" "${g2:-0}" &&
	ok "exponential backoff: ${d1:-?} ms then ${d2:-?} ms (waited ${g1}s then ${g2}s)" ||
	nok "backoff: ${d1:-?} ms then ${d2:-?} ms (waited ${g1}s then ${g2}s)"
grep -q "HTTP 503 UNAVAILABLE: injected 503; retrying in [0-9]* ms (try 2 of 3)" "$tmp/err" &&
	ok "each retry is logged with its reason" || nok "retry not logged"

pull_case 429 1 && verified && ok "429: retried and succeeded" || nok "429: pull failed"
g=$(gap 1 2)
python3 -c "import sys; sys.exit(float(sys.argv[1]) < 1.9)" "$g" && ok "Retry-After: 2 honoured (waited ${g}s)" ||
	nok "Retry-After ignored (waited ${g}s)"
pull_case 429-date 1 && verified && ok "429 with an HTTP-date Retry-After: succeeded" || nok "429-date failed"
g=$(gap 1 2)
python3 -c "import sys; sys.exit(float(sys.argv[1]) < 1.0)" "$g" && ok "Retry-After date honoured (waited ${g}s)" ||
	nok "Retry-After date ignored (waited ${g}s)"

pull_case redirect 99 && verified && ok "307 to another host:port: blob fetched from there" || nok "redirect: pull failed"
grep -q "GET /obj/v2/app/blobs/$layer range=- -> 200 fault=objstore" "$tmp/proxy.log" &&
	ok "the bytes came from the redirect target" || nok "redirect target not used"
pull_case redirect-fail 1 && verified && ok "redirect to a failing URL, once: retried and succeeded" ||
	nok "redirect-fail once: pull failed"

# Faults that last: a clear error naming the blob, nothing committed.
for m in 503 reset redirect-fail; do
	pull_case $m 99
	rc=$?
	[ $rc = 125 ] && grep -q "$layer" "$tmp/err" && grep -q "gave up after 3 tries" "$tmp/err" &&
		ok "$m for good: exit 125 naming $layer after 3 tries" || nok "$m for good: rc $rc"
	[ ! -e "$tmp/store/blobs/sha256/${layer:7}" ] && ! U image ls | grep -q app &&
		ok "$m for good: blob not committed, no image named" || nok "$m for good: something committed"
done
fault none 0
pull_case none 0 && verified && ok "clean pull through the proxy" || nok "clean pull"
echo "1..$n"
