#!/bin/bash
# VM templates (docs/vm.md, Templates) with real QEMU: the first run boots
# cold and builds the template in the background; later runs restore from
# it and run the container correctly (output, env, exit status, writes to
# the root disk); the template's RAM file is never written by its clones;
# a different kernel file is a different template; prune removes the
# stale ones; rm/prune ask or need -f; --no-template and UCRT_TEMPLATES=off
# boot cold. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/template.sh"
t_run_init
t_tmpl_init
trap 't_tmpl_cleanup; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
KERNEL=${UCRT_KERNEL:-$UCRT_SRC/build/kernel/vmlinux}
[ -f "$KERNEL" ] || { echo "1..0 # SKIP no ucrt kernel at $KERNEL"; exit 0; }
export UCRT_KERNEL=$KERNEL

# First run: cold, and a template build starts behind it.
out=$(U --log-level debug run --rm "$IMG" echo first 2>"$tmp/err"); st=$?
is "first run (no template yet) prints its output" "$out" "first"
is "... exits 0" "$st" 0
grep -q "cold boot (template: none built yet)" "$tmp/err" && ok "first run boots cold" || nok "first run boots cold"
t_tmpl_wait 1 && ok "the template was built in the background" || nok "the template was built in the background"
key=$(U template ls -q)
U template ls >"$tmp/ls" 2>&1
grep -q "^${key:0:12} .* 256MiB .* ok$" "$tmp/ls" && ok "template ls shows it (1 vCPU, 256 MiB, ok)" ||
	{ nok "template ls shows it"; sed 's/^/# /' "$tmp/ls"; }
ram=$(readlink "$tmp/root/templates/$key/ram")
case "$ram" in "$UCRT_TEMPLATE_DIR"/*.ram) ok "its RAM file is on tmpfs ($UCRT_TEMPLATE_DIR)" ;;
	*) nok "its RAM file is on tmpfs: $ram" ;; esac
sum0=$(sha256sum <"$ram")

# Clones: the container runs as it would cold.
out=$(U --log-level debug run --rm -e FOO=bar "$IMG" sh -c 'echo $FOO $IMGVAR; pwd; echo data >/srv/f; cat /srv/f; exit 3' 2>"$tmp/err"); st=$?
is "a clone runs the container (env, image config, root disk writes)" "$out" "bar from-image
/srv
data"
is "... with its exit status" "$st" 3
grep -q "restoring from template ${key:0:12}" "$tmp/err" && ok "... restored from the template" || nok "... restored from the template"
grep -q "timeline .*init ready.*process started" "$tmp/err" && ok "... through guest-init's usual start" || nok "... timeline"
# Memory written by the clone (a 32 MiB tmpfs file, page cache) stays its own.
out=$(U run --rm "$IMG" sh -c 'dd if=/dev/zero of=/tmp/big bs=1M count=32 2>/dev/null; wc -c </tmp/big' 2>"$tmp/err")
is "a clone writes 32 MiB of memory" "$out" "33554432"
U run --rm --read-only "$IMG" sh -c 'touch /x 2>/dev/null && echo rw || echo ro' >"$tmp/ro" 2>"$tmp/err"
is "a clone gets its own ucrt.* parameters (--read-only)" "$(cat "$tmp/ro")" "ro"
is "the template's RAM file is unchanged after its clones ran" "$(sha256sum <"$ram")" "$sum0"

# A damaged template: the run fails with QEMU's reason and the way out.
st_file=$tmp/root/templates/$key/state
cp "$st_file" "$tmp/state.good" && head -c 2000 "$tmp/state.good" >"$st_file"
U run --rm "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
is "a damaged template's clone fails (125)" "$st" 125
grep -q "qemu: .*(restoring from a VM template: run with --no-template, or remove it: ucrt template prune --all)" "$tmp/err" &&
	ok "... saying so, with the way out" || nok "... saying so, with the way out"
cp "$tmp/state.good" "$st_file"

# Off switches.
U --log-level debug run --rm --no-template "$IMG" true 2>"$tmp/err"
grep -q "restoring from template" "$tmp/err" && nok "--no-template boots cold" || ok "--no-template boots cold"
UCRT_TEMPLATES=off U --log-level debug run --rm "$IMG" true 2>"$tmp/err"
grep -q "restoring from template" "$tmp/err" && nok "UCRT_TEMPLATES=off boots cold" || ok "UCRT_TEMPLATES=off boots cold"

# Another kernel file is another template; changing it makes it stale.
cp "$KERNEL" "$tmp/vmlinux2"
key2=$(U template create --kernel "$tmp/vmlinux2" 2>"$tmp/err")
[ -n "$key2" ] && [ "$key2" != "$key" ] && ok "a different kernel file gives a new template" ||
	nok "a different kernel file gives a new template ($key2)"
is "both are listed" "$(U template ls -q | sort)" "$(printf '%s\n' "$key" "$key2" | sort)"
out=$(U template create 2>&1)
is "template create of an existing one prints its key" "$out" "$key"
touch -d '2001-01-01' "$tmp/vmlinux2"
U template ls >"$tmp/ls" 2>&1
grep -q "^${key2:0:12} .*STALE$" "$tmp/ls" && ok "a changed kernel makes its template stale" || { nok "stale"; sed 's/^/# /' "$tmp/ls"; }
U template prune </dev/null >"$tmp/out" 2>"$tmp/err"; st=$?
[ "$st" -ne 0 ] && grep -q "confirm with -f" "$tmp/err" && ok "prune without -f and without a terminal refuses" ||
	nok "prune refuses without -f"
ram2=$(readlink "$tmp/root/templates/$key2/ram")
is "prune -f removes the stale one" "$(U template prune -f)" "Removed 1 templates"
is "... and keeps the good one" "$(U template ls -q)" "$key"
[ ! -e "$ram2" ] && ok "... and its RAM file" || nok "... and its RAM file"
U template rm </dev/null "${key:0:8}" >/dev/null 2>"$tmp/err"
[ $? -ne 0 ] && [ -n "$(U template ls -q)" ] && ok "rm without -f refuses" || nok "rm without -f refuses"
U template rm -f nothex >/dev/null 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "want a key" "$tmp/err" && ok "rm of a bad key: a clear error" || nok "rm of a bad key"
is "rm -f KEYPREFIX removes it" "$(U template rm -f "${key:0:8}")" "${key:0:8}"
is "nothing is left" "$(U template ls -q)" ""
[ ! -e "$ram" ] && ok "... not even its RAM file" || nok "... RAM file left"
for c in create ls rm prune; do
	U template $c --help >"$tmp/h" 2>&1 && grep -q "^Usage: ucrt template $c" "$tmp/h" && ok "template $c --help" || nok "template $c --help"
done
is "--help built nothing" "$(U template ls -q)" ""
echo "1..$n"
