#!/bin/bash
# Registry auth and TLS: HTTPS with a test CA, htpasswd basic auth with
# login/logout, bearer tokens (anonymous and credentialed) from a test token
# server, credentials kept from a token server on another host. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init auth
trap 't_reg_stop; rm -rf "$tmp"' EXIT
# (not exported: docker-registry reads REGISTRY_* variables as its own config)
U() { REGISTRY_AUTH_FILE=$tmp/auth.json "$UCRT_BIN" --root "$tmp/store" "$@"; }

t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }
t_img_build "$tmp/fx" v1 >/dev/null
t_reg_upload "$tmp/fx" private/app v1 && t_reg_upload "$tmp/fx" public/app v1 || nok "seed"
t_reg_stop

# HTTPS with a test CA
t_reg_start "$tmp/reg" https || nok "https registry"
fails "https: unknown CA is refused" "certificate" U image pull "$REG/private/app:v1"
check "https: --cert-dir with the CA" U image pull --cert-dir "$REG_CERTS" "$REG/private/app:v1"
rm -rf "$tmp/store"
check "https: --tls-verify=false" U image pull --tls-verify=false "$REG/private/app:v1"
t_reg_stop; rm -rf "$tmp/store"

# htpasswd basic auth
t_reg_start "$tmp/reg" htpasswd || nok "htpasswd registry"
fails "basic: no credentials -> clear error" "requires authentication" U image pull "$REG/private/app:v1"
check "basic: --creds" U image pull --creds "$REG_USER:$REG_PASS" "$REG/private/app:v1"
fails "login with a wrong password fails" "401" U login -u "$REG_USER" -p wrong "$REG"
check "login" U login -u "$REG_USER" -p "$REG_PASS" "$REG"
[ "$(stat -c %a "$tmp/auth.json")" = 600 ] && ok "auth file mode 0600" || nok "auth file mode"
rm -rf "$tmp/store"
check "basic: credentials from the auth file" U image pull "$REG/private/app:v1"
check "basic: push" U image push "$REG/private/app:v1" "$REG/private/copy:v1"
check "logout" U logout "$REG"
rm -rf "$tmp/store"
fails "after logout: refused" "requires authentication" U image pull "$REG/private/app:v1"
t_reg_stop; rm -rf "$tmp/store"

# bearer tokens
t_reg_start "$tmp/reg" token || nok "token registry"
check "token: anonymous pull of a public repo" U image pull "$REG/public/app:v1"
fails "token: anonymous pull of a private repo refused" "HTTP 401" U image pull "$REG/private/app:v1"
check "token: credentialed pull" U image pull --creds "$REG_USER:$REG_PASS" "$REG/private/app:v1"
fails "token: wrong password refused by the token server" "token server" U image pull --creds "$REG_USER:nope" "$REG/private/app:v1"
check "token: credentialed push (cross-repo mount)" U image push --creds "$REG_USER:$REG_PASS" "$REG/private/app:v1" "$REG/private/mounted:v1"
grep -q "mount=" "$tmp/reg/registry.log" && ok "push tried a cross-repository mount" || nok "no mount request in the registry log"
t_reg_stop

# A token realm on another host over plain HTTP (127.0.0.2 for the registry
# 127.0.0.1): the credentials must not go there, neither from login nor from
# a pull; the token is asked for anonymously.
TOKEN_HOST=127.0.0.2 t_reg_start "$tmp/reg" token || nok "token registry with a realm on 127.0.0.2"
tlog=$tmp/reg/token/log
fails "login: credentials not sent to a plain-HTTP realm on another host" "not sent to the token server" \
	U login -u "$REG_USER" -p "$REG_PASS" "$REG"
U --log-level debug image pull --creds "$REG_USER:$REG_PASS" "$REG/private/app:v1" >"$tmp/out" 2>"$tmp/err"
grep -q "not sending the credentials for $REG to the token server http://127.0.0.2" "$tmp/err" &&
	ok "pull: debug log says why the token is anonymous" || nok "pull: no debug line about withheld credentials"
grep -q "HTTP 401.*credentials not sent to the token server http://127.0.0.2.*another host" "$tmp/err" &&
	ok "pull: the 401 error says the credentials were kept back" || nok "pull: 401 without the reason"
check "realm on another host: anonymous pull of a public repo" U image pull "$REG/public/app:v1"
grep -q "request without credentials" "$tlog" && ! grep -q "request with credentials" "$tlog" &&
	ok "the token server on another host never saw the credentials" || nok "credentials sent to 127.0.0.2: $(sort "$tlog" | uniq -c)"
t_reg_stop; rm -rf "$tmp/store"

# A registry whose token realm names a local file: the client must not read it
# (it would send the file's "token" back to the registry).
printf '{"token":"from-a-local-file"}' >"$tmp/secret.json"
REG_REALM=file://$tmp/secret.json t_reg_start "$tmp/reg" token || nok "token registry with a file realm"
fails "token realm file:// is refused, not read" "not supported" U image pull "$REG/public/app:v1"
echo "1..$n"
