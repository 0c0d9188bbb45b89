#!/usr/bin/env bash
# Clones of one VM template have their own identity (docs/vm.md, Unclone),
# for real (QEMU, TCG) in a network namespace made for the test: two
# clones read different /dev/urandom bytes, have the host's wall clock
# (within a few seconds), their own MAC (the one ucrt gave their tap, not
# the template's) and address, and reach the bridge's gateway through
# their tap and 127.0.0.1 on lo. TAP.
set -u
src=${UCRT_SRC:?}
ucrt=${UCRT_BIN:?}
. "$src/tests/lib/net.sh"

command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed"; exit 0; }
KERNEL=${UCRT_KERNEL:-$src/build/kernel/vmlinux}
[ -f "$KERNEL" ] || { echo "1..0 # SKIP no ucrt kernel at $KERNEL"; exit 0; }
export UCRT_KERNEL=$KERNEL
net_setup tmpl
root=$(mktemp -d)
export UCRT_TEMPLATES=on
UCRT_TEMPLATE_DIR=$(mktemp -d /dev/shm/ucrt-tmpl-test.XXXXXX)
export UCRT_TEMPLATE_DIR
cleanup() {
	net_cleanup
	rm -rf "$root" "$UCRT_TEMPLATE_DIR"
}
trap cleanup EXIT
if ! net_disk "$root" 2>"$root/disk.err"; then
	echo "1..0 # SKIP cannot build a busybox disk (static /bin/busybox with ip, ping)"
	exit 0
fi
disk=$root/disk.ext4
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '# got:  %s\n# want: %s\n' "$2" "$3"; fi; }
u() { ip netns exec "$NETNS" "$ucrt" --root "$root" "$@"; }

key=$(u template create --net 2>"$root/err")
[ -n "$key" ] && ok "template with a network device built" || { nok "template built: $(head -c 300 "$root/err")"; echo "1..$n"; exit 0; }

probe='cat /sys/class/net/eth0/address; ip -4 -o addr show eth0 | tr -s " " | cut -d" " -f4;
dd if=/dev/urandom bs=16 count=1 2>/dev/null | busybox od -An -tx1 | tr -d " \n"; echo;
date +%s; ping -c 1 -W 5 10.88.0.1 >/dev/null && echo gw-ok || echo gw-fail;
ping -c 1 -W 5 127.0.0.1 >/dev/null && echo lo-ok || echo lo-fail'
# The guest's clock must lie between the host's before and after its run
# (no bound on how long a run takes: a loaded machine is slow). A clock left
# at the template's would be behind by at least this sleep.
sleep 3
for i in 1 2; do
	date +%s >"$root/before$i"
	u --log-level debug run --rm --network bridge --ip 10.88.0.2$i --rootfs "$disk" sh -c "$probe" \
		>"$root/out$i" 2>"$root/err$i"
	echo "$?" >"$root/st$i"
	date +%s >"$root/host$i"
done
for i in 1 2; do
	is "clone $i exits 0" "$(cat "$root/st$i")" 0
	grep -q "restoring from template ${key:0:12}" "$root/err$i" && ok "clone $i was restored from the template" ||
		{ nok "clone $i was restored from the template"; tail -3 "$root/err$i" | sed 's/^/# /'; }
	mapfile -t l <"$root/out$i"
	is "clone $i has its own MAC" "${l[0]:-}" "02:75:0a:58:00:1$((4 + i))"
	is "clone $i has its own address" "${l[1]:-}" "10.88.0.2$i/16"
	# (whole seconds: the guest's may read one less than the host's before)
	g=${l[3]:-0} b=$(cat "$root/before$i") a=$(cat "$root/host$i")
	[ "$g" -ge $((b - 1)) ] 2>/dev/null && [ "$g" -le "$a" ] &&
		ok "clone $i has the host's wall clock (host $b, guest $g, host $a)" ||
		nok "clone $i has the host's wall clock (host $b, guest ${l[3]:-?}, host $a)"
	is "clone $i reaches the gateway through its tap" "${l[4]:-}" gw-ok
	is "clone $i has lo up (brought up before the template was saved)" "${l[5]:-}" lo-ok
	eval "rnd$i=\${l[2]:-}"
done
[ -n "$rnd1" ] && [ ${#rnd1} -eq 32 ] && [ "$rnd1" != "$rnd2" ] && ok "the two clones read different /dev/urandom bytes" ||
	nok "the two clones read different /dev/urandom bytes ($rnd1 / $rnd2)"
echo "1..$n"
