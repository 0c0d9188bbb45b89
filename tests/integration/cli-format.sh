#!/bin/bash
# Output for scripts: --format (Go templates, table, json) on ps, image ls,
# inspect (-f), volume ls; ps --filter/-q/--no-trunc; --label on run;
# image ls REPO[:TAG]. Exact expected strings. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f fa fb >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
rfc3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

U run -d --name fa -l tier=web --label team=x "$IMG" sleep 100 >/dev/null 2>"$tmp/err" || nok "run -d fa"
U run --name fb -l tier=db "$IMG" true >/dev/null 2>"$tmp/err" || nok "run fb"

# ---- ps ----
is "ps --format: one line per running container" "$(U ps --format '{{.Names}} {{.State}} {{.Labels}}' 2>"$tmp/err")" \
	"fa running tier=web,team=x"
# The durations depend on the machine's speed: fa may be up a minute once
# fb's VM ran on a loaded machine.
is "ps -a --format: all of them" "$(U ps -a --format '{{.Names}} {{.State}} {{.Status}}' 2>"$tmp/err" | sort |
	sed 's/ ago$//; s/[0-9][0-9]* \(second\|minute\)s\{0,1\}$/N/')" \
	"fa running Up N
fb exited Exited (0) N"
w=$(( ${#IMG} + 3 ))
is "ps table: aligned under docker's headers" "$(U ps --format 'table {{.Names}}\t{{.Image}}\t{{.ID}}' 2>"$tmp/err")" \
	"$(printf 'NAMES     %-*sCONTAINER ID\nfa        %-*s%s' $w IMAGE $w "$IMG" "$(U ps -q)")"
is "ps --filter status=exited (no -a needed)" "$(U ps --filter status=exited --format '{{.Names}}' 2>"$tmp/err")" fb
is "ps --filter label=KEY=VALUE" "$(U ps -a --filter label=tier=web --format '{{.Names}}' 2>"$tmp/err")" fa
is "ps --filter label=KEY matches any value" "$(U ps -a --filter label=tier --format '{{.Names}}' 2>"$tmp/err" | sort | tr '\n' ' ')" "fa fb "
is "ps --filter name= and status= AND" "$(U ps -a --filter name=f --filter status=running --format '{{.Names}}' 2>"$tmp/err")" fa
is "ps -q: the short id" "$(U ps -q | grep -cE '^[0-9a-f]{12}$')" 1
is "ps -q --no-trunc: the full id" "$(U ps -q --no-trunc | grep -cE '^[0-9a-f]{64}$')" 1
U ps -a --format json >"$tmp/ps.json" 2>"$tmp/err"
python3 - "$tmp/ps.json" "$IMG" <<'PY' && ok "ps --format json: one object a line, docker's keys, RFC 3339" || nok "ps --format json"
import json, re, sys
rows = {r["Names"]: r for r in map(json.loads, open(sys.argv[1]))}
a = rows["fa"]
assert sorted(a) == ["Command", "CreatedAt", "ID", "Image", "Labels", "Names", "Ports", "RunningFor", "State", "Status"], sorted(a)
assert a["Image"] == sys.argv[2] and a["State"] == "running" and a["Labels"] == "tier=web,team=x", a
assert a["Command"] == '"sleep 100"' and re.fullmatch(r"[0-9a-f]{12}", a["ID"]), a
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["CreatedAt"]) and a["RunningFor"].endswith(" ago"), a
assert rows["fb"]["Status"].startswith("Exited (0) "), rows["fb"]
PY
# RunningFor and Status tick between two calls: compare the rest.
steady() { sed -E 's/"(RunningFor|Status)":"[^"]*"//g'; }
is "{{json .}} is the --format json line" "$(U ps --format '{{json .}}' | steady)" "$(U ps --format json | steady)"
U ps --format '{{.Nope}}' >"$tmp/out" 2>"$tmp/err"; st=$?
is "a template typo: 125, names the field, prints nothing" "$st $(grep -c "no field 'Nope'" "$tmp/err") $(wc -c <"$tmp/out")" "125 1 0"
U ps --format '{{.ID' >/dev/null 2>"$tmp/err"; is "an unclosed action: 125" "$?" 125
U ps --filter color=red >/dev/null 2>"$tmp/err"; st=$?
is "an unknown filter key: 125 naming it" "$st $(grep -c "'color'" "$tmp/err")" "125 1"
U create --name fc -l made=create "$IMG" true >/dev/null 2>"$tmp/err"
is "create --label: the same label parsing as run" "$(U ps -a --filter label=made=create --format '{{.Names}} {{.State}} {{.Labels}}' 2>"$tmp/err")" \
	"fc created made=create"
U rm -f fc >/dev/null 2>&1
U run --rm -l =x "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
is "run --label with an empty key: 125 naming it" "$st $(grep -c "invalid label '=x'" "$tmp/err")" "125 1"

# ---- inspect ----
is "inspect -f: fields, labels, effective memory and CPUs" \
	"$(U inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{index .Config.Labels "tier"}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}' fb 2>"$tmp/err")" \
	"fb exited 0 db 268435456 1000000000"
is "inspect --format '{{json .Config.Labels}}'" "$(U inspect --format '{{json .Config.Labels}}' fa 2>"$tmp/err")" '{"tier":"web","team":"x"}'
is "inspect -f runs once per container" "$(U inspect -f '{{.Name}}' fa fb 2>"$tmp/err")" "fa
fb"
is "inspect -f with range" "$(U inspect -f '{{range .Config.Cmd}}<{{.}}>{{end}}' fa 2>"$tmp/err")" "<sleep><100>"
U inspect fb >"$tmp/insp" 2>"$tmp/err"
python3 - "$tmp/insp" <<'PY' && ok "inspect JSON: docker's keys, RFC 3339 times" || nok "inspect JSON"
import json, re, sys
d = json.load(open(sys.argv[1]))[0]
t = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
assert d["Name"] == "fb" and d["Path"] == "true" and d["Args"] == [], d
assert re.fullmatch(t, d["Created"]) and re.fullmatch(t, d["State"]["StartedAt"]) and re.fullmatch(t, d["State"]["FinishedAt"]), d
assert d["Config"]["Labels"] == {"tier": "db"} and d["HostConfig"]["CpuCount"] == 1, d
PY
is "inspect --format json is the default" "$(U inspect --format json fb)" "$(U inspect fb)"

# ---- image ls ----
is "image ls --format: fields" "$(U image ls --format '{{.Repository}}:{{.Tag}} {{.Platform}}' 2>"$tmp/err")" "$IMG linux/amd64"
is "image ls table: aligned, headers" "$(U image ls --format 'table {{.Tag}}\t{{.Platform}}\t{{.ID}}' 2>"$tmp/err")" \
	"TAG       PLATFORM      IMAGE ID
1         linux/amd64   $(U image ls -q)"
U image ls >"$tmp/ls" 2>"$tmp/err"
is "image ls: the default table's header" "$(head -1 "$tmp/ls" | tr -s ' ')" "REPOSITORY TAG IMAGE ID PLATFORM CREATED SIZE"
sz=$(U image ls --format '{{.Size}}')
echo "$sz" | grep -qE '^[0-9]+(\.[0-9]+)?(B|kB|MB)$' && ok "image ls sizes as docker prints them ($sz)" || nok "size '$sz'"
is "image ls REPO: that repository" "$(U image ls --format '{{.Tag}}' "${IMG%:1}")" 1
is "image ls REPO:TAG: that tag" "$(U image ls --format '{{.Tag}}' "$IMG")" 1
is "image ls REPO:other-tag: nothing" "$(U image ls -q "${IMG%:1}:2")" ""
is "image ls other repository: nothing" "$(U image ls -q "${IMG%busybox:1}nothere")" ""
python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); assert r["Repository"]+":"+r["Tag"]==sys.argv[1] and r["Platform"]=="linux/amd64" and len(r["ID"])==12, r' \
	"$IMG" < <(U image ls --format json) && ok "image ls --format json: docker's keys" || nok "image ls --format json"

# ---- volume ls ----
U volume create --size 64M v1 >/dev/null 2>"$tmp/err"
is "volume ls --format" "$(U volume ls --format '{{.Name}} {{.Driver}} {{.InUse}} {{.Size}}' 2>"$tmp/err")" "v1 local false 67.1MB"
is "volume ls table" "$(U volume ls --format 'table {{.Name}}\t{{.Size}}' 2>"$tmp/err")" "VOLUME NAME   SIZE
v1            67.1MB"
python3 -c 'import json,sys,re; r=json.loads(sys.stdin.read()); assert r["Name"]=="v1" and re.fullmatch(sys.argv[1], r["CreatedAt"]), r' \
	"$rfc3339" < <(U volume ls --format json) && ok "volume ls --format json" || nok "volume ls --format json"
echo "1..$n"
