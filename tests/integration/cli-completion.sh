#!/bin/bash
# bash completion: completions/ucrt.bash sourced in bash, completing as a
# user would press TAB: commands, a group's commands, a command's options
# (from the tables its parser uses), container and image names from the
# store, files after an option that takes a value. TAP.
set -u
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
UCRT_BIN=${UCRT_BIN:-$UCRT_SRC/build/ucrt}
[ -x "$UCRT_BIN" ] || { echo "1..0 # SKIP $UCRT_BIN not built"; exit 0; }
tmp=$(mktemp -d /tmp/ucrt-complete.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '# got:  %s\n# want: %s\n' "$2" "$3"; fi; }
mkdir -p "$tmp/bin" "$tmp/root"
ln -s "$UCRT_BIN" "$tmp/bin/ucrt"
# COMP: the words of a command line; prints the sorted candidates for the last
COMP() {
	PATH=$tmp/bin:$PATH bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_ucrt; [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$UCRT_SRC/completions/ucrt.bash" "$@"
}
is "the script registers _ucrt for ucrt" "$(bash -c ". '$UCRT_SRC/completions/ucrt.bash'; complete -p ucrt")" \
	"complete -o bashdefault -o default -F _ucrt ucrt"
is "ucrt i<TAB>: commands and groups" "$(COMP ucrt i)" "image images info inspect "
is "ucrt image p<TAB>: the group's commands" "$(COMP ucrt image p)" "prune pull push "
is "ucrt ps --<TAB>: ps's own option table" "$(COMP ucrt ps --)" "--all --filter --format --help --no-trunc --quiet "
is "ucrt stop -<TAB>: getopt's short options" "$(COMP ucrt stop -)" "-h -t "
c=$(COMP ucrt run --net)
is "ucrt run --net<TAB>" "$c" "--network --network-policy "
is "ucrt --root DIR image ls --f<TAB>: global options skipped" "$(COMP ucrt --root "$tmp/root" image ls --f)" "--format "
is "ucrt --<TAB>: global options" "$(COMP ucrt --)" "--help --log-level --root --version "
# container and image names from the store
mkdir -p "$tmp/root/containers/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
printf '{"id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","name":"webby","disk":"/d","process":{"args":["true"],"env":[]}}\n' \
	>"$tmp/root/containers/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/config.json"
is "ucrt --root R logs w<TAB>: container names" "$(COMP ucrt --root "$tmp/root" logs w)" "webby "
is "ucrt --root R run <TAB>: no images yet" "$(COMP ucrt --root "$tmp/root" run '')" ""
is "after an option that takes a value: nothing (files by default)" "$(COMP ucrt run --env-file '')" ""
# every option ps parses is offered: the table and the completion agree
for o in --all --quiet --no-trunc --filter --format; do
	"$UCRT_BIN" --root "$tmp/root" ps $o >/dev/null 2>&1 </dev/null || [ "$o" = --filter ] || [ "$o" = --format ] || nok "ps $o refused"
done
"$UCRT_BIN" --root "$tmp/root" ps --no-such-option >/dev/null 2>&1 && nok "ps accepts anything" || ok "an option not in the table is refused by ps itself"
if [ -f "$UCRT_SRC/Makefile" ] && [ "$UCRT_BIN" = "$UCRT_SRC/build/ucrt" ]; then
	make -s -C "$UCRT_SRC" install DESTDIR="$tmp/inst" PREFIX=/usr >/dev/null 2>&1
	cmp -s "$tmp/inst/usr/share/bash-completion/completions/ucrt" "$UCRT_SRC/completions/ucrt.bash" &&
		ok "make install puts it where bash-completion looks" || nok "make install: completion file"
else
	ok "# SKIP not the source tree's build"
fi
is "__complete is not listed in --help" "$("$UCRT_BIN" --help | grep -c __complete)" 0
echo "1..$n"
