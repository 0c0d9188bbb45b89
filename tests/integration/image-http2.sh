#!/bin/bash
# HTTP versions and connection reuse, read from `--log-level debug`: pull and
# push through nginx (TLS, HTTP/2 via ALPN) in front of docker-registry, so
# concurrent layer transfers are multiplexed on one connection; and the same
# pull straight from the plain-HTTP registry, HTTP/1.1 with keep-alive. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "1..0 # SKIP nginx not installed"; exit 0; }
t_img_init h2
NGX_PID=
ngx_stop() {
	if [ -n "$NGX_PID" ] && kill "$NGX_PID" 2>/dev/null; then wait "$NGX_PID" 2>/dev/null || true; fi
	NGX_PID=
}
trap 'ngx_stop; t_reg_stop; rm -rf "$tmp"' EXIT
U() { "$UCRT_BIN" --root "$tmp/store" --log-level debug "$@"; }

# nginx as an unprivileged foreground process (no master, so no user switch),
# TLS with the test CA's server cert, HTTP/2, proxying to the registry.
# The access log records each request's connection serial and protocol.
ngx_start() {	# DIR UPSTREAM
	local d=$1 up=$2 port
	port=$(t_free_port)
	NGX=127.0.0.1:$port
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 256; }
http {
	log_format ucrt '\$connection \$server_protocol \$request_method \$uri \$status';
	access_log $d/access.log ucrt;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	server {
		listen $NGX ssl http2;
		ssl_certificate $REG_DIR/certs/server.crt;
		ssl_certificate_key $REG_DIR/certs/server.key;
		client_max_body_size 0;
		location / {
			proxy_pass http://$up;
			proxy_http_version 1.1;
			# the registry builds upload Locations from these
			proxy_set_header Host $NGX;
			proxy_set_header X-Forwarded-Proto https;
			proxy_buffering off;
			proxy_request_buffering off;
			proxy_read_timeout 300s;
		}
	}
}
EOF
	"$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$d/stderr" 2>&1 &
	NGX_PID=$!
	for _ in $(seq 600); do	# up to 60 s: a loaded machine starts it slowly
		curl -s --cacert "$REG_CERTS/ca.crt" -o /dev/null "https://$NGX/v2/" && return 0
		sleep 0.1
	done
	echo "# nginx did not come up:"; cat "$d/stderr" "$d/error.log" 2>/dev/null | sed 's/^/# /' | tail -20
	return 1
}

# "T C H" from the debug summary line of a pull or push of REF.
summary() {	# pull|push REF
	sed -n "s|.*registry: $1 $2: \([0-9]*\) transfers, \([0-9]*\) connections opened, \([0-9]*\) over HTTP/2\$|\1 \2 \3|p" "$tmp/err" | tail -1
}

t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }
# Four distinct 2 MiB layers: with --jobs 4 they download at the same time.
top=$(t_img_build "$tmp/fx" v1 layers=4 extra_mb=2 random=1)
t_reg_upload "$tmp/fx" h2/app v1 || nok "seed"
t_reg_certs
ngx_start "$tmp/ngx" "$REG" || { echo "1..0 # SKIP nginx did not start"; exit 0; }
curl -s --http2 --cacert "$REG_CERTS/ca.crt" -o /dev/null -w '%{http_version}' "https://$NGX/v2/" >"$tmp/out" 2>&1
[ "$(cat "$tmp/out")" = 2 ] && ok "nginx answers curl over HTTP/2" || nok "nginx speaks HTTP/$(cat "$tmp/out")"

# Pull through nginx: HTTP/2, all blob streams on one connection.
: >"$tmp/ngx/access.log"	# forget curl's probes
check "pull through nginx (TLS, test CA)" U image pull -q --jobs 4 --cert-dir "$REG_CERTS" "$NGX/h2/app:v1"
[ "$(cat "$tmp/out")" = "$top" ] && ok "pulled digest is the pushed one" || nok "digest $(cat "$tmp/out") != $top"
cp "$tmp/err" "$tmp/pull-h2.log"
nlog=$(grep -c "registry: GET https://$NGX/.*: 200 over " "$tmp/err")
nh2=$(grep -c "registry: GET https://$NGX/.*: 200 over HTTP/2, " "$tmp/err")
[ "$nlog" -ge 6 ] && [ "$nh2" = "$nlog" ] && ok "every request ($nlog) negotiated HTTP/2" ||
	nok "HTTP/2 on $nh2 of $nlog requests"
