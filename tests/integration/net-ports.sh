#!/usr/bin/env bash
# Published ports (-p, -P, `ucrt port`) for real (QEMU VMs), in a network
# namespace made for the test (the "host") plus a second one (another
# host on the "LAN", joined by a veth pair): TCP and UDP reach containers
# from the other host and from 127.0.0.1, a random host port and a
# loopback-only port, -P from the image's ExposedPorts, a port already
# taken fails before any VM boots, rules go with the container and,
# after a kill -9, at the next start.
set -u
src=${UCRT_SRC:?}
ucrt=${UCRT_BIN:?}
. "$src/tests/lib/net.sh"

command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed"; exit 0; }
command -v nft >/dev/null || { echo "1..0 # SKIP nft not installed (to read the rules)"; exit 0; }
net_setup ports
LAN=$NETNS-lan
root=$(mktemp -d)
cleanup() {
	local id
	for id in $(ip netns exec "$NETNS" "$ucrt" --root "$root" ps -aq 2>/dev/null); do
		ip netns exec "$NETNS" "$ucrt" --root "$root" rm -f "$id" >/dev/null 2>&1
	done
	[ -n "${hold:-}" ] && kill "$hold" 2>/dev/null
	ip netns del "$LAN" 2>/dev/null
	net_cleanup
	rm -rf "$root"
}
trap cleanup EXIT
if ! net_disk "$root" 2>"$root/disk.err"; then
	echo "1..0 # SKIP cannot build a busybox disk (static /bin/busybox with httpd, nc)"
	exit 0
fi
disk=$root/disk.ext4
# The other host: 192.0.2.2 in $LAN, the ucrt host is 192.0.2.1.
ip netns add "$LAN"
ip link add t17p-a netns "$NETNS" type veth peer name t17p-b netns "$LAN"
ip -n "$NETNS" addr add 192.0.2.1/24 dev t17p-a && ip -n "$NETNS" link set t17p-a up
ip -n "$LAN" addr add 192.0.2.2/24 dev t17p-b && ip -n "$LAN" link set t17p-b up
ip -n "$LAN" link set lo up

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
u() { ip netns exec "$NETNS" "$ucrt" --root "$root" "$@"; }
# get NS URL: one page, waiting for the guest's server (TCG boots take seconds).
get() {
	local i
	for i in $(seq 1 120); do
		ip netns exec "$1" curl -s --max-time 1 "$2" 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}
rules() { ip netns exec "$NETNS" nft list table ip ucrt_ucrt0 2>/dev/null | grep 'dnat to'; }
serve='exec httpd -f -p 80 -h /w'

echo 1..20
if u run -d --name web -p 8080:80 -p 127.0.0.1:9090:80 -p 80 -p 5353:5353/udp --rootfs "$disk" \
	sh -c "$serve" >/dev/null 2>"$root/err"; then
	ok "a container with four published ports started"
else
	nok "a container with four published ports started: $(head -c 300 "$root/err")"
