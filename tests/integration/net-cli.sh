#!/usr/bin/env bash
# `ucrt network ls|prune|rm` against leftovers of "crashed" runs, in a
# network namespace made for the test: a bridge with the ucrt subnet, a
# lease of a dead process with its persistent tap, a lease of a live one.
set -u
. "${UCRT_SRC:?}/tests/lib/net.sh"
ucrt=${UCRT_BIN:?}

net_setup cli
root=$(mktemp -d)
sleeper=
cleanup() {
	[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
	net_cleanup
	rm -rf "$root"
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }

echo 1..12
in_ns ip link add ucrt0 type bridge
in_ns ip addr add 10.88.0.1/16 dev ucrt0
in_ns ip link set ucrt0 up
# Persistent taps, as a crashed run that had made them persistent would leave.
in_ns ip tuntap add ucrt-0a580002 mode tap
in_ns ip tuntap add ucrt-0a580063 mode tap

# A live owner (a sleep we control) and a dead one (a finished subshell).
sleep 300 & sleeper=$!
( exit 0 ) & dead=$!; wait $dead
mkdir -p "$root/net"
printf '10.88.0.2 live1 %d %s ucrt-0a580002\n10.88.0.99 dead1 %d 12345 ucrt-0a580063\n' \
	"$sleeper" "$(pid_start "$sleeper")" "$dead" > "$root/net/leases"

out=$(in_ns "$ucrt" --root "$root" network ls)
check "ls lists both leases" test "$(echo "$out" | grep -c '^10\.88\.0\.')" = 2
check "ls marks the live owner live" grep -q '^10\.88\.0\.2 .*live1 .* live ' <<<"$out"
check "ls marks the dead owner dead" grep -q '^10\.88\.0\.99 .*dead1 .* dead ' <<<"$out"
js=$(in_ns "$ucrt" --root "$root" network ls --format json)
check "ls --format json: one object a line, docker's key style" python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert len(r)==2 and sorted(x["Alive"] for x in r)==[False,True] and all(x["Address"].startswith("10.88.0.") for x in r), r' <<<"$js"

out=$(in_ns "$ucrt" --root "$root" network prune)
check "prune reports 2 removals (lease + tap)" grep -q 'removed 2 ' <<<"$out"
check "dead lease dropped" test "$(grep -c . "$root/net/leases")" = 1
check "dead owner's tap deleted" bash -c "! ip netns exec $NETNS ip link show ucrt-0a580063 >/dev/null 2>&1"
check "live owner's tap kept" bash -c "ip netns exec $NETNS ip link show ucrt-0a580002 >/dev/null"

in_ns "$ucrt" --root "$root" network rm 2>"$root/err"
check "rm refused while a container is live (exit 125)" test $? = 125
check "rm says why" grep -q 'still use ucrt0' "$root/err"

kill "$sleeper"; wait "$sleeper" 2>/dev/null; sleeper=
in_ns "$ucrt" --root "$root" network rm
check "rm after the owner died" test $? = 0
check "bridge gone" bash -c "! ip netns exec $NETNS ip link show ucrt0 >/dev/null 2>&1"
