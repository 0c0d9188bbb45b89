#!/bin/bash
# ucrt-oci driven directly, as runc would be (docs/oci-runtime.md): a
# bundle of static busybox; create -> state (created, pid = --pid-file,
# valid against the runtime-spec state schema) -> start -> running ->
# exec -> kill with a named signal -> stopped -> delete; run's exit
# status; a read-only root; the JSON error log; features against the
# runtime-spec features document; a per-container process killed with -9
# (while running and while created) leaves state that delete --force
# cleans, and no QEMU; QEMU keeps only the file capabilities. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
[ -x "$OCI" ] || { echo "1..0 # SKIP $OCI not built"; exit 0; }
# A bundle's root is a 9p share: ucrt's own kernel (an ASan build in
# build/asan finds none next to itself).
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "1..0 # SKIP a bundle root needs ucrt's kernel (make kernel)"; exit 0; }
SCHEMA=/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema
[ -f "$SCHEMA/state-schema.json" ] ||
	{ echo "1..0 # SKIP runtime-spec schemas not installed (golang-github-opencontainers-specs-dev)"; exit 0; }
python3 -c 'import jsonschema' 2>/dev/null || { echo "1..0 # SKIP python3-jsonschema not installed"; exit 0; }
trap 'for p in $(cat "$tmp"/*.pid 2>/dev/null); do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
R() { "$OCI" --root "$tmp/oci" "$@"; }

