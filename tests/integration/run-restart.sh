#!/usr/bin/env bash
# Restart policies for real (QEMU VMs, detached supervisors): on-failure
# restarts a process that fails twice then succeeds (a counter on the
# container's own overlay), ps shows "Restarting (1)" in between and
# inspect the count; on-failure:1 gives up; always restarts a process
# that succeeds until the user stops it; `start --all` (the boot unit)
# brings back always and an unless-stopped container whose supervisor
# died, not an unless-stopped one the user stopped. The image is made
# here (tests/lib/busybox-image.py, `image load`): no registry.
set -u
src=${UCRT_SRC:?}
ucrt=${UCRT_BIN:?}
command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed"; exit 0; }
[ -x /bin/busybox ] || { echo "1..0 # SKIP busybox-static not installed"; exit 0; }
export UCRT_NETWORK=none
root=$(mktemp -d)
U() { "$ucrt" --root "$root" "$@"; }
trap 'for c in $(U ps -aq 2>/dev/null); do U rm -f "$c" >/dev/null 2>&1; done; rm -rf "$root"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# field NAME KEY: one value of inspect (python, exact JSON)
field() { U inspect "$1" | python3 -c 'import json,sys
d=json.load(sys.stdin)[0]
for k in sys.argv[1].split("."): d=d[k]
print(json.dumps(d) if isinstance(d, (dict, list, bool)) else d)' "$2"; }
# until_status NAME REGEX [TRIES]: poll ps until the status matches (at
# least 60 s by default: a VM boot on a loaded machine takes seconds).
until_status() {
	local i
	for i in $(seq 1 "${3:-300}"); do
		U ps -a --format '{{.Names}} {{.Status}}' | grep -qE "^$1 $2" && return 0
		sleep 0.2
	done
	return 1
}
python3 "$src/tests/lib/busybox-image.py" "$root/img.tar" localhost/restart-test:1 '{}' &&
	U image load -i "$root/img.tar" >/dev/null || { echo "1..0 # SKIP cannot load the test image"; exit 0; }
img=localhost/restart-test:1
# A counter on the overlay: each run adds one and fails until the third.
count='n=$(cat /count 2>/dev/null || echo 0); n=$((n + 1)); echo $n >/count; sync; echo run $n;'

echo 1..15
out=$(U run --restart always "$img" true 2>&1); rc=$?
check "--restart without -d is refused ($out)" test $rc = 125 -a -n "$out"
out=$(U run -d --rm --restart on-failure "$img" true 2>&1); rc=$?
check "--restart with --rm is refused" bash -c "[ $rc = 125 ] && grep -q 'conflicting options' <<<'$out'"
out=$(U run -d --restart sometimes "$img" true 2>&1); rc=$?
check "a bad policy is refused, naming it" test $rc = 125 -a "${out#*invalid --restart \'sometimes\'}" != "$out"

U run -d --name f2 --restart on-failure "$img" sh -c "$count [ \$n -ge 3 ]" >/dev/null
U run -d --name f1 --restart on-failure:1 "$img" sh -c "$count exit 3" >/dev/null
check "between runs ps shows Restarting (1)" until_status f2 'Restarting \(1\)'
check "on-failure: the third run succeeds and it stays exited" until_status f2 'Exited \(0\)' 600
check "each run continued on the same overlay" test "$(U logs f2 | tr '\n' ' ')" = "run 1 run 2 run 3 "
check "inspect: RestartCount 2" test "$(field f2 RestartCount)" = 2
check "inspect: HostConfig.RestartPolicy" test "$(field f2 HostConfig.RestartPolicy)" = '{"Name": "on-failure", "MaximumRetryCount": 0}'
check "on-failure:1 gives up after one restart" until_status f1 'Exited \(3\)' 600
check "... with RestartCount 1 and two runs" test "$(field f1 RestartCount)/$(U logs f1 | wc -l)" = 1/2

U run -d --name al --restart always "$img" sh -c "$count sleep 1" >/dev/null
U run -d --name us --restart unless-stopped "$img" sleep 600 >/dev/null
U run -d --name us2 --restart unless-stopped "$img" sleep 600 >/dev/null
for _ in $(seq 1 300); do [ "$(field al RestartCount)" -ge 1 ] 2>/dev/null && until_status al Up 1 && break; sleep 0.2; done
check "always restarts a process that succeeded ($(field al RestartCount) restarts)" test "$(field al RestartCount)" -ge 1
U stop -t 1 al >/dev/null
c1=$(U logs al | wc -l); sleep 2; c2=$(U logs al | wc -l)
check "stop ends it for good (no run after the stop)" test "$c1" = "$c2" -a "$(field al State.Status)" = exited
U stop -t 1 us2 >/dev/null
# A host reboot, as far as us is concerned: its supervisor dies.
kill -9 "$(field us State.OwnerPid)"
for _ in $(seq 1 300); do U ps -a --format '{{.Names}} {{.State}}' | grep -qE '^us (dead|exited)' && break; sleep 0.2; done
out=$(U start --all 2>&1 | sort | tr '\n' ' ')
check "start --all starts always and the unless-stopped the user did not stop ($out)" test "$out" = "al us "
up=no; until_status al Up && until_status us Up && up=yes
check "... they run" test $up = yes
check "... the one the user stopped stays stopped" test "$(field us2 State.Status)" = exited
