#!/usr/bin/env bash
# Containers on the bridge, for real (QEMU VMs), in a network namespace
# made for the test: two containers talk, the host reaches a container,
# policies hold, a guest forging its source address is dropped and
# counted, 16 containers get 16 addresses and leave nothing behind, also
# after `kill -9` of ucrt.
#
# Needs `ucrt run` with --network/--ip/--network-policy and a busybox image
# the store can run: $UCRT_TEST_IMAGE, or tests/lib/image.sh's
# fixture_image when that helper exists. Skips otherwise.
set -u
src=${UCRT_SRC:?}
ucrt=${UCRT_BIN:?}
. "$src/tests/lib/net.sh"

if ! "$ucrt" run --help 2>/dev/null | grep -q -- '--network-policy'; then
	echo "1..0 # SKIP ucrt run with --network-policy is not there yet"
	exit 0
fi
net_setup ctr
root=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	net_cleanup
	rm -rf "$root"
}
trap cleanup EXIT

image=${UCRT_TEST_IMAGE:-}
if [ -z "$image" ] && [ -f "$src/tests/lib/image.sh" ]; then
	. "$src/tests/lib/image.sh"
	image=$(fixture_image busybox "$root" 2>/dev/null) || image=
fi
if [ -z "$image" ]; then
	echo "1..0 # SKIP no busybox test image (set UCRT_TEST_IMAGE)"
	exit 0
fi

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
u() { ip netns exec "$NETNS" "$ucrt" --root "$root" "$@"; }
# wait_http URL: until the host gets the page (TCG boots in seconds).
wait_http() {
	for _ in $(seq 1 120); do
		ip netns exec "$NETNS" curl -s --max-time 1 "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}
leases() { grep -c . "$root/net/leases" 2>/dev/null || echo 0; }
serve='mkdir -p /w && echo hello-srv > /w/index.html && exec httpd -f -p 8080 -h /w'

echo 1..13
u run -d --rm --name srv --ip 10.88.0.10 "$image" sh -c "$serve" >/dev/null &
pids+=($!)
check "host reaches a container's address" bash -c "$(declare -f wait_http); NETNS=$NETNS wait_http http://10.88.0.10:8080/ | grep -q hello-srv"
check "a container reaches another" bash -c "ip netns exec $NETNS $ucrt --root $root run --rm $image wget -q -T 5 -O- http://10.88.0.10:8080/ | grep -q hello-srv"
check "deny-all blocks a new connection" bash -c "! ip netns exec $NETNS $ucrt --root $root run --rm --network-policy deny-all $image wget -q -T 3 -O- http://10.88.0.10:8080/"
check "allow-list passes its address:port" bash -c "ip netns exec $NETNS $ucrt --root $root run --rm --network-policy allow=10.88.0.10/32:8080 $image wget -q -T 5 -O- http://10.88.0.10:8080/ | grep -q hello-srv"
check "allow-list blocks another port" bash -c "! ip netns exec $NETNS $ucrt --root $root run --rm --network-policy allow=10.88.0.10/32:9999 $image wget -q -T 3 -O- http://10.88.0.10:8080/"

u run -d --rm --name srv2 --ip 10.88.0.11 --network-policy deny-all "$image" sh -c "$serve" >/dev/null &
pids+=($!)
check "a deny-all container still answers the host" bash -c "$(declare -f wait_http); NETNS=$NETNS wait_http http://10.88.0.11:8080/ | grep -q hello-srv"

# A guest forging its source IP, then its MAC: nothing gets through.
u run -d --rm --name forger --ip 10.88.0.12 "$image" sh -c \
	'ip addr add 10.88.0.200/16 dev eth0; ping -c 3 -W 1 -I 10.88.0.200 10.88.0.1;
	 ip link set eth0 address 02:00:00:00:00:01; ping -c 3 -W 1 10.88.0.1; sleep 30' >/dev/null &
pids+=($!)
sleep 15
js=$(u network ls --format json)
spoof=$(echo "$js" | tr -d ' \n' | grep -o '"address":"10.88.0.12"[^}]*' | grep -o '"drop_spoof":[0-9]*' | cut -d: -f2)
check "forged source IP and MAC dropped and counted (drop_spoof=${spoof:-none})" test "${spoof:-0}" -ge 6
check "--network none gives only loopback" bash -c "ip netns exec $NETNS $ucrt --root $root run --rm --network none $image sh -c 'ls /sys/class/net' | tr '\n' ' ' | grep -qx 'lo '"

for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
pids=()

# 16 at once, then ucrt is killed.
for i in $(seq 1 16); do
	u run --rm "$image" sleep 60 >/dev/null 2>&1 &
	pids+=($!)
done
for _ in $(seq 1 120); do [ "$(leases)" -ge 16 ] && break; sleep 0.5; done
check "16 containers hold 16 leases" test "$(leases)" = 16
check "16 distinct addresses" test "$(cut -d' ' -f1 "$root/net/leases" | sort -u | wc -l)" = 16
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
wait 2>/dev/null
pids=()
sleep 1
u network prune >/dev/null
check "no lease left after kill -9 and the next start" test "$(leases)" = 0
check "no tap (and so no tc filter) left" bash -c "! ip netns exec $NETNS ip -o link show | grep -q ' ucrt-'"
