#!/bin/bash
# login as docker users type it: on a terminal it asks for what -u/-p did
# not give (the password without echo); without a terminal it says what is
# missing. Credential helpers from config.json (credsStore, credHelpers:
# docker-credential-NAME get) supply a pull's credentials. Against an
# htpasswd registry; terminals are real ptys (tests/lib/pty-run.py). TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$UCRT_SRC/tests/lib/registry.sh"
. "$UCRT_SRC/tests/lib/images.sh"
t_img_init login
trap 't_reg_stop; rm -rf "$tmp"' EXIT
U() { REGISTRY_AUTH_FILE=$tmp/auth.json "$UCRT_BIN" --root "$tmp/store" "$@"; }
PTY() { REGISTRY_AUTH_FILE=$tmp/auth.json python3 "$UCRT_SRC/tests/lib/pty-run.py" "$@"; }

t_reg_start "$tmp/reg" http || { echo "1..0 # SKIP registry did not start"; exit 0; }
t_img_build "$tmp/fx" v1 >/dev/null
t_reg_upload "$tmp/fx" private/app v1 || nok "seed"
t_reg_stop
t_reg_start "$tmp/reg" htpasswd || nok "htpasswd registry"

# ---- prompts ----
PTY --expect "Password: " --send "$REG_PASS\n" -- "$UCRT_BIN" --root "$tmp/store" login -u "$REG_USER" "$REG" >"$tmp/out" 2>&1
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '# got:  %s\n# want: %s\n' "$2" "$3"; fi; }
is "login -u on a terminal asks for the password" "$? $(grep -c 'Login Succeeded' "$tmp/out")" "0 1"
grep -q -- "$REG_PASS" "$tmp/out" && nok "the password was echoed" || ok "the password is not echoed"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["auths"]; assert sys.argv[2] in a, a' "$tmp/auth.json" "$REG" &&
	ok "the credentials are stored" || nok "credentials stored"
U logout "$REG" >/dev/null 2>&1
PTY --expect "Username: " --send "$REG_USER\n" --expect "Password: " --send "$REG_PASS\n" -- \
	"$UCRT_BIN" --root "$tmp/store" login "$REG" >"$tmp/out" 2>&1
is "login alone on a terminal asks for both" "$? $(grep -c 'Login Succeeded' "$tmp/out")" "0 1"
PTY --expect "Password: " --send "wrong\n" -- "$UCRT_BIN" --root "$tmp/store" login -u "$REG_USER" "$REG" >"$tmp/out" 2>&1
is "a wrong password typed: refused" "$? $(grep -c '401' "$tmp/out")" "125 1"
U login -u "$REG_USER" "$REG" </dev/null >"$tmp/out" 2>"$tmp/err"
is "no terminal, no -p: 125 saying what is missing" "$? $(grep -c 'password-stdin' "$tmp/err")" "125 1"
echo "$REG_PASS" | U login -u "$REG_USER" --password-stdin "$REG" >/dev/null 2>"$tmp/err"; is "--password-stdin still works" "$?" 0
U logout "$REG" >/dev/null 2>&1

# ---- credential helpers ----
mkdir -p "$tmp/bin"
cat >"$tmp/bin/docker-credential-ucrttest" <<SH
#!/bin/sh
read server
echo "\$1 \$server" >>"$tmp/helper.log"
[ "\$server" = "$REG" ] || { echo "credentials not found in native keychain"; exit 1; }
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$server" "$REG_USER" "$REG_PASS"
SH
cat >"$tmp/bin/docker-credential-wrong" <<SH
#!/bin/sh
read server
printf '{"ServerURL":"%s","Username":"%s","Secret":"nope"}\n' "\$server" "$REG_USER"
SH
chmod +x "$tmp/bin/"docker-credential-*
export PATH=$tmp/bin:$PATH
printf '{"credsStore":"ucrttest"}' >"$tmp/auth.json"
U image pull -q "$REG/private/app:v1" >/dev/null 2>"$tmp/err"; is "credsStore: a pull gets the helper's credentials" "$?" 0
is "the helper was run as docker runs it (get, the registry on stdin)" "$(head -1 "$tmp/helper.log")" "get $REG"
rm -rf "$tmp/store"
printf '{"credsStore":"ucrttest","credHelpers":{"%s":"wrong"}}' "$REG" >"$tmp/auth.json"
U image pull -q "$REG/private/app:v1" >/dev/null 2>"$tmp/err"; st=$?
is "credHelpers wins for its registry (wrong password: refused)" "$st $(grep -c 'requires authentication\|401' "$tmp/err")" "125 1"
rm -rf "$tmp/store"
printf '{"credsStore":"absent"}' >"$tmp/auth.json"
U image pull -q "$REG/private/app:v1" >/dev/null 2>"$tmp/err"; st=$?
is "a helper not on PATH: warned, then anonymous (refused)" "$st $(grep -c 'docker-credential-absent' "$tmp/err")" "125 1"
echo "1..$n"