set -- $(summary pull "$NGX/h2/app:v1")
if [ $# = 3 ] && [ "$1" -ge 6 ] && [ "$2" = 1 ] && [ "$3" = "$1" ]; then
	ok "pull: $1 transfers (4 concurrent layers) over 1 connection"
else
	nok "pull summary: transfers connections h2 = '$*' (want >= 6, 1, all)"
fi
# The server's view: one TLS connection, every request HTTP/2.0.
awk '$2 != "HTTP/2.0" { bad++ } { c[$1] = 1 } END { exit !(NR >= 6 && !bad && length(c) == 1) }' "$tmp/ngx/access.log" &&
	ok "nginx logged $(wc -l <"$tmp/ngx/access.log") HTTP/2.0 requests on one connection" ||
	{ nok "nginx access log"; sed 's/^/# /' "$tmp/ngx/access.log" | tail -10; }
U image inspect "$NGX/h2/app:v1" >"$tmp/insp" 2>"$tmp/err" &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["Digest"]==sys.argv[2] and len(d["ManifestDocument"]["layers"])==4 and d["ChainId"].startswith("sha256:")' "$tmp/insp" "$top" &&
	ok "inspect: digest, 4 layers, chain id" || nok "inspect"

# The same image straight from the plain-HTTP registry: HTTP/1.1, keep-alive
# (4 concurrent layers need 4 connections, later requests reuse them).
rm -rf "$tmp/store"
check "pull from the registry over plain HTTP" U image pull -q "$REG/h2/app:v1"
[ "$(cat "$tmp/out")" = "$top" ] && ok "plain HTTP: same digest" || nok "plain HTTP digest $(cat "$tmp/out")"
n11=$(grep -c "registry: GET http://$REG/.*: 200 over HTTP/1.1, " "$tmp/err")
set -- $(summary pull "$REG/h2/app:v1")
if [ $# = 3 ] && [ "$n11" -ge 6 ] && [ "$3" = 0 ] && [ "$2" -lt "$1" ]; then
	ok "plain HTTP: HTTP/1.1, $1 transfers over $2 connections"
else
	nok "plain HTTP summary: transfers connections h2 = '$*', $n11 HTTP/1.1 GETs"
fi

# Push through nginx to another repository (the image's source is the plain
# registry, so no cross-repository mount: every blob is uploaded), in 1 MiB
# PATCH chunks, over HTTP/2.
: >"$tmp/ngx/access.log"
check "push through nginx (PATCH chunks)" U image push -q --chunk-size 1M --cert-dir "$REG_CERTS" "$REG/h2/app:v1" "$NGX/h2/pushed:v1"
[ "$(cat "$tmp/out")" = "$top" ] && ok "push reports the digest" || nok "push digest $(cat "$tmp/out")"
cp "$tmp/err" "$tmp/push-h2.log"
npatch=$(grep -c "registry: PATCH https://$NGX/.*: 202 over HTTP/2, " "$tmp/err")
[ "$npatch" -ge 4 ] && ok "$npatch PATCH chunks over HTTP/2" || nok "$npatch PATCH chunks over HTTP/2"
set -- $(summary push "$NGX/h2/pushed:v1")
if [ $# = 3 ] && [ "$3" = "$1" ] && [ "$2" -lt "$1" ]; then
	ok "push: $1 transfers over HTTP/2 on $2 connection(s)"
else
	nok "push summary: transfers connections h2 = '$*'"
fi
# nginx logs a request once its response went out: the client may have seen
# the 201 (and ucrt ended) a moment before the line is there.
for _ in $(seq 100); do grep -q " PUT /v2/h2/pushed/manifests/v1 " "$tmp/ngx/access.log" && break; sleep 0.1; done
grep -q "^[0-9]* HTTP/2.0 PUT /v2/h2/pushed/manifests/v1 201$" "$tmp/ngx/access.log" &&
	ok "nginx logged the manifest PUT over HTTP/2.0" || { nok "manifest PUT in the access log"; sed 's/^/# /' "$tmp/ngx/access.log" | tail -5; }
got=$(curl -sf -o /dev/null -D - -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$REG/v2/h2/pushed/manifests/v1" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
[ "$got" = "$top" ] && ok "the pushed manifest landed in the registry" || nok "registry has '$got' for h2/pushed:v1"
rm -rf "$tmp/store"
check "pull the pushed image back through nginx" U image pull -q --cert-dir "$REG_CERTS" "$NGX/h2/pushed:v1"
[ "$(cat "$tmp/out")" = "$top" ] && ok "round trip keeps the digest" || nok "round trip digest $(cat "$tmp/out")"
ngx_stop
echo "1..$n"
