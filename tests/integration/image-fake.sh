#!/bin/bash
# Pull failures a real registry does not produce, from a fake one
# (tests/lib/registry-fault.py): an oversized manifest is refused naming the
# limit; a registry that stops sending fails after --stall-timeout x --retries
# (or UCRT_REGISTRY_STALL_TIMEOUT x UCRT_REGISTRY_RETRIES, also for `run`),
# not after minutes; an upload Location on another host gets the blob but
# not the credentials. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init fake
trap 't_reg_stop; rm -rf "$tmp"' EXIT
top=$(t_img_build "$tmp/fx" v1)
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+sys.argv[2][7:]))["layers"][0]["digest"])' "$tmp/fx" "$top")
blobs_left() { find "$tmp/store/blobs" -type f 2>/dev/null | wc -l; }

t_fault_start "$tmp/fx" big-manifest "$tmp/big.log" || nok "fake registry (big-manifest)"
fails "oversized manifest: refused naming the limit" "manifest $REG/big/app:v1 larger than 4194304 bytes" \
	U image pull "$REG/big/app:v1"
grep -q "Failure writing" "$tmp/err" && nok "curl's write error leaks into the message" || ok "no curl write error in the message"
[ "$(blobs_left)" = 0 ] && ok "oversized manifest: nothing stored" || nok "oversized manifest: $(blobs_left) blobs stored"
t_reg_stop

t_fault_start "$tmp/fx" stall-blob "$tmp/stall.log" || nok "fake registry (stall-blob)"
# (the config is smaller than the 1000 bytes sent before the stall)
gets() { grep -c "^GET /v2/stall/app/blobs/$layer" "$tmp/stall.log"; }
U image pull --stall-timeout 1 --retries 2 "$REG/stall/app:v1" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 125 ] && grep -q "no data for 1 s (stall timeout) (gave up after 2 tries)" "$tmp/err" &&
	ok "stalled blob: --stall-timeout 1 --retries 2 fails naming the stall" || nok "stalled blob (rc $rc)"
[ "$(gets)" = 2 ] && ok "stalled blob: exactly 2 tries of the layer" || nok "stalled blob: $(gets) tries of the layer"
UCRT_REGISTRY_STALL_TIMEOUT=1 UCRT_REGISTRY_RETRIES=1 U image pull "$REG/stall/app:v1" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 125 ] && grep -q "no data for 1 s (stall timeout)" "$tmp/err" && ! grep -q "gave up" "$tmp/err" &&
	ok "UCRT_REGISTRY_STALL_TIMEOUT=1 UCRT_REGISTRY_RETRIES=1: one try of 1 s" || nok "env stall settings (rc $rc)"
[ "$(gets)" = 3 ] && ok "env: exactly 1 more try" || nok "env: $(gets) tries in all, want 3"
UCRT_REGISTRY_STALL_TIMEOUT=1 UCRT_REGISTRY_RETRIES=1 U run --rm "$REG/stall/app:v1" true >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 125 ] && grep -q "no data for 1 s (stall timeout)" "$tmp/err" &&
	ok "run's implicit pull takes the same settings" || nok "run with a stalled registry (rc $rc)"
t_reg_stop

# A registry whose upload Location names another host: the blob goes there,
# the registry's credentials do not.
t_fault_start "$tmp/fx" upload-elsewhere "$tmp/up.log" || nok "fake registry (upload-elsewhere)"
rm -rf "$tmp/store"
check "basic auth: pull from the fake" U image pull --creds alice:s3cret-pw "$REG/src/app:v1"
check "push with the upload Location on 127.0.0.2" U image push --creds alice:s3cret-pw "$REG/src/app:v1" "$REG/copy/app:v1"
grep -q "^PUT /upload/.* host=127.0.0.2 " "$tmp/up.log" && grep -q "^PUT /v2/copy/app/manifests/v1 host=127.0.0.1 auth=yes" "$tmp/up.log" &&
	ok "blobs went to 127.0.0.2, the manifest to the registry with credentials" || nok "push requests: $(sed 's/^/  /' "$tmp/up.log")"
grep -q "host=127.0.0.2 auth=yes" "$tmp/up.log" && nok "credentials sent to 127.0.0.2" || ok "127.0.0.2 never saw the credentials"
t_reg_stop
echo "1..$n"