bundle() {	# DIR CONFIG-PROCESS-JSON [ROOT-READONLY]
	mkdir -p "$1"/rootfs/{bin,etc,dev,proc,sys,tmp,run}
	cp /bin/busybox "$1/rootfs/bin/"
	# what podman and containerd's images have, for guest-init's
	# hostname and hosts on a read-only root
	touch "$1/rootfs/etc/hosts" "$1/rootfs/etc/hostname" "$1/rootfs/etc/resolv.conf"
	for a in sh echo cat sleep id hostname touch; do ln -sf busybox "$1/rootfs/bin/$a"; done
	cat >"$1/config.json" <<EOF
{"ociVersion": "1.0.2", "root": {"path": "rootfs", "readonly": ${3:-false}}, "hostname": "ocibox",
 "process": $2,
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
 "annotations": {"org.test": "yes"},
 "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}
EOF
}
# Validate stdin against a runtime-spec schema file (relative $refs
# resolve in Debian's schema directory).
valid() {	# SCHEMA-FILE
	python3 -W ignore -c '
import json, sys, jsonschema
path = sys.argv[1]
schema = json.load(open(path))
resolver = jsonschema.RefResolver("file://" + path, schema)
jsonschema.Draft4Validator(schema, resolver=resolver).validate(json.load(sys.stdin))
' "$1"
}
waitstatus() {	# ID STATUS (up to 60 s)
	for _ in $(seq 600); do
		R state "$1" 2>/dev/null | grep -q "\"status\": \"$2\"" && return 0
		sleep 0.1
	done
	return 1
}

R --help | grep -q "Usage: ucrt-oci" && ok "--help prints usage" || nok "--help prints usage"
R --version | grep -q "^ucrt-oci version" && ok "--version" || nok "--version"
R features >"$tmp/features" 2>"$tmp/err"; is "features" "$?" 0
# Debian's runtime-spec (1.0.2) predates the features document: this is
# its 1.1 schema's shape, with the namespace names from Debian's defs.
cat >"$tmp/features-schema.json" <<EOF
{"\$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
 "required": ["ociVersionMin", "ociVersionMax"],
 "properties": {
  "ociVersionMin": {"\$ref": "file://$SCHEMA/defs.json#/definitions/ociVersion"},
  "ociVersionMax": {"\$ref": "file://$SCHEMA/defs.json#/definitions/ociVersion"},
  "hooks": {"\$ref": "file://$SCHEMA/defs.json#/definitions/ArrayOfStrings"},
  "mountOptions": {"\$ref": "file://$SCHEMA/defs.json#/definitions/ArrayOfStrings"},
  "annotations": {"\$ref": "file://$SCHEMA/defs.json#/definitions/annotations"},
  "linux": {"type": "object", "properties": {
   "namespaces": {"type": "array", "items": {"\$ref": "file://$SCHEMA/defs-linux.json#/definitions/NamespaceType"}},
   "capabilities": {"type": "array", "items": {"type": "string", "pattern": "^CAP_[A-Z_]+\$"}},
   "cgroup": {"type": "object", "additionalProperties": {"type": "boolean"}},
   "seccomp": {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
   "apparmor": {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
   "selinux": {"type": "object", "properties": {"enabled": {"type": "boolean"}}}}}}}
EOF
valid "$tmp/features-schema.json" <"$tmp/features" 2>"$tmp/err" && ok "features validates" || nok "features validates"

# The whole life of one container.
bundle "$tmp/b1" '{"args": ["sh", "-c", "echo out; echo err >&2; trap \"echo got-usr1; exit 12\" USR1; while :; do sleep 0.1; done"], "env": ["PATH=/bin"], "cwd": "/"}'
R --log "$tmp/c1.log" --debug create --bundle "$tmp/b1" --pid-file "$tmp/c1.pid" c1 >"$tmp/c1.out" 2>"$tmp/c1.err" &
CPID=$!
wait $CPID; is "create" "$?" 0
R state c1 >"$tmp/state.out" 2>"$tmp/err"; is "state" "$?" 0
grep -q '"status": "created"' "$tmp/state.out" && ok "state: created" || nok "state: created"
grep -q "\"pid\": $(cat "$tmp/c1.pid" 2>/dev/null)," "$tmp/state.out" && ok "state pid = --pid-file" || nok "state pid = --pid-file"
grep -q '"org.test": "yes"' "$tmp/state.out" && ok "state carries the annotations" || nok "state carries the annotations"
valid "$SCHEMA/state-schema.json" <"$tmp/state.out" 2>"$tmp/err" && ok "state validates (created)" || nok "state validates (created)"
kill -0 "$(cat "$tmp/c1.pid")" && ok "the per-container process lives on after create" || nok "per-container process lives"
# create boots the VM; start only lets the held process run.
for _ in $(seq 600); do pgrep -P "$(cat "$tmp/c1.pid")" qemu-system >/dev/null && break; sleep 0.1; done
pgrep -P "$(cat "$tmp/c1.pid")" qemu-system >/dev/null && ok "create boots the VM (QEMU runs before start)" ||
	nok "create boots the VM (QEMU runs before start)"
# The bundle's root is a 9p share with real owners: QEMU stays root, with
# only the file capabilities that needs (docs/security.md).
qp=$(pgrep -P "$(cat "$tmp/c1.pid")" qemu-system | head -1)
caps=$(awk '$1 == "CapEff:" || $1 == "CapBnd:" || $1 == "NoNewPrivs:" { printf "%s ", $2 }' "/proc/${qp:-0}/status" 2>/dev/null)
is "its QEMU: chown, dac_override/read_search, fowner, fsetid, mknod only; no_new_privs" "$caps" \
	"000000000800001f 000000000800001f 1 "
# Root like every root process, so a PID namespace of its own (it could
# signal any of them otherwise) and a /proc that shows only itself.
is "... pid 1 of a PID namespace of its own" "$(awk '$1 == "NSpid:" { print $NF }' "/proc/${qp:-0}/status" 2>/dev/null)" 1
is "... alone in its /proc" "$(ls "/proc/${qp:-0}/root/proc" 2>/dev/null | grep -E '^[0-9]+$' | tr '\n' ' ')" "1 "
sleep 1
is "... and the process waits for start" "$(cat "$tmp/c1.out")" ""
R start c1 2>"$tmp/err"; is "start" "$?" 0
waitstatus c1 running && ok "state: running" || nok "state: running"
R state c1 | valid "$SCHEMA/state-schema.json" 2>"$tmp/err" && ok "state validates (running)" || nok "state validates (running)"
R start c1 2>"$tmp/err"; [ $? -ne 0 ] && ok "a second start is refused" || nok "a second start is refused"
is "exec in the running container" "$(R exec c1 sh -c 'hostname; exit 0' 2>"$tmp/err")" "ocibox"
R exec c1 sh -c 'exit 4' 2>"$tmp/err"; is "exec's exit status" "$?" 4
R list | grep -q "^c1 .*running" && ok "list shows it running" || nok "list shows it running"
R ps --format json c1 | grep -q "^\[$(cat "$tmp/c1.pid")" && ok "ps --format json" || nok "ps --format json"
R delete c1 2>"$tmp/err"; [ $? -ne 0 ] && ok "delete of a running container needs --force" || nok "delete needs --force"
R kill c1 USR1 2>"$tmp/err"; is "kill with a named signal" "$?" 0
waitstatus c1 stopped && ok "state: stopped" || nok "state: stopped"
R state c1 | valid "$SCHEMA/state-schema.json" 2>"$tmp/err" && ok "state validates (stopped)" || nok "state validates (stopped)"
grep -q "out" "$tmp/c1.out" && grep -q "got-usr1" "$tmp/c1.out" && ok "stdout went to create's stdout" || nok "stdout to create's stdout"
is "stderr went to create's stderr, ucrt's own --debug lines did not" "$(cat "$tmp/c1.err")" "err"
grep -q "container c1" "$tmp/c1.log" && ok "... they went to --log" || nok "ucrt's messages in --log"
R exec c1 true 2>"$tmp/err"; [ $? -ne 0 ] && grep -q "exec in c1" "$tmp/err" && ok "exec in a stopped container fails at once" ||
	nok "exec in a stopped container fails at once"
R kill c1 TERM 2>"$tmp/err"; [ $? -ne 0 ] && ok "kill of a stopped container fails" || nok "kill of a stopped container fails"
R delete c1 2>"$tmp/err"; is "delete" "$?" 0
[ ! -e "$tmp/oci/containers/c1" ] && ok "delete removed its state" || nok "delete removed its state"

# run: the container's status is ours.
bundle "$tmp/b2" '{"args": ["sh", "-c", "echo $(id -u):$(id -g); exit 42"], "env": ["PATH=/bin"], "user": {"uid": 1000, "gid": 50}}'
out=$(R run --bundle "$tmp/b2" r2 2>"$tmp/err"); st=$?
is "run: output with process.user" "$out" "1000:50"
is "run: exit status 42" "$st" 42
[ ! -e "$tmp/oci/containers/r2" ] && ok "run removed the container" || nok "run removed the container"

bundle "$tmp/b3" '{"args": ["sh", "-c", "touch /new 2>/dev/null && echo wrote || echo read-only"], "env": ["PATH=/bin"]}' \
	true
is "root.readonly: the guest cannot write its root" "$(R run --bundle "$tmp/b3" r3 2>"$tmp/err")" "read-only"
[ ! -e "$tmp/b3/rootfs/new" ] && ok "... nor did anything reach the host" || nok "read-only root reached the host"

# Errors: stderr and the JSON log.
R --log "$tmp/log.json" --log-format json delete nope 2>"$tmp/err"; [ $? -ne 0 ] && ok "delete of a missing container fails" || nok "delete of missing"
tail -1 "$tmp/log.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["level"]=="error" and "does not exist" in d["msg"] and d["time"]' 2>"$tmp/err" &&
	ok "the error is the last JSON line of --log" || { nok "JSON error log"; sed 's/^/# /' "$tmp/log.json"; }
R create --bundle "$tmp/b1" "../x" 2>"$tmp/err"; [ $? -ne 0 ] && grep -q "invalid container id" "$tmp/err" && ok "invalid id refused" || nok "invalid id refused"
bundle "$tmp/b4" '{"terminal": true, "args": ["sh"], "env": ["PATH=/bin"]}'
R create --bundle "$tmp/b4" t4 2>"$tmp/err"; [ $? -ne 0 ] && grep -q "console-socket" "$tmp/err" && ok "terminal without --console-socket refused" || nok "terminal without console socket"
R kill nope BOGUS 2>"$tmp/err"; [ $? -ne 0 ] && ok "bad signal refused" || nok "bad signal refused"

# Crashes: the per-container process killed with -9.
R create --bundle "$tmp/b1" --pid-file "$tmp/k1.pid" k1 >/dev/null 2>&1 </dev/null
R start k1 2>"$tmp/err"
waitstatus k1 running || nok "k1 running"
kill -9 "$(cat "$tmp/k1.pid")"
waitstatus k1 stopped && ok "a killed per-container process shows as stopped" || nok "killed per-container process: stopped"
for _ in $(seq 600); do [ "$(t_qemu_count "$tmp/b1")" = 0 ] && break; sleep 0.1; done
is "its QEMU went with it" "$(t_qemu_count "$tmp/b1")" 0
R delete --force k1 2>"$tmp/err"; is "delete --force after the crash" "$?" 0
[ ! -e "$tmp/oci/containers/k1" ] && ok "... left nothing" || nok "crash delete left state"
R create --bundle "$tmp/b1" --pid-file "$tmp/k2.pid" k2 >/dev/null 2>&1 </dev/null
kill -9 "$(cat "$tmp/k2.pid")"
waitstatus k2 stopped && ok "killed while created: stopped" || nok "killed while created: stopped"
R delete k2 2>"$tmp/err"; is "delete of a dead created container" "$?" 0
is "no container left" "$(R list -q)" ""

echo "1..$n"