fi
check "another host reaches HOSTPORT:CTRPORT" test "$(get "$LAN" http://192.0.2.1:8080/)" = hello-srv
check "127.0.0.1 on the host reaches it too" test "$(get "$NETNS" http://127.0.0.1:8080/)" = hello-srv
check "so does the host's own LAN address" test "$(get "$NETNS" http://192.0.2.1:8080/)" = hello-srv
check "a 127.0.0.1:HOSTPORT port answers on loopback" test "$(get "$NETNS" http://127.0.0.1:9090/)" = hello-srv
out=$(ip netns exec "$LAN" curl -s --max-time 2 http://192.0.2.1:9090/)
check "... and not to another host" test -z "$out"
ports=$(u port web)
rnd=$(u port web 80/tcp | grep '^0.0.0.0:' | grep -v ':8080$' | cut -d: -f2)
check "ucrt port lists them ($(echo $ports | tr '\n' ' '))" bash -c "grep -qx '80/tcp -> 0.0.0.0:8080' <<<'$ports' &&
	grep -qx '80/tcp -> 127.0.0.1:9090' <<<'$ports' && grep -qx '5353/udp -> 0.0.0.0:5353' <<<'$ports'"
check "-p CTRPORT got a free host port ($rnd)" test -n "$rnd"
check "ps PORTS in docker's form" grep -q '0.0.0.0:8080->80/tcp, 127.0.0.1:9090->80/tcp' <<<"$(u ps --format '{{.Ports}}')"
check "which serves the container" test "$(get "$LAN" "http://192.0.2.1:${rnd:-1}/")" = hello-srv
# bindable PROTO PORT: can a host program bind it now?
bindable() {
	ip netns exec "$NETNS" python3 -c 'import socket,sys
t = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
socket.socket(socket.AF_INET, t).bind(("0.0.0.0", int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}
held=yes
bindable tcp 8080 && held=no
bindable udp 5353 && held=no
bindable tcp 8081 || held=no
check "the owner holds the host ports: no host program can bind them" test $held = yes
# busybox has no UDP server: the VM's filter counts what reaches it.
# rxb: bytes delivered to the VM so far.
rxb() { u stats --format json web 2>/dev/null | tr -d ' \n' | grep -o '"RxBytes":[0-9]*' | cut -d: -f2; }
udp5() {	# PORT: five 1200-byte datagrams from the other host
	ip netns exec "$LAN" python3 -c 'import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5): s.sendto(b"u" * 1200, ("192.0.2.1", int(sys.argv[1])))' "$1"
}
# The datagrams to 5353 are waited for (up to 60 s), not given a fixed
# second; those to the unpublished 5354 had a second to show up wrongly.
b0=$(rxb); udp5 5354; sleep 1; b1=$(rxb); udp5 5353
for _ in $(seq 1 300); do b2=$(rxb); [ $((b2 - b1)) -ge 6000 ] && break; sleep 0.2; done
check "UDP from another host reaches the container ($b0 -> $b1 -> $b2 bytes)" \
	test $((b2 - b1)) -ge 6000 -a $((b1 - b0)) -lt 6000
js=$(u inspect web | tr -d ' \n')
check "inspect: network.ports in docker's shape" grep -q '"80/tcp":\[{"HostIp":"0.0.0.0","HostPort":"8080"}' <<<"$js"

# Taken ports: by a host program, and by another container; nothing boots.
ip netns exec "$NETNS" python3 -c 'import socket,time
s=socket.socket(); s.bind(("0.0.0.0", 7070)); s.listen(); time.sleep(300)' &
hold=$!
for _ in $(seq 1 300); do ip netns exec "$NETNS" ss -ltn | grep -q ':7070 ' && break; sleep 0.2; done
out=$(u run -d --name taken -p 7070:80 --rootfs "$disk" true 2>&1); rc=$?
check "a port a host program holds: clear error, exit 125 ($out)" bash -c "[ $rc = 125 ] && grep -q 'port 0.0.0.0:7070/tcp is already in use' <<<'$out'"
out=$(u run --rm -p 8080:80 --rootfs "$disk" true 2>&1); rc=$?
check "a port another container holds: clear error ($out)" bash -c "[ $rc = 125 ] && grep -q '8080/tcp is already in use' <<<'$out'"
check "no container left behind" test "$(u ps -aq | wc -l)" = 1
kill "$hold"; hold=

u stop -t 1 web >/dev/null
for _ in $(seq 1 300); do [ -z "$(rules)" ] && break; sleep 0.2; done
check "stop: the DNAT rules are gone" test -z "$(rules)"

# -P: the image's ExposedPorts; then kill -9 of its owner, and the next start cleans up.
python3 "$src/tests/lib/busybox-image.py" "$root/img.tar" localhost/ports-test:1 \
	'{"ExposedPorts":{"80/tcp":{}},"Cmd":["httpd","-f","-p","80","-h","/w"]}'
u image load -i "$root/img.tar" >/dev/null
u run -d --name pall -P localhost/ports-test:1 >/dev/null 2>"$root/err"
hp=$(u port pall 80 | cut -d: -f2)
check "-P publishes the image's exposed 80/tcp (on $hp)" test "$(get "$LAN" "http://192.0.2.1:${hp:-1}/")" = hello-srv
sup=$(u inspect pall | tr -d ' \n' | grep -o '"OwnerPid":[0-9]*' | cut -d: -f2)
kill -9 "$sup"
for _ in $(seq 1 300); do u ps | grep -q pall || break; sleep 0.2; done
check "kill -9: the rule outlives its owner until the next start" grep -q "dport $hp" <<<"$(rules)"
u network prune >/dev/null
check "the next start (network prune) drops it" test -z "$(rules)"
