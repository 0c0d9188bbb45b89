#!/usr/bin/env bash
# Containers on the bridge, for real (QEMU VMs), in a network namespace
# made for the test (no traffic leaves it): the host reaches a container,
# two containers talk, policies hold, a guest forging its source IP and
# then its MAC gets nothing through and is counted (ucrt stats, inspect),
# --network none leaves only lo, 16 containers get 16 addresses and
# leave nothing behind after `kill -9` of ucrt and the next start.
#
# The root disk is the host's static busybox (tests/lib/net.sh net_disk),
# run with --rootfs: no registry needed. About 10 boots under TCG.
set -u
src=${UCRT_SRC:?}
ucrt=${UCRT_BIN:?}
. "$src/tests/lib/net.sh"

command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed"; exit 0; }
net_setup ctr
root=$(mktemp -d)
cleanup() {
	local id
	# Detached containers: their supervisors own the VMs.
	for id in $(ip netns exec "$NETNS" "$ucrt" --root "$root" ps -q 2>/dev/null); do
		ip netns exec "$NETNS" "$ucrt" --root "$root" rm -f "$id" >/dev/null 2>&1
	done
	[ -n "${par:-}" ] && kill -9 "$par" 2>/dev/null
	net_cleanup
	rm -rf "$root"
}
trap cleanup EXIT
if ! net_disk "$root" 2>"$root/disk.err"; then
	echo "1..0 # SKIP cannot build a busybox disk (static /bin/busybox with httpd, wget, ip, ping)"
	exit 0
