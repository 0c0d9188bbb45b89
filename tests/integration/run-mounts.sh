#!/bin/bash
# Data in and out of a VM, end to end with real QEMU and real files:
# -v host directories (rw, ro even against a remount as root, created when
# missing, ownership of guest-created files), single-file mounts, symlinks
# that must not lead out of a share, no host path without -v, named
# volumes across containers and refused when attached read-write twice, a
# read-only input disk shared by 4 --parallel instances, --tmpfs with a
# size limit, --read-only, per-task result files from --parallel, inspect's
# Mounts, the most shares a VM takes and the error one more gets, and the
# errors for bad specs. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
cleanup() {
	[ -n "${bg:-}" ] && U rm -f "$bg" >/dev/null 2>&1
	t_reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
# -v needs 9p in the guest kernel: ucrt's own kernel has it, Debian's cloud
# kernel does not. A binary outside build/ (the ASan one) would not find
# ucrt's kernel next to itself: name it.
kernel_9p=yes
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || kernel_9p=no
U image pull -q "$IMG" >/dev/null 2>"$tmp/err" || { echo "1..0 # SKIP pull failed"; exit 0; }
BB=/bin/busybox

share=$tmp/share
mkdir -p "$share"
echo "from the host" >"$share/in.txt"
chmod 0777 "$share"
if [ $kernel_9p = yes ]; then
	out=$(U run --rm -v "$share:/data" "$IMG" sh -c 'cat /data/in.txt; echo from-guest >/data/out.txt' 2>"$tmp/err")
	is "-v DIR:/data: the guest reads the host's file" "$out" "from the host"
	is "... and the host reads the guest's file" "$(cat "$share/out.txt" 2>/dev/null)" "from-guest"
	U run --rm -u 1000 -v "$share:/data" "$IMG" sh -c 'echo u >/data/by-user' 2>"$tmp/err"
	is "a file written by guest uid 1000 belongs to QEMU's user on the host" \
		"$(stat -c %u "$share/by-user" 2>/dev/null)" "$(t_qemu_uid)"
	if getfattr --version >/dev/null 2>&1 || [ "$(stat -f -c %T "$share")" != tmpfs ]; then
		is "... while the guest still sees its own uid on it" \
			"$(U run --rm -v "$share:/data" "$IMG" $BB stat -c %u /data/by-user 2>"$tmp/err")" 1000
	fi

	U run --rm -v "$share:/data:ro" "$IMG" sh -c 'echo x >/data/ro-write' >/dev/null 2>"$tmp/err"
	[ ! -e "$share/ro-write" ] && ok "-v ...:ro refuses writes" || nok "-v ...:ro refuses writes"
	U run --rm -v "$share:/data:ro" "$IMG" sh -c "$BB mount -o remount,rw /data; echo x >/data/ro-write" \
		>/dev/null 2>"$tmp/err"
	[ ! -e "$share/ro-write" ] && ok "... even after the guest's root remounts it rw" ||
		nok "... even after the guest's root remounts it rw"

	U run --rm -v "$tmp/created/sub:/out" "$IMG" true 2>"$tmp/err"
	[ -d "$tmp/created/sub" ] && ok "a missing -v directory is created" || nok "a missing -v directory is created"

	echo '{"k": 1}' >"$tmp/conf.json"
	echo secret >"$tmp/sibling"
	# The guest reads the file, and the directory QEMU exports for it (the
	# mount's Source in inspect) holds that file and nothing else.
	fc=$(U run -d -v "$tmp/conf.json:/etc/app.json:ro" "$IMG" sh -c 'cat /etc/app.json; sleep 60' 2>"$tmp/err")
	for _ in $(seq 300); do U logs "$fc" 2>/dev/null | grep -q '"k"' && break; sleep 0.2; done
	is "a single file is mounted" "$(U logs "$fc" 2>/dev/null)" '{"k": 1}'
	staged=$(U inspect "$fc" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Mounts"][0]["Source"])' 2>/dev/null)
	is "... from a shared directory that holds nothing beside it" "$(ls -A "$staged" 2>/dev/null)" "conf.json"
	U rm -f "$fc" >/dev/null 2>&1

	# Symlinks: made by the guest or the host inside a share, they resolve
	# in the guest, never to the host's files.
	ln -s /etc "$share/hostlink"
	out=$(U run --rm -v "$share:/data" "$IMG" sh -c \
		"$BB ln -s /etc /data/guestlink; echo esc >/data/guestlink/ucrt-escape-$$; cat /data/hostlink/passwd" 2>"$tmp/err")
	[ ! -e "/etc/ucrt-escape-$$" ] && ok "a guest symlink in a share does not lead to the host's /etc" ||
		{ nok "a guest symlink in a share does not lead to the host's /etc"; rm -f "/etc/ucrt-escape-$$"; }
	# (mapped-xattr shares do not follow host symlinks at all: ELOOP.)
	[ -n "$(cat /etc/passwd)" ] && [ "$out" != "$(cat /etc/passwd)" ] &&
		ok "a host symlink in a share never leads to the host's files" ||
		nok "a host symlink in a share never leads to the host's files"
	ln -s "$share" "$tmp/share-link"
	is "a host path with a symlinked component is resolved once" \
		"$(U run --rm -v "$tmp/share-link:/data" "$IMG" cat /data/in.txt 2>"$tmp/err")" "from the host"

	# ucrt's kernel boots microvm with acpi=off: 8 virtio-mmio slots, of
	# which the agent and the root disk take two (UCRT_NETWORK=none: no
	# network device). 6 shares fit (and leave no slot to the balloon);
	# a 7th is refused before QEMU starts, with the count.
	many=
	for i in 1 2 3 4 5 6 7; do mkdir -p "$tmp/many/$i"; echo "$i" >"$tmp/many/$i/f"; many="$many -v $tmp/many/$i:/m$i:ro"; done
	out=$(U run --rm ${many% -v *} "$IMG" sh -c 'cat /m1/f /m6/f | tr -d "\n"' 2>"$tmp/err")
	is "6 shares (the most that fit beside agent and root disk): all mounted" "$out" "16"
	U run --rm $many "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
	is "a 7th share: 125" "$st" 125
	grep -q "too many mounts: 7 shares + root disk + agent need 9 virtio devices, this VM has 8 (microvm without ACPI)" \
		"$tmp/err" && ok "... with the message that counts the devices" || nok "... with the message that counts the devices"
	is "... and no QEMU was left (or started)" "$(t_qemu_count "$tmp/many/")" 0
	is "... and no container" "$(U ps -a -q)" ""
else
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do n=$((n + 1)); echo "ok $n # SKIP -v needs ucrt's kernel (make kernel)"; done
fi

out=$(U run --rm "$IMG" sh -c "grep -c 9p /proc/mounts; $BB mkdir -p /mnt; $BB mount -t 9p -o trans=virtio ucrt0 /mnt 2>/dev/null && echo mounted" 2>"$tmp/err")
is "without -v the guest has no share to mount" "$out" "0"

# Named volumes.
U run --rm -v vol1:/v "$IMG" sh -c 'echo kept >/v/f' 2>"$tmp/err"
is "a named volume is created on first use and keeps data across containers" \
	"$(U run --rm -v vol1:/v:ro "$IMG" cat /v/f 2>"$tmp/err")" "kept"
U volume ls -q >"$tmp/vols"
is "volume ls lists it" "$(cat "$tmp/vols")" "vol1"
bg=$(U run -d -v vol1:/v "$IMG" sleep 60 2>"$tmp/err")
for i in $(seq 50); do U ps 2>/dev/null | grep -q Up && break; sleep 0.2; done
U run --rm -v vol1:/v "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
is "a volume in use read-write cannot be attached again: 125" "$st" 125
grep -q "in use" "$tmp/err" && ok "... and the error says it is in use" || nok "... and the error says it is in use"
U volume rm -f vol1 >/dev/null 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "in use" "$tmp/err" && ok "volume rm refuses a volume in use" || nok "volume rm refuses a volume in use"
U inspect "$bg" >"$tmp/inspect" 2>"$tmp/err"
python3 - "$tmp/inspect" <<'PY' && ok "inspect shows Mounts in docker's shape" || nok "inspect shows Mounts in docker's shape"
import json, sys
d = json.load(open(sys.argv[1]))
d = d[0] if isinstance(d, list) else d
m = d["Mounts"]
assert m[0]["Type"] == "volume" and m[0]["Name"] == "vol1" and m[0]["Destination"] == "/v" and m[0]["RW"] is True, m
PY
U rm -f "$bg" >/dev/null 2>&1; bg=
U volume rm vol1 </dev/null >/dev/null 2>"$tmp/err"
[ $? -ne 0 ] && grep -q -- "-f" "$tmp/err" && ok "volume rm without -f and without a terminal asks for -f" ||
	nok "volume rm without -f and without a terminal asks for -f"
U volume rm -f vol1 >/dev/null 2>"$tmp/err" && [ -z "$(U volume ls -q)" ] && ok "volume rm -f removes it" ||
	nok "volume rm -f removes it"

# A read-only input disk built from a tarball, shared by 4 VMs at once.
mkdir -p "$tmp/input"
echo "input data" >"$tmp/input/data.txt"
tar -C "$tmp/input" -cf "$tmp/input.tar" data.txt
U rootfs build -o "$tmp/input.ext4" "$tmp/input.tar" 2>"$tmp/err"
out=$(U run --parallel 4 --max-concurrent 4 --mount "type=disk,src=$tmp/input.ext4,dst=/in" "$IMG" cat /in/data.txt 2>"$tmp/err" | sort)
is "a read-only disk is attached to 4 --parallel instances at once" "$out" "$(printf '[%s] input data\n' 0 1 2 3)"

out=$(U run --rm --tmpfs /scratch:size=1m "$IMG" sh -c 'dd if=/dev/zero of=/scratch/f bs=1k count=2048 2>&1; wc -c </scratch/f' 2>"$tmp/err")
echo "$out" | grep -q "No space left" && [ "$(echo "$out" | tail -1)" -le 1048576 ] &&
	ok "--tmpfs size limit is enforced" || { nok "--tmpfs size limit is enforced"; echo "$out" | sed 's/^/# /'; }

out=$(U run --rm --read-only "$IMG" sh -c 'touch /rootfile 2>/dev/null && echo wrote-root; touch /tmp/x && echo wrote-tmp' 2>"$tmp/err")
is "--read-only: the root refuses writes, /tmp takes them" "$out" "wrote-tmp"

if [ $kernel_9p = yes ]; then
	mkdir -p "$tmp/out"
	chown "$(t_qemu_uid)" "$tmp/out"	# the guest writes with QEMU's user's rights
	U run --parallel 4 -v "$tmp/out:/out" "$IMG" sh -c 'echo task $UCRT_TASK_INDEX >/out/$UCRT_TASK_INDEX' >/dev/null 2>"$tmp/err"
	is "--parallel 4 writes one result file per task into one share" "$(cat "$tmp/out"/* 2>/dev/null | sort | tr '\n' ' ')" \
		"task 0 task 1 task 2 task 3 "
else
	n=$((n + 1)); echo "ok $n # SKIP -v needs ucrt's kernel (make kernel)"
fi

for bad in "-v relative" "-v /a:rel" "-v /a:/b:rx" "--mount type=nfs,src=/a,dst=/b" "--mount type=bind,dst=/b" \
	"--tmpfs /x:size=abc" "-v /a:/" "-v bad^name:/x"; do
	U run --rm $bad "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
	[ $st = 125 ] && [ -s "$tmp/err" ] && ok "bad spec '$bad': 125 with a message" || nok "bad spec '$bad': 125 with a message"
done
U ps -a -q >"$tmp/ps"
is "no container left behind" "$(cat "$tmp/ps")" ""
echo "1..$n"
