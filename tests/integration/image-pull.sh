#!/bin/bash
# ucrt image pull/push/ls/inspect/tag/rm/prune/save/load against a real
# docker-registry over plain HTTP: OCI and Docker media types, gzip/zstd/
# uncompressed layers, multi-arch selection, round trips with skopeo/umoci. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
for t in skopeo umoci zstd; do command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 0; }; done
t_img_init img
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }

for v in oci:gzip oci:zstd oci:none docker:gzip; do
	mt=${v%%:*} comp=${v#*:}
	top=$(t_img_build "$tmp/fx-$mt-$comp" v1 mt=$mt comp=$comp layers=2)
	t_reg_upload "$tmp/fx-$mt-$comp" "fx/$mt-$comp" v1 || nok "seed $v"
	check "pull $mt media types, $comp layers" U image pull -q "$REG/fx/$mt-$comp:v1"
	[ "$(cat "$tmp/out")" = "$top" ] && ok "$v: --quiet prints the digest" || nok "$v: digest $(cat "$tmp/out") != $top"
done
U image inspect "$REG/fx/oci-zstd:v1" >"$tmp/insp" 2>"$tmp/err" &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; c=d["Config"]["config"]; assert c["Entrypoint"]==["/bin/busybox"] and d["ChainId"].startswith("sha256:")' "$tmp/insp" &&
	ok "inspect prints JSON with config and chain id" || nok "inspect"

# Multi-arch index: host default and --platform.
multi_top=$(t_img_build "$tmp/fx-multi" v1 platforms=linux/amd64,linux/arm64/v8,linux/arm/v7)
t_reg_upload "$tmp/fx-multi" fx/multi v1 || nok "seed multi"
check "pull index with --platform linux/arm64" U image pull --platform linux/arm64 "$REG/fx/multi:v1"
U image ls --format json >"$tmp/ls" && python3 -c 'import json,sys; l=[i for i in map(json.loads, open(sys.argv[1])) if i["Name"].endswith("fx/multi:v1")]; assert l[0]["Platform"]=="linux/arm64/v8", l' "$tmp/ls" &&
	ok "ls --format json shows the selected platform" || nok "platform selection"
check "pull index with --platform linux/arm/v7" U image pull --platform linux/arm/v7 "$REG/fx/multi:v1"
U image pull --platform linux/s390x "$REG/fx/multi:v1" >/dev/null 2>"$tmp/err"
grep -q "no image for platform linux/s390x" "$tmp/err" && ok "missing platform: clear error" || nok "missing platform error"

# Already present blobs are not fetched again.
U image pull "$REG/fx/oci-gzip:v1" >"$tmp/out" 2>&1
grep -q "^copying" "$tmp/out" && nok "re-pull fetched blobs again" || ok "re-pull skips blobs in the store"
U image pull "bad//ref" 2>"$tmp/err"; [ $? = 125 ] && grep -q "invalid image reference" "$tmp/err" && ok "bad reference: exit 125 with a clear error" || nok "bad reference"

# Progress: bars with escape codes on a terminal, plain lines otherwise.
python3 - "$UCRT_BIN" "$tmp/store-tty" "$REG/fx/oci-gzip:v1" >"$tmp/tty.out" 2>&1 <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--root", sys.argv[2], "image", "pull", sys.argv[3]])
out = b""
while True:
    try:
        b = os.read(fd, 65536)
    except OSError:
        break
    if not b:
        break
    out += b
_, st = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(st))
PY
[ $? = 0 ] && grep -q $'\033\[K' "$tmp/tty.out" && grep -q '\[==============================\]' "$tmp/tty.out" &&
	ok "pull on a terminal draws progress bars" || nok "no progress bars on a terminal"
rm -rf "$tmp/store-tty"
"$UCRT_BIN" --root "$tmp/store-tty" image pull "$REG/fx/oci-gzip:v1" >"$tmp/plain.out" 2>&1 &&
	! grep -q $'\033' "$tmp/plain.out" && grep -q "^done sha256:" "$tmp/plain.out" &&
	ok "pull into a pipe: plain lines, no escape codes" || nok "escape codes or no lines in piped output"
rm -rf "$tmp/store-tty"

