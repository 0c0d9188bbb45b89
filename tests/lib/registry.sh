# Start/stop Debian's docker-registry for tests, and seed it.
#   t_reg_start DIR MODE     MODE: http | https | htpasswd | token
#     sets REG (127.0.0.1:PORT), REG_PID, REG_CERTS (a --cert-dir for https),
#     REG_USER/REG_PASS (htpasswd, token; REG_REALM overrides the token realm,
#     TOKEN_HOST the token server's address, default 127.0.0.1; its log,
#     $DIR/token/log, says whether each request carried credentials).
#     Storage: DIR/storage, kept across restarts so a test can seed in
#     http mode and then switch mode.
#   t_reg_stop
#   t_fault_start LAYOUT_DIR FAULT LOG   a fake registry serving LAYOUT_DIR with
#     one fault (tests/lib/registry-fault.py); sets REG; its request log is LOG
#   t_reg_upload LAYOUT_DIR REPO TAG   push an OCI layout as-is with curl (http mode)
# Needs: docker-registry, python3, curl, openssl, htpasswd (apache2-utils).
T_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REG_USER=alice
REG_PASS=s3cret-pw

t_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

t_reg_need() {
	for t in docker-registry python3 curl openssl htpasswd; do
		command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 0; }
	done
}

# Servers started in the background get up to 60 s to answer: on a loaded
# machine (QEMU guests of a parallel test) a start can take seconds, and a
# registry that never answered turns a test into a SKIP.
t_reg_wait() {	# url
	for _ in $(seq 600); do
		curl -sk -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "# registry did not come up; log:"; sed 's/^/# /' "$REG_DIR/registry.log" | tail -20
	return 1
}

t_reg_certs() {	# make a CA and a server cert for 127.0.0.1 once per DIR
	local d=$REG_DIR/certs
	[ -f "$d/server.crt" ] && return 0
	mkdir -p "$d" "$REG_DIR/certdir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ucrt test CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext" -out "$d/server.crt" 2>/dev/null
	cp "$d/ca.crt" "$REG_DIR/certdir/ca.crt"
	REG_CERTS=$REG_DIR/certdir
}

t_reg_start() {	# DIR MODE
	REG_DIR=$1; local mode=$2
	mkdir -p "$REG_DIR/storage"
	local port; port=$(t_free_port)
	REG=127.0.0.1:$port
	local cfg=$REG_DIR/config.yml scheme=http extra=""
	case $mode in
	https)
		t_reg_certs
		extra="  tls:
    certificate: $REG_DIR/certs/server.crt
    key: $REG_DIR/certs/server.key"
		scheme=https ;;
	htpasswd)
		htpasswd -Bbc "$REG_DIR/htpasswd" "$REG_USER" "$REG_PASS" 2>/dev/null ;;
	token)
		t_token_start || return 1 ;;
	esac
	{
		echo "version: 0.1"
		echo "log: {level: info}"
		echo "storage:"
		echo "  filesystem: {rootdirectory: $REG_DIR/storage}"
		echo "  delete: {enabled: true}"
		echo "http:"
		echo "  addr: $REG"
		echo "  secret: ucrt-test"
		[ -n "$extra" ] && echo "$extra"
		case $mode in
		htpasswd) printf 'auth:\n  htpasswd:\n    realm: ucrt-test\n    path: %s\n' "$REG_DIR/htpasswd" ;;
		token) printf 'auth:\n  token:\n    realm: %s\n    service: ucrt-registry\n    issuer: ucrt-test-issuer\n    rootcertbundle: %s\n' \
			"${REG_REALM:-http://$TOKEN_ADDR/token}" "$REG_DIR/token/cert.pem" ;;
		esac
	} >"$cfg"
	docker-registry serve "$cfg" >"$REG_DIR/registry.log" 2>&1 &
	REG_PID=$!
	t_reg_wait "$scheme://$REG/v2/"
}

t_reg_stop() {
	# wait returns the killed server's 143: not an error (callers may run
	# under set -e, e.g. the demo's EXIT trap).
	if [ -n "${REG_PID:-}" ] && kill "$REG_PID" 2>/dev/null; then wait "$REG_PID" 2>/dev/null || true; fi
	REG_PID=
	if [ -n "${TOKEN_PID:-}" ] && kill "$TOKEN_PID" 2>/dev/null; then wait "$TOKEN_PID" 2>/dev/null || true; fi
	TOKEN_PID=
	if [ -n "${FAULT_PID:-}" ] && kill "$FAULT_PID" 2>/dev/null; then wait "$FAULT_PID" 2>/dev/null || true; fi
	FAULT_PID=
	return 0
}

t_fault_start() {	# LAYOUT FAULT LOG
	local port; port=$(t_free_port)
	REG=127.0.0.1:$port
	python3 "$T_LIB_DIR/registry-fault.py" "$port" "$1" "$2" 2>"$3" &
	FAULT_PID=$!
	for _ in $(seq 600); do
		curl -s -o /dev/null "http://$REG/v2/" && return 0
		sleep 0.1
	done
	echo "# fake registry did not start"; sed 's/^/# /' "$3"
	return 1
}

t_token_start() {
	local d=$REG_DIR/token
	mkdir -p "$d"
	[ -f "$d/key.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ucrt token" \
		-keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
	openssl rsa -in "$d/key.pem" -noout -text 2>/dev/null >"$d/key.txt"
	openssl rsa -in "$d/key.pem" -pubout -outform DER 2>/dev/null >"$d/pub.der"
	local port; port=$(t_free_port)
	TOKEN_ADDR=${TOKEN_HOST:-127.0.0.1}:$port
	python3 "$T_LIB_DIR/registry-token.py" "$port" "$d" "$REG_USER" "$REG_PASS" "${TOKEN_HOST:-127.0.0.1}" >"$d/log" 2>&1 &
	TOKEN_PID=$!
	for _ in $(seq 600); do
		curl -s -o /dev/null "http://$TOKEN_ADDR/health" && return 0
		sleep 0.1
	done
	echo "# token server did not start"; sed 's/^/# /' "$d/log"
	return 1
}

# Upload an OCI layout (blobs first, child manifests by digest, top last).
t_reg_upload() {	# LAYOUT REPO TAG
	local dir=$1 repo=$2 tag=$3 base="http://$REG/v2/$2" f d loc mt ref
	for f in "$dir"/blobs/sha256/*; do
		d=sha256:$(basename "$f")
		curl -sf -o /dev/null -I "$base/blobs/$d" && continue
		loc=$(curl -sf -D - -o /dev/null -X POST "$base/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
		case $loc in http*) ;; *) loc="http://$REG$loc" ;; esac
		case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
		curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$f" "$loc" || return 1
	done
	python3 - "$dir" <<'PY' >"$dir/.push-order"
import json, sys, os
d = sys.argv[1]
top = json.load(open(d + "/index.json"))["manifests"][0]
def load(dg): return json.load(open(f"{d}/blobs/sha256/{dg[7:]}"))
doc = load(top["digest"])
for m in doc.get("manifests", []):
    print(m["mediaType"], m["digest"], m["digest"])
print(top["mediaType"], top["digest"], "TAG")
PY
	while read -r mt d ref; do
		[ "$ref" = TAG ] && ref=$tag
		curl -sf -o /dev/null -X PUT -H "Content-Type: $mt" --data-binary @"$dir/blobs/sha256/${d#sha256:}" \
			"$base/manifests/$ref" || { echo "# manifest upload failed for $d"; return 1; }
	done <"$dir/.push-order"
}
