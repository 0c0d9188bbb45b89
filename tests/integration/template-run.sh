#!/bin/bash
# Containers restored from VM templates (docs/vm.md, Templates), for real
# (QEMU, TCG): 8 clones at once from one template (--parallel) with
# different commands and environments; a detached container (run -d)
# restored by its supervisor, then exec and stop; a shared host directory
# (-v) mounted after the restore, read and written. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/template.sh"
t_run_init
t_tmpl_init
trap 'U rm -f tw >/dev/null 2>&1; t_tmpl_cleanup; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
KERNEL=${UCRT_KERNEL:-$UCRT_SRC/build/kernel/vmlinux}
[ -f "$KERNEL" ] || { echo "1..0 # SKIP no ucrt kernel at $KERNEL"; exit 0; }
export UCRT_KERNEL=$KERNEL
U image pull -q "$IMG" >/dev/null 2>"$tmp/err" || { echo "1..0 # SKIP pull failed"; exit 0; }
key=$(U template create 2>"$tmp/err")
[ -n "$key" ] && ok "template built" || nok "template built"
ram=$(readlink "$tmp/root/templates/$key/ram")
sum0=$(sha256sum <"$ram")

# 8 at once, each its own command (by task index) and environment.
U --log-level debug run --rm --parallel 8 --max-concurrent 8 -e BASE=b "$IMG" sh -c '
	case $UCRT_TASK_INDEX in
	0|2|4|6) echo "even $UCRT_TASK_INDEX $BASE" ;;
	*) X=odd$UCRT_TASK_INDEX; echo "$X $(expr $UCRT_TASK_INDEX \* 10)" ;;
	esac; dd if=/dev/urandom bs=8 count=1 2>/dev/null | busybox od -An -tx1 >/tmp/r; exit 0' >"$tmp/out" 2>"$tmp/err"
st=$?
is "8 clones at once exit 0" "$st" 0
is "each ran its own command with its own environment" "$(sort "$tmp/out")" "[0] even 0 b
[1] odd1 10
[2] even 2 b
[3] odd3 30
[4] even 4 b
[5] odd5 50
[6] even 6 b
[7] odd7 70"
is "all 8 were restored from the template" "$(grep -c "restoring from template ${key:0:12}" "$tmp/err")" 8
grep -q "8 instance(s): 8 succeeded" "$tmp/err" && ok "summary: 8 succeeded" || nok "summary: 8 succeeded"

# Detached: the supervisor restores it; exec and stop work as cold.
id=$(U run -d --name tw "$IMG" sh -c 'trap "echo got-term; exit 7" TERM; echo started; while true; do sleep 0.2; done' 2>"$tmp/err")
is "run -d prints the id" "$(echo "$id" | grep -cE '^[0-9a-f]{64}$')" 1
qpid=$(grep -o '"qemu_pid": *[0-9]*' "$tmp/root/containers/$id/state.json" | grep -o '[0-9]*$')
[ -n "$qpid" ] && tr '\0' ' ' <"/proc/$qpid/cmdline" 2>/dev/null | grep -q -- "-incoming defer" &&
	ok "its QEMU is a clone (-incoming defer)" || nok "its QEMU is a clone (pid ${qpid:-none})"
out=$(U exec -e X=1 tw sh -c 'echo exec $X; echo data >/srv/file; exit 3' 2>"$tmp/err"); st=$?
is "exec in the clone" "$out" "exec 1"
is "exec exit status" "$st" 3
is "a second exec sees the first one's file" "$(U exec tw cat /srv/file 2>"$tmp/err")" "data"
U stop -t 5 tw >/dev/null 2>"$tmp/err"; is "stop exits 0" "$?" 0
is "the process got SIGTERM" "$(U logs tw 2>/dev/null | tail -1)" "got-term"
U rm tw >/dev/null 2>&1

# A share: the template has one 9p device, the clone mounts its directory
# after the restore (a mounted 9p share would have blocked the save).
key1=$(U template create --shares 1 2>"$tmp/err")
[ -n "$key1" ] && [ "$key1" != "$key" ] && ok "a template with one share is another template" || nok "template --shares 1"
mkdir -p "$tmp/share" && echo from-host >"$tmp/share/in" && chmod 0777 "$tmp/share"	# QEMU's user writes
out=$(U --log-level debug run --rm -v "$tmp/share:/data" "$IMG" sh -c 'cat /data/in; echo from-guest >/data/out' 2>"$tmp/err")
is "the clone reads the shared directory" "$out" "from-host"
is "... and writes to it" "$(cat "$tmp/share/out" 2>/dev/null)" "from-guest"
grep -q "restoring from template ${key1:0:12}" "$tmp/err" && ok "... restored from the one-share template" ||
	nok "... restored from the one-share template"
is "the template's RAM file is unchanged after all that" "$(sha256sum <"$ram")" "$sum0"
echo "1..$n"
