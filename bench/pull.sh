#!/bin/bash
# Pull a ~130 MB, 3-layer image from a local docker-registry: ucrt image pull
# vs skopeo copy (to an OCI dir), cold store each time; prints the ratio.
set -eu
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
for t in skopeo bc; do
	command -v $t >/dev/null || { echo "pull bench: SKIP ($t not installed)"; exit 0; }
done
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
tmp=$(mktemp -d /tmp/ucrt-bench.XXXXXX)
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_reg_start "$tmp/reg" http >/dev/null
t_img_build "$tmp/fx" v1 layers=3 extra_mb=43 random=1 >/dev/null
t_reg_upload "$tmp/fx" bench/big v1
now() { date +%s.%N; }
best_u=999 best_s=999
for i in 1 2 3; do
	rm -rf "$tmp/store" "$tmp/sk"; sync
	t0=$(now); "$UCRT_BIN" --root "$tmp/store" image pull -q "$REG/bench/big:v1" >/dev/null; t1=$(now)
	u=$(echo "$t1 - $t0" | bc)
	t0=$(now); skopeo copy -q --src-tls-verify=false "docker://$REG/bench/big:v1" "oci:$tmp/sk:v1" >/dev/null; t1=$(now)
	s=$(echo "$t1 - $t0" | bc)
	best_u=$(echo "if ($u < $best_u) $u else $best_u" | bc); best_s=$(echo "if ($s < $best_s) $s else $best_s" | bc)
done
size=$(du -sm "$tmp/store/blobs" | cut -f1)
printf 'pull %s MB, 3 layers (best of 3, cold store): ucrt %.3f s, skopeo copy %.3f s, ratio ucrt/skopeo %.2f\n' \
	"$size" "$best_u" "$best_s" "$(echo "$best_u / $best_s" | bc -l)"
