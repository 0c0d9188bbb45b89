#!/bin/bash
# Free-page reporting (docs/vm.md, Memory): a cold-booted VM (--no-template,
# run -d) has a virtio-balloon device with free-page-reporting=on and gives
# memory its guest frees back to the host: 200 MB written to the guest's
# /dev/shm raise QEMU's RSS, and deleting the file lowers it again by at
# least 100 MB (polled for up to 60 s; the guest reports free 4 MiB blocks
# ~2 s after they are freed). The balloon is not inflated: the guest keeps
# its --memory. A container restored from a template (its RAM is the
# template's file) has no balloon device. Needs ucrt's kernel. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/template.sh"
t_run_init
trap 'U rm -f fpr tc >/dev/null 2>&1; t_tmpl_cleanup; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
KERNEL=${UCRT_KERNEL:-$UCRT_SRC/build/kernel/vmlinux}
[ -f "$KERNEL" ] || { echo "1..0 # SKIP no ucrt kernel at $KERNEL (make kernel)"; exit 0; }
export UCRT_KERNEL=$KERNEL

waitlog() {	# NAME TEXT
	for _ in $(seq 600); do U logs "$1" 2>/dev/null | grep -q "$2" && return 0; sleep 0.1; done
	return 1
}
qpid() {	# CONTAINER-ID: its QEMU's pid, from state.json
	grep -o '"qemu_pid": *[0-9]*' "$tmp/root/containers/$1/state.json" 2>/dev/null | grep -o '[0-9]*$'
}
rss_mb() {	# PID: QEMU's resident memory in MiB
	awk '$1 == "VmRSS:" { print int($2 / 1024) }' "/proc/$1/status" 2>/dev/null
}

id=$(U run -d --no-template --memory 512M --name fpr "$IMG" sh -c 'echo ready; sleep 3600' 2>"$tmp/err")
waitlog fpr ready && ok "a cold detached VM with --memory 512M runs" || nok "a cold detached VM with --memory 512M runs"
pid=$(qpid "$id")
if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then
	nok "its QEMU is found (state.json qemu_pid)"
	echo "1..$n"
	exit 0
fi
cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
case "$cmd" in
*"-device virtio-balloon-device,free-page-reporting=on "*) ok "its QEMU has the balloon with free-page reporting" ;;
*) nok "its QEMU has the balloon with free-page reporting"; echo "# $cmd" ;;
esac
case "$cmd" in *"-incoming"*) nok "... and is no clone" ;; *) ok "... and is no clone" ;; esac
total=$(U exec fpr grep MemTotal: /proc/meminfo 2>"$tmp/err" | awk '{ print int($2 / 1024) }')
[ "${total:-0}" -ge 450 ] && ok "the guest keeps its memory (MemTotal ${total:-?} MiB of 512: no inflation)" ||
	nok "the guest keeps its memory (MemTotal ${total:-?} MiB of 512)"

rss0=$(rss_mb "$pid")
U exec fpr dd if=/dev/zero of=/dev/shm/big bs=1M count=200 >/dev/null 2>"$tmp/err"
is "the guest writes 200 MB into /dev/shm (tmpfs)" \
	"$(U exec fpr wc -c /dev/shm/big 2>"$tmp/err" | awk '{ print $1 }')" 209715200
rss1=$(rss_mb "$pid")
[ "$((rss1 - rss0))" -ge 150 ] && ok "QEMU's RSS rose with it (${rss0} -> ${rss1} MiB)" ||
	nok "QEMU's RSS rose with it (${rss0} -> ${rss1} MiB)"
U exec fpr rm /dev/shm/big 2>"$tmp/err"
rss2=$rss1
for i in $(seq 120); do
	rss2=$(rss_mb "$pid")
	[ "$((rss1 - rss2))" -ge 100 ] && break
	sleep 0.5
done
[ "$((rss1 - rss2))" -ge 100 ] &&
	ok "deleting the file gives >= 100 MiB back to the host (${rss1} -> ${rss2} MiB after ~$((i / 2)) s)" ||
	nok "deleting the file gives >= 100 MiB back to the host (${rss1} -> ${rss2} MiB after 60 s)"
is "the container still runs" "$(U exec fpr echo alive 2>"$tmp/err")" alive
U rm -f fpr >/dev/null 2>&1

# A clone: exactly the template's devices, and no balloon (its RAM is a
# private mapping of the template's file).
t_tmpl_init
key=$(U template create 2>"$tmp/err")
[ -n "$key" ] && ok "template built" || nok "template built"
id=$(U run -d --name tc "$IMG" sh -c 'echo ready; sleep 3600' 2>"$tmp/err")
waitlog tc ready
pid=$(qpid "$id")
cmd=$(tr '\0' ' ' <"/proc/${pid:-0}/cmdline" 2>/dev/null)
case "$cmd" in
*"-incoming defer"*) ok "run -d restores from the template (-incoming defer)" ;;
*) nok "run -d restores from the template (pid ${pid:-none})" ;;
esac
case "$cmd" in
*"-incoming"*"balloon"* | *"balloon"*"-incoming"*) nok "... and its QEMU has no balloon device" ;;
*"-incoming"*) ok "... and its QEMU has no balloon device" ;;
*) nok "... and its QEMU has no balloon device (no clone found)" ;;
esac
U rm -f tc >/dev/null 2>&1
echo "1..$n"
