#!/bin/bash
# QEMU under least privilege (docs/security.md). As root, a detached
# container's QEMU runs as ucrt-qemu: /proc/<pid>/status shows its
# Uid/Gid, no supplementary group but /dev/kvm's, no capability at all
# (effective, permitted, inheritable, bounding, ambient), NoNewPrivs 1 and
# Seccomp 2 (QEMU's -sandbox); it holds no fd of ucrt's (io_uring, pidfd, locks,
# logs, state), its image disk only read-only, and cannot open the
# store's files by name; through a -v share the guest reads what QEMU's
# user may read and not a root-only file. Each QEMU has its own PID and
# mount namespaces (NSpid, /proc/<pid>/ns/{pid,mnt} unlike ucrt's and
# unlike a second VM's), its own /proc shows it alone, from there
# ucrt-qemu cannot signal the other VM's QEMU, and SIGTERM still ends it. --qemu-user /
# UCRT_QEMU_USER pick another user; an unknown one fails with 125 naming
# it. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP QEMU changes user only when ucrt runs as root"; rm -rf "$tmp"; exit 0; }
getent passwd ucrt-qemu >/dev/null ||
	{ echo "1..0 # SKIP no ucrt-qemu user (modules/vm/qemu-user.sh creates it)"; rm -rf "$tmp"; exit 0; }
trap 'U rm -f p p2 q >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
quid=$(id -u ucrt-qemu)
qgid=$(id -g ucrt-qemu)

share=$tmp/share
mkdir -p "$share"
echo public >"$share/public"
echo TOPSECRET-19 >"$share/secret"
chmod 0600 "$share/secret"
mounts=()
[ -n "${UCRT_KERNEL:-}" ] && mounts=(-v "$share:/data")	# 9p needs ucrt's kernel

waitlog() {	# NAME TEXT (up to 60 s)
	for _ in $(seq 600); do U logs "$1" 2>/dev/null | grep -q "$2" && return 0; sleep 0.1; done
	return 1
}
qpid() {	# CONTAINER-ID: its QEMU's pid
	local p
	for _ in $(seq 100); do
		p=$(t_qemu_pids "$tmp/root/containers/$1" | head -1)
		[ -n "$p" ] && { echo "$p"; return; }
		sleep 0.1
	done
}
field() {	# PID KEY: the value of KEY in /proc/PID/status, blanks squeezed
	awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"
}

hostproc() { awk '$5 == "/proc"' /proc/self/mountinfo | wc -l; }	# mounts on our /proc
hostproc0=$(hostproc)
id=$(U run -d --name p "${mounts[@]}" "$IMG" sh -c 'echo ready; sleep 600' 2>"$tmp/err")
id2=$(U run -d --name p2 "$IMG" sh -c 'echo ready; sleep 600' 2>>"$tmp/err")
waitlog p ready
pid=$(qpid "$id")
if [ -z "$pid" ]; then
	nok "the container's QEMU runs"
	echo "1..$n"
	exit 0
fi
ok "the container's QEMU runs (pid $pid)"
is "Uid: ucrt-qemu's (real, effective, saved, fs)" "$(field "$pid" Uid)" "$quid $quid $quid $quid"
is "Gid: ucrt-qemu's group" "$(field "$pid" Gid)" "$qgid $qgid $qgid $qgid"
groups=$(field "$pid" Groups)
[ -z "$groups" ] || [ "$groups" = "$(stat -c %g /dev/kvm 2>/dev/null)" ] &&
	ok "no supplementary group but /dev/kvm's (got '$groups')" || nok "no supplementary group but /dev/kvm's (got '$groups')"
for c in CapEff CapPrm CapInh CapBnd CapAmb; do
	is "$c: no capability" "$(field "$pid" $c)" 0000000000000000
done
is "NoNewPrivs: 1" "$(field "$pid" NoNewPrivs)" 1
is "Seccomp: 2 (filter mode, QEMU's -sandbox)" "$(field "$pid" Seccomp)" 2

# Its own PID and mount namespaces: the pid it has in its own namespace
# (NSpid's last) is 1, the namespaces are not its parent's (ucrt's).
nspid=$(field "$pid" NSpid)
case "$nspid" in
"$pid 1") ok "NSpid: QEMU is pid 1 of a PID namespace of its own ($nspid)" ;;
*) nok "NSpid: QEMU is pid 1 of a PID namespace of its own (got '$nspid')" ;;
esac
ppid=$(field "$pid" PPid)
[ "$(readlink "/proc/$ppid/exe")" = "$(readlink -f "$UCRT_BIN")" ] && ok "QEMU's parent is ucrt (pid $ppid)" ||
	nok "QEMU's parent is ucrt (pid $ppid: $(readlink "/proc/$ppid/exe"))"
for ns in pid mnt; do
	q=$(readlink "/proc/$pid/ns/$ns")
	u=$(readlink "/proc/$ppid/ns/$ns")
	[ -n "$q" ] && [ "$q" != "$u" ] && ok "ns/$ns differs from ucrt's ($q, $u)" ||
		nok "ns/$ns differs from ucrt's ($q, $u)"
done
# Its /proc (seen through its root, in its mount namespace) is a proc of
# its PID namespace: one process, QEMU itself.
procs=$(ls "/proc/$pid/root/proc" 2>&1 | grep -E '^[0-9]+$' | tr '\n' ' ')
is "its /proc shows only itself" "$procs" "1 "
is "... as ucrt-qemu" "$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/root/proc/1/status" 2>&1)" "$quid"
mopts=$(awk '$5 == "/proc" { o = $6 } END { print o }' "/proc/$pid/mountinfo")
case ",$mopts," in
*,nosuid,*) case ",$mopts," in *,nodev,*) case ",$mopts," in *,noexec,*) mopts=ok ;; esac ;; esac ;;
esac
[ "$mopts" = ok ] && ok "its /proc is mounted nosuid,nodev,noexec" ||
	nok "its /proc is mounted nosuid,nodev,noexec (got '$mopts')"
