#!/bin/bash
# No secret in any log at any level (docs/security.md): pulls, a push,
# login and logout against the htpasswd and token registries of
# tests/lib/registry.sh with ucrt at its most verbose level (trace, on
# stderr and through UCRT_LOG), then the test password, its base64 form
# (Basic auth), every token the token server issued and any bearer header
# are looked for in everything ucrt printed and in every file of its
# store (image content included: the fixture holds none of them); the
# credential file is 0600 in a 0700 directory. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init secrets
trap 't_reg_stop; rm -rf "$tmp"' EXIT
auth=$tmp/conf/docker/config.json	# its directory does not exist yet
U() { REGISTRY_AUTH_FILE=$auth UCRT_LOG=trace "$UCRT_BIN" --log-level trace --root "$tmp/store" "$@"; }
logs=$tmp/logs
mkdir -p "$logs"
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '# got: %s\n' "$2" | head -10; fi; }
T() {	# NAME CMD...: run with trace logs kept, ok when it exits 0
	local name=$1; shift
	if "$@" >"$logs/$name.out" 2>"$logs/$name.err"; then ok "$name"; else nok "$name"; sed 's/^/# /' "$logs/$name.err" | tail -5; fi
}

t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }
t_img_build "$tmp/fx" v1 >/dev/null
t_reg_upload "$tmp/fx" private/app v1 || nok "seed"
t_reg_stop

t_reg_start "$tmp/reg" htpasswd || nok "htpasswd registry"
T "basic: pull --creds at trace level" U image pull --creds "$REG_USER:$REG_PASS" "$REG/private/app:v1"
T "basic: login -p at trace level" U login -u "$REG_USER" -p "$REG_PASS" "$REG"
is_mode() { [ "$(stat -c %a "$1" 2>/dev/null)" = "$2" ] && ok "$3" || nok "$3 (got $(stat -c %a "$1" 2>&1))"; }
is_mode "$auth" 600 "the credential file is 0600"
is_mode "$(dirname "$auth")" 700 "... in a directory made 0700"
rm -rf "$tmp/store"
T "basic: pull with the credential file" U image pull "$REG/private/app:v1"
T "basic: push" U image push "$REG/private/app:v1" "$REG/private/copy:v1"
t_reg_stop

t_reg_start "$tmp/reg" token || nok "token registry"
rm -rf "$tmp/store"
T "token: login --password-stdin" U login -u "$REG_USER" --password-stdin "$REG" <<<"$REG_PASS"
T "token: pull with the credential file" U image pull "$REG/private/app:v1"
rm -rf "$tmp/store"
T "token: pull --creds" U image pull --creds "$REG_USER:$REG_PASS" "$REG/private/app:v1"
T "token: push" U image push "$REG/private/app:v1" "$REG/private/other:v1"
T "logout" U logout "$REG"
issued=$tmp/reg/token/issued
t_reg_stop

[ -s "$issued" ] && ok "the token server issued tokens ($(wc -l <"$issued"))" || nok "no token issued"
grep -lq "registry: GET" "$logs"/*.err && grep -q "ucrt trace\|ucrt debug" "$logs"/*.err &&
	ok "the logs are verbose (requests are logged)" || nok "the logs are verbose"
b64=$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)
leaks() {	# WHERE...: which secret shows up there
	grep -rlF -e "$REG_PASS" "$@" 2>/dev/null | sed 's/^/password in /'
	grep -rlF -e "$b64" "$@" 2>/dev/null | sed 's/^/basic auth in /'
	while read -r t; do
		[ -n "$t" ] || continue
		grep -rlF -e "$t" -e "${t##*.}" "$@" 2>/dev/null | sed 's/^/a token in /'
	done <"$issued"
}
# The check itself finds what it looks for.
{ echo "x $REG_PASS y"; echo "Authorization: Basic $b64"; tail -1 "$issued"; } >"$tmp/planted"
is "a planted password, header and token are found" "$(leaks "$tmp/planted" | wc -l)" 3
is "no password, basic auth or token in any log" "$(leaks "$logs" | sort -u)" ""
is "... and no Authorization header" "$(grep -rliE 'authorization: *(basic|bearer)' "$logs" | sort -u)" ""
is "... nor in any file of the store" "$(leaks "$tmp/store" | sort -u)" ""
echo "1..$n"
