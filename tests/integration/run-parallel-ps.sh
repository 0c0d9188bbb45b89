#!/bin/bash
# `ucrt ps` lists the running instances of `ucrt run --parallel`: 4 rows
# (names, ids, "Up", labels ucrt.parallel.group/index/count and the run's
# --label), listed in order of creation with a kept container, -q,
# --filter label=/name=/status=/id=, --format json; an instance
# that ends leaves the list; exec/logs/start/inspect of an instance are
# refused with a message naming the run, rm without -f as running; after
# kill -9 of the run, `system check` reports the stale records, ps shows
# nothing and deletes them (and the run's socket), and the check is clean
# again. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
# The instances share a -v directory (9p): ucrt's own kernel has 9p, Debian's
# cloud kernel does not, and a binary outside build/ (the ASan one) would not
# find ucrt's kernel next to itself: name it (as run-mounts.sh does).
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
t_run_init
trap 't_reg_stop; [ -n "${p:-}" ] && kill -9 $p 2>/dev/null; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }

# Where the records are (modules/container/instances.c).
mkdir -p "$tmp/root" "$tmp/ctl"
h=$(printf %s "$(realpath "$tmp/root")" | sha256sum | cut -c1-16)
if [ "$(id -u)" = 0 ]; then recs=/run/ucrt/instances/$h
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then recs=$XDG_RUNTIME_DIR/ucrt/instances/$h
else recs=/tmp/ucrt-$(id -u)/instances/$h; fi

# A kept container made before the run (created: no VM) lists first with -a.
U create --name kept "$IMG" true >/dev/null 2>>"$tmp/err" || nok "create kept"
sleep 1
# Each instance runs until the test creates /ctl/end-<index>.
"$UCRT_BIN" --root "$tmp/root" run --parallel 4 --max-concurrent 4 --name job --label team=a -v "$tmp/ctl:/ctl" \
	"$IMG" sh -c 'echo up $UCRT_TASK_INDEX; while [ ! -e /ctl/end-$UCRT_TASK_INDEX ]; do sleep 1; done' \
	>"$tmp/out" 2>"$tmp/err" &
p=$!
for _ in $(seq 600); do [ "$(grep -c '] up ' "$tmp/out")" = 4 ] && break; sleep 0.5; done
is "4 instances started" "$(grep -c '] up ' "$tmp/out")" 4

U ps --format '{{.Names}} {{.State}} {{.Image}}' >"$tmp/ps" 2>>"$tmp/err"
is "ps: one row per instance, named <--name>-<index>, running" "$(sort "$tmp/ps")" \
	"$(for i in 0 1 2 3; do echo "job-$i running $IMG"; done)"
U ps --format '{{.Status}}' | grep -vc '^Up ' >"$tmp/n"
is "ps: each Up" "$(cat "$tmp/n")" 0
U ps --format '{{.Names}} {{.Labels}}' >"$tmp/labels"
ok_labels=1
for i in 0 1 2 3; do
	l=$(grep "^job-$i " "$tmp/labels")
	for want in "ucrt.parallel.index=$i" ucrt.parallel.count=4 team=a ucrt.parallel.group=; do
		case ",${l#* }," in *",$want"*) ;; *) ok_labels=0; echo "# job-$i: no $want in: $l" ;; esac
	done
done
[ $ok_labels = 1 ] && ok "labels: the run's own, group, index, count" || nok "labels"
is "one group label for the 4" "$(grep -o 'ucrt.parallel.group=[0-9a-f]*' "$tmp/labels" | sort -u | wc -l)" 1
is "ps -a: containers and instances in order of creation" "$(U ps -a --format '{{.Names}}' | head -1) $(U ps -a -q | wc -l)" "kept 5"
U ps -q >"$tmp/ids"
is "ps -q: 4 distinct 12-hex ids" "$(grep -cE '^[0-9a-f]{12}$' "$tmp/ids") $(sort -u "$tmp/ids" | wc -l)" "4 4"
is "ps -a -q: the same and the created one" "$(U ps -a -q | sort)" "$( (cat "$tmp/ids"; U ps -a -q --filter name=kept) | sort)"
is "--filter label=ucrt.parallel.index=2" "$(U ps --filter label=ucrt.parallel.index=2 --format '{{.Names}}')" job-2
is "--filter label=team=a" "$(U ps --filter label=team=a -q | wc -l)" 4
is "--filter name=job-1" "$(U ps --filter name=job-1 --format '{{.Names}}')" job-1
is "--filter status=exited: none" "$(U ps --filter status=exited -q)" ""
id2=$(U ps --filter label=ucrt.parallel.index=2 -q)
is "--filter id=" "$(U ps --filter id="$id2" --format '{{.Names}}')" job-2
U ps --format json >"$tmp/json"
python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 4 and all(r["State"] == "running" and r["Command"].startswith("\"sh -c") for r in rows), rows
' "$tmp/json" && ok "--format json" || nok "--format json"

# Commands that cannot apply to an instance refuse it, naming its run
# (stop, kill and rm -f reach it: run-parallel-stop.sh).
for cmd in "exec job-1 true" "logs job-1" "start job-1" "inspect job-1" "logs $id2"; do
	U $cmd >/dev/null 2>"$tmp/cerr"; st=$?
	[ $st = 125 ] && grep -q "instance [12] of the \`ucrt run --parallel\` with pid $p" "$tmp/cerr" &&
		ok "$cmd: refused, naming the run" || { nok "$cmd: refused ($st)"; sed 's/^/# /' "$tmp/cerr"; }
done
U rm job-1 >/dev/null 2>"$tmp/cerr"; st=$?
[ $st = 125 ] && grep -q "cannot remove job-1: it is a running instance .* with pid $p: stop it first or use rm -f" "$tmp/cerr" &&
	ok "rm without -f: refused as running" || { nok "rm refused ($st)"; sed 's/^/# /' "$tmp/cerr"; }
is "the instances still run" "$(U ps -q | wc -l)" 4

# An instance that ends leaves the list (and its record goes).
touch "$tmp/ctl/end-3"
for _ in $(seq 300); do [ "$(U ps -q | wc -l)" = 3 ] && break; sleep 0.5; done
is "an ended instance leaves ps" "$(U ps --format '{{.Names}}' | sort | tr '\n' ' ')" "job-0 job-1 job-2 "
is "3 records" "$(ls "$recs" | grep -c '\.json$')" 3
is "the run's socket" "$(ls "$recs" | grep -c "\-$p\.sock$")" 1

# kill -9 of the run: its VMs go (PR_SET_PDEATHSIG), its records stay
# until a reader sees the owner is dead. The created container stays.
kill -9 $p; wait $p 2>/dev/null; p=
for _ in $(seq 600); do [ "$(t_qemu_count "$tmp/root")" = 0 ] && break; sleep 0.1; done
is "no QEMU left" "$(t_qemu_count "$tmp/root")" 0
U system check >"$tmp/check" 2>&1; st=$?
is "system check reports the 3 stale records" "$st $(grep -c 'record of a --parallel instance job-[0-2] whose ucrt (pid [0-9]*) is gone' "$tmp/check")" "1 3"
is "ps shows no instance" "$(U ps -a --format '{{.Names}}'; echo "status $?")" "kept
status 0"
is "ps deleted the records" "$(ls -A "$recs")" ""
U system check >"$tmp/check" 2>&1; st=$?
is "system check is clean" "$st" 0 || sed 's/^/# /' "$tmp/check"
echo "1..$n"