is "... and it did not propagate to the host's /proc" "$(hostproc)" "$hostproc0"
waitlog p2 ready
pid2=$(qpid "$id2")
if [ -n "$pid2" ]; then
	q=$(readlink "/proc/$pid/ns/pid")
	q2=$(readlink "/proc/$pid2/ns/pid")
	[ "$q" != "$q2" ] && ok "two VMs' QEMUs are in different PID namespaces ($q, $q2)" ||
		nok "two VMs' QEMUs are in different PID namespaces ($q, $q2)"
	is "... each pid 1 of its own" "$(field "$pid2" NSpid | awk '{ print $NF }')" 1
	# ucrt-qemu could signal the other QEMU (same uid) but for the namespace.
	setpriv --reuid="$quid" --regid="$qgid" --clear-groups kill -0 "$pid2" 2>/dev/null &&
		ok "(ucrt-qemu outside the namespaces may signal QEMU $pid2)" ||
		nok "(ucrt-qemu outside the namespaces may signal QEMU $pid2)"
	nsenter -t "$pid" -p -m setpriv --reuid="$quid" --regid="$qgid" --clear-groups kill -0 "$pid2" 2>/dev/null &&
		nok "ucrt-qemu in QEMU's namespaces cannot signal the other VM's QEMU" ||
		ok "ucrt-qemu in QEMU's namespaces cannot signal the other VM's QEMU"
	# pid 1 of a namespace gets from outside only the signals it handles
	# (and SIGKILL): QEMU handles SIGTERM.
	kill -TERM "$pid2"
	for _ in $(seq 600); do [ -d "/proc/$pid2" ] || break; sleep 0.1; done
	[ -d "/proc/$pid2" ] && nok "SIGTERM from the host still ends QEMU" || ok "SIGTERM from the host still ends QEMU"
else
	nok "a second VM's QEMU runs"
fi
U rm -f p2 >/dev/null 2>&1

# Its fds: what ucrt opened for it and QEMU's own, nothing of ucrt's.
bad=
disk_rw=
for f in /proc/$pid/fd/*; do
	t=$(readlink "$f" 2>/dev/null) || continue
	flags=$(awk '$1 == "flags:" { print $2 }' "/proc/$pid/fdinfo/${f##*/}" 2>/dev/null)
	acc=$(( 8#${flags:-0} & 3 ))
	case "$t" in
	*io_uring*|*pidfd*|*/lock|*/lock.*|*.log|*state.json|*config.json|*/index.json) bad="$bad $t" ;;
	"$tmp/root/rootfs/"*.ext4) [ $acc = 0 ] || disk_rw="$disk_rw ${f##*/}:$flags" ;;
	esac
done
is "no fd of ucrt's (io_uring, pidfd, locks, logs, state) in QEMU" "$bad" ""
is "the image disk is open read-only only" "$disk_rw" ""
[ -n "$(find /proc/$pid/fd -lname "$tmp/root/rootfs/*.ext4" 2>/dev/null)" ] &&
	ok "... and QEMU has it as an inherited fd" || nok "... and QEMU has it as an inherited fd"
tr '\0' '\n' <"/proc/$pid/cmdline" | grep -q "$tmp" && nok "QEMU's command line names no host path" ||
	ok "QEMU's command line names no host path"

# What the user itself may open by name: nothing of the store.
as_qemu() { setpriv --reuid="$quid" --regid="$qgid" --clear-groups --no-new-privs "$@"; }
overlay=$(find "$tmp/root/containers/$id" -name '*.qcow2' | head -1)
as_qemu head -c1 "$overlay" >/dev/null 2>&1 && nok "ucrt-qemu cannot open a container's overlay by name" ||
	ok "ucrt-qemu cannot open a container's overlay by name"
as_qemu ls "$tmp/root/containers" >/dev/null 2>&1 && nok "... nor list the containers" ||
	ok "... nor list the containers"

if [ ${#mounts[@]} -gt 0 ]; then
	is "the guest reads a share's world-readable file" "$(U exec p cat /data/public 2>"$tmp/err")" public
	U exec p cat /data/secret >"$tmp/out" 2>&1
	[ $? -ne 0 ] && ! grep -q TOPSECRET "$tmp/out" && ok "... but not a root-only one (QEMU's user's rights)" ||
		nok "... but not a root-only one (QEMU's user's rights)"
else
	for i in 1 2; do n=$((n + 1)); echo "ok $n # SKIP -v needs ucrt's kernel (make kernel)"; done
fi
U rm -f p >/dev/null 2>&1

# Another user: --qemu-user and UCRT_QEMU_USER.
id=$(U --qemu-user nobody run -d --name q "$IMG" sh -c 'echo ready; sleep 600' 2>"$tmp/err")
waitlog q ready
pid=$(qpid "$id")
is "--qemu-user nobody: QEMU's Uid" "$(field "${pid:-0}" Uid 2>/dev/null)" "65534 65534 65534 65534"
U rm -f q >/dev/null 2>&1
out=$(UCRT_QEMU_USER=nobody U run --rm "$IMG" echo hi 2>"$tmp/err")
is "UCRT_QEMU_USER=nobody runs a container" "$out" hi
U --qemu-user no-such-user-19 run --rm "$IMG" true >/dev/null 2>"$tmp/err"; st=$?
[ $st = 125 ] && grep -q "no-such-user-19" "$tmp/err" && ok "an unknown --qemu-user fails with 125 naming it" ||
	nok "an unknown --qemu-user fails with 125 naming it"
echo "1..$n"