fi
disk=$root/disk.ext4

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
u() { ip netns exec "$NETNS" "$ucrt" --root "$root" "$@"; }
urun() { u run --rm --rootfs "$disk" "$@"; }
# wait_http URL: until the host gets the page (TCG boots take seconds).
wait_http() {
	local i
	for i in $(seq 1 120); do
		ip netns exec "$NETNS" curl -s --max-time 1 "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}
leases() { cat "$root/net/leases" 2>/dev/null | grep -c . ; }
taps() { ip netns exec "$NETNS" ip -o link show | grep -c ' ucrt-' ; }
# stat NAME FIELD: one of the Counters of `ucrt stats --format json NAME`.
stat() { u stats --format json "$1" 2>/dev/null | tr -d ' \n' | grep -o "\"$2\":[0-9]*" | cut -d: -f2; }
# wait_log NAME TEXT: until the detached container's output has TEXT.
wait_log() {
	local i
	for i in $(seq 1 120); do
		u logs "$1" 2>/dev/null | grep -q "$2" && return 0
		sleep 0.5
	done
	return 1
}
serve='exec httpd -f -p 8080 -h /w'
srv=http://10.88.0.10:8080/
# The static busybox's wget crashes in the guest (glibc NSS): plain nc.
get() { echo "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w ${2:-5} 10.88.0.10 $1 | tail -n 1"; }

echo 1..24
if u run -d --rm --name srv --ip 10.88.0.10 --rootfs "$disk" sh -c "$serve" >/dev/null 2>"$root/err"; then
	ok "detached server started with --ip"
else
	nok "detached server started with --ip: $(head -c 300 "$root/err")"
fi
page=$(wait_http $srv)
check "the host reaches a container's address" test "$page" = hello-srv
js=$(u inspect srv | tr -d ' \n')
check "inspect: network address, mac and tap" bash -c "grep -q '\"ip\":\"10.88.0.10\"' <<<'$js' &&
	grep -q '\"mac\":\"02:75:0a:58:00:0a\"' <<<'$js' && grep -q '\"tap\":\"ucrt-0a58000a\"' <<<'$js'"
rx=$(stat srv RxPackets)
check "ucrt stats counts the server's traffic (rx_packets=${rx:-none})" test "${rx:-0}" -gt 0

out=$(urun --name cli1 sh -c "cat /etc/hosts; $(get 8080)" 2>&1)
check "a container reaches another" grep -q '^hello-srv$' <<<"$out"
check "the guest's /etc/hosts names it" grep -qE '^10\.88\.0\.[0-9]+ cli1$' <<<"$out"
out=$(urun --dns 192.0.2.53 --dns 192.0.2.54 sh -c 'cat /etc/resolv.conf; ip route' 2>&1)
check "--dns reaches resolv.conf" bash -c "grep -q 'nameserver 192.0.2.53' <<<'$out' && grep -q 'nameserver 192.0.2.54' <<<'$out'"
check "default route via the bridge" grep -q 'default via 10.88.0.1' <<<"$out"

out=$(urun --network-policy deny-all sh -c "$(get 8080 3)" 2>/dev/null)
check "deny-all blocks a new connection" test -z "$out"
out=$(urun --network-policy allow=10.88.0.10/32:8080 sh -c "$(get 8080)" 2>/dev/null)
check "an allow-list passes its address:port" test "$out" = hello-srv
out=$(urun --network-policy allow=10.88.0.10/32:9999 sh -c "$(get 8080 3)" 2>/dev/null)
check "an allow-list blocks another port" test -z "$out"

u run -d --rm --name srv2 --ip 10.88.0.11 --network-policy deny-all --rootfs "$disk" sh -c "$serve" >/dev/null
check "a deny-all container still answers the host" test "$(wait_http http://10.88.0.11:8080/)" = hello-srv

# A guest forging its source IP, then its MAC: nothing gets through, the
# filter counts the drops. The MAC is changed with ifconfig (SIOCSIFHWADDR
# on an inet socket): busybox `ip link set address` needs an AF_PACKET
# socket, which the guest kernel (no CONFIG_PACKET) refuses, and a link
# down/up would also drop the default route. The guest prints the MAC it
# ends up with, so "no reply" cannot pass on an unchanged MAC.
u run -d --rm --name forger --ip 10.88.0.12 --rootfs "$disk" sh -c '
	ip addr add 10.88.0.200/16 dev eth0
	ping -c 3 -W 1 -I 10.88.0.200 10.88.0.1 >/dev/null 2>&1; echo "ip-forged ping=$?"
	sleep 3
	ip addr del 10.88.0.200/16 dev eth0
	ifconfig eth0 hw ether 02:00:00:00:00:01
	echo "mac now $(cat /sys/class/net/eth0/address)"
	ping -c 3 -W 1 10.88.0.1 >/dev/null 2>&1; echo "mac-forged ping=$?"
	sleep 60' >/dev/null
wait_log forger ip-forged
s1=$(stat forger DropSpoof)
check "forged source IP: no reply" grep -q 'ip-forged ping=1' <<<"$(u logs forger)"
check "forged source IP: dropped and counted (drop_spoof=${s1:-none})" test "${s1:-0}" -ge 1
wait_log forger mac-forged
s2=$(stat forger DropSpoof)
# mac_forged LOG: the guest did change its MAC and got no echo reply.
mac_forged() { grep -q 'mac now 02:00:00:00:00:01' <<<"$1" && grep -q 'mac-forged ping=1' <<<"$1"; }
check "forged MAC: no reply" mac_forged "$(u logs forger)"
check "forged MAC: dropped and counted (drop_spoof $s1 -> ${s2:-none})" test "${s2:-0}" -gt "${s1:-0}"

out=$(urun --network none sh -c 'ls /sys/class/net' 2>&1 | tr '\n' ' ')
check "--network none gives only loopback ($out)" test "$out" = "lo "

# The polls below end at their condition; bounded at 60 s or more (16 VMs
# on a loaded machine start and end slowly).
u stop -t 1 srv srv2 forger >/dev/null 2>&1
for _ in $(seq 1 300); do [ "$(leases)" = 0 ] && [ "$(taps)" = 0 ] && break; sleep 0.2; done
check "every lease released when the containers ended" test "$(leases)" = 0
check "every tap (and its filter) gone" test "$(taps)" = 0

# 16 at once from one ucrt (one host setup), then ucrt is killed.
ip netns exec "$NETNS" "$ucrt" --root "$root" run --parallel 16 --max-concurrent 16 --rootfs "$disk" sleep 120 >/dev/null 2>&1 &
par=$!
for _ in $(seq 1 240); do [ "$(leases)" -ge 16 ] && [ "$(taps)" -ge 16 ] && break; sleep 0.5; done
check "16 containers hold 16 leases" test "$(leases)" = 16
check "16 distinct addresses" test "$(cut -d' ' -f1 "$root/net/leases" | sort -u | wc -l)" = 16
nf=0
for t in $(ip netns exec "$NETNS" ip -o link show | grep -o 'ucrt-[0-9a-f]*'); do
	ip netns exec "$NETNS" tc filter show dev "$t" ingress | grep -q bpf && nf=$((nf + 1))
done
check "16 taps with a bpf filter ($nf)" test "$nf" = 16
kill -9 $par
wait $par 2>/dev/null
par=
for _ in $(seq 1 300); do [ "$(taps)" = 0 ] && break; sleep 0.2; done
check "kill -9: QEMUs gone, the kernel removed the taps and filters" test "$(taps)" = 0
u network prune >/dev/null
check "no lease left after the next start" test "$(leases)" = 0