# tag, rm, prune
check "tag" U image tag "$REG/fx/oci-gzip:v1" local/copy:t1
U image ls --format '{{.Name}}' | grep -qx "docker.io/local/copy:t1" && ok "tag shows in ls" || nok "tag in ls"
check "rm" U image rm "$REG/fx/oci-none:v1"
before=$(ls "$tmp/store/blobs/sha256" | wc -l)
check "prune" U image prune -f
after=$(ls "$tmp/store/blobs/sha256" | wc -l)
[ "$after" -lt "$before" ] && ok "prune removed unreferenced blobs ($before -> $after)" || nok "prune removed nothing"
check "images still complete after prune" U image save -o "$tmp/all.tar" "$REG/fx/oci-gzip:v1" "$REG/fx/docker-gzip:v1"

# save -> skopeo / umoci
check "skopeo reads ucrt save" skopeo inspect "oci-archive:$tmp/all.tar:v1"
U image save -o "$tmp/one.tar" "$REG/fx/oci-gzip:v1" 2>"$tmp/err" || nok "save one"
mkdir -p "$tmp/oci-x" && tar -C "$tmp/oci-x" -xf "$tmp/one.tar"
check "umoci unpacks ucrt save" umoci unpack --rootless --image "$tmp/oci-x:v1" "$tmp/bundle"
[ -x "$tmp/bundle/rootfs/bin/busybox" ] && ok "unpacked rootfs has busybox" || nok "unpacked rootfs"
# skopeo archive -> ucrt load
check "skopeo writes an oci-archive" skopeo copy --src-tls-verify=false "docker://$REG/fx/oci-zstd:v1" "oci-archive:$tmp/sk.tar:v9"
check "ucrt loads skopeo's archive" U image load -i "$tmp/sk.tar" --name example.com/loaded
U image ls --format '{{.Name}}' | grep -qx "example.com/loaded:v9" && ok "loaded image named from ref.name" || nok "loaded name"

# push with ucrt -> skopeo; skopeo push -> ucrt pull
check "ucrt push" U image push "$REG/fx/oci-gzip:v1" "$REG/pushed/one:v2"
check "skopeo pulls what ucrt pushed" skopeo copy --src-tls-verify=false "docker://$REG/pushed/one:v2" "oci:$tmp/sk-oci:v2"
check "ucrt push with chunked upload" U image push --chunk-size 64k "$REG/fx/docker-gzip:v1" "$REG/pushed/chunked:v1"
check "skopeo pulls the chunked push" skopeo inspect --tls-verify=false "docker://$REG/pushed/chunked:v1"
check "skopeo push" skopeo copy --dest-tls-verify=false "oci:$tmp/fx-oci-gzip:v1" "docker://$REG/sk/pushed:v3"
check "ucrt pulls what skopeo pushed" U image pull "$REG/sk/pushed:v3"

# Multi-arch push: with every platform in the store (a load of skopeo's
# --all archive), push sends each platform's manifest and the index itself.
check "skopeo copies all platforms to an archive" skopeo copy --all --src-tls-verify=false "docker://$REG/fx/multi:v1" "oci-archive:$tmp/multi.tar:v1"
check "ucrt loads the multi-arch archive" U image load -i "$tmp/multi.tar" --name "$REG/loaded/multi"
check "ucrt pushes the multi-arch image" U image push -q "$REG/loaded/multi:v1" "$REG/pushed/multi:v1"
[ "$(cat "$tmp/out")" = "$multi_top" ] && ok "push reports the index digest" || nok "push printed $(cat "$tmp/out"), want $multi_top"
skopeo inspect --raw --tls-verify=false "docker://$REG/pushed/multi:v1" >"$tmp/raw" 2>"$tmp/err" &&
	[ "sha256:$(sha256sum <"$tmp/raw" | cut -d' ' -f1)" = "$multi_top" ] &&
	python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["manifests"]) == 3' "$tmp/raw" &&
	ok "the registry serves the same 3-platform index" || nok "pushed index differs"
check "skopeo copies arm/v7 from the pushed index" skopeo copy --src-tls-verify=false --override-arch arm --override-variant v7 "docker://$REG/pushed/multi:v1" "oci:$tmp/sk-arm:v1"
echo "1..$n"
