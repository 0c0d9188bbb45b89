#!/bin/bash
# `ucrt bundle create IMAGE DIR` (docs/scale-out.md): the image's tree
# unpacked into DIR/rootfs (owners, modes, symlinks as in the image) or,
# with --disk, its ext4 disk; config.json from the image config and the
# overrides; both bundles run under ucrt-oci, the process sees the image's
# env and cwd and a read-only root, and UCRT_TASK_INDEX/UCRT_TASK_COUNT
# come from Slurm's and Kubernetes' variables. Refusals leave nothing. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP ucrt-oci needs root"; exit 0; }
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
[ -x "$OCI" ] || { echo "1..0 # SKIP $OCI not built"; exit 0; }
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "1..0 # SKIP a bundle root needs ucrt's kernel (make kernel)"; exit 0; }
cleanup() {
	for c in $("$OCI" --root "$tmp/oci" list -q 2>/dev/null); do "$OCI" --root "$tmp/oci" delete -f "$c" >/dev/null 2>&1; done
	t_reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
R() { "$OCI" --root "$tmp/oci" "$@"; }

U bundle create --tls-verify=false -q "$IMG" "$tmp/bd" >"$tmp/out" 2>"$tmp/err"
is "bundle create IMAGE DIR" "$?" 0
[ -d "$tmp/bd/rootfs" ] && [ -f "$tmp/bd/config.json" ] && ok "config.json and a rootfs directory" ||
	nok "config.json and a rootfs directory"
is "the image's files, owners and modes" \
	"$(stat -c '%a %u' "$tmp/bd/rootfs/tmp" "$tmp/bd/rootfs/root" "$tmp/bd/rootfs/bin/not-executable")" "1777 0
700 0
644 0"
is "symlinks as in the image" "$(readlink "$tmp/bd/rootfs/bin/sh")" "busybox"
cmp -s /bin/busybox "$tmp/bd/rootfs/bin/busybox" && ok "file contents" || nok "file contents"
is "no lost+found, no partial dir" "$(ls -A "$tmp/bd" | tr '\n' ' ')" "config.json rootfs "
python3 - "$tmp/bd/config.json" >"$tmp/cfg" 2>"$tmp/err" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
p = c["process"]
print(c["ociVersion"], c["root"], p["args"], p["cwd"], p["user"], "IMGVAR=from-image" in p["env"])
PY
is "config.json from the image config" "$(cat "$tmp/cfg")" \
	"1.0.2 {'path': 'rootfs', 'readonly': True} ['sh', '-c', 'echo default-cmd'] /srv {'uid': 0, 'gid': 0} True"

U bundle create --tls-verify=false -q "$IMG" "$tmp/bd" >"$tmp/out" 2>"$tmp/err"
is "a second create into the same DIR is refused" "$?" 125
grep -q "already holds a bundle" "$tmp/err" && ok "... saying why" || nok "... saying why"
U bundle create --pull never -q "$REG/ucrt-test/absent:1" "$tmp/none" >/dev/null 2>"$tmp/err"
is "a missing image is refused" "$?" 125
[ ! -e "$tmp/none" ] && ok "... and leaves no directory" || nok "... and leaves no directory"
U bundle create --help >"$tmp/out" 2>&1; st=$?
[ $st = 0 ] && grep -q "^Usage: ucrt bundle create" "$tmp/out" && [ ! -e "$tmp/--help" ] &&
	ok "bundle create --help prints usage only" || nok "bundle create --help prints usage only"

out=$(cd "$tmp/bd" && R run t1 2>"$tmp/err"); st=$?
is "ucrt-oci run on the directory bundle" "$out" "default-cmd"
is "... exits 0" "$st" 0

U bundle create --disk -q -e EXTRA=1 -w / --memory 128M "$IMG" "$tmp/bk" \
	sh -c 'echo "$IMGVAR $EXTRA $(pwd) $UCRT_TASK_INDEX/$UCRT_TASK_COUNT"; touch /x 2>/dev/null || echo ro; exit 3' \
	>"$tmp/out" 2>"$tmp/err"
is "bundle create --disk with a command and overrides" "$?" 0
[ -f "$tmp/bk/rootfs" ] && is "rootfs is the image's ext4 disk" "$(file -b "$tmp/bk/rootfs" | grep -o ext4)" "ext4" ||
	nok "rootfs is the image's ext4 disk"
grep -q '"limit": 134217728' "$tmp/bk/config.json" && ok "--memory -> linux.resources.memory.limit" ||
	nok "--memory -> linux.resources.memory.limit"
# Slurm and Kubernetes put their variables into process.env.
python3 - "$tmp/bk/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["env"] += ["SLURM_ARRAY_TASK_ID=5", "SLURM_ARRAY_TASK_MIN=2", "SLURM_ARRAY_TASK_COUNT=8"]
json.dump(c, open(p, "w"))
PY
out=$(cd "$tmp/bk" && R run t2 2>"$tmp/err"); st=$?
is "ucrt-oci run on the disk bundle: env, cwd, Slurm array index" "$out" "from-image 1 / 3/8
ro"
is "... its exit status" "$st" 3
is "no QEMU left" "$(t_qemu_count "$tmp")" 0

echo "1..$n"
