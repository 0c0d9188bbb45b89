#!/usr/bin/env bash
# Health checks for real (QEMU VMs, detached supervisors): a check that
# flips as a file appears and goes (created and removed in the container
# through exec) walks ps through (health: starting), (healthy),
# (unhealthy) and back, inspect's State.Health has docker's shape; the
# image's HEALTHCHECK applies without options and --no-healthcheck turns
# it off; a check that outlives --health-timeout fails. The image is made
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
field() { U inspect "$1" | python3 -c 'import json,sys
d=json.load(sys.stdin)[0]
for k in sys.argv[1].split("."): d=d.get(k) if isinstance(d, dict) else None
print(json.dumps(d) if isinstance(d, (dict, list, bool)) or d is None else d)' "$2"; }
# until_status NAME TEXT: poll ps (up to 60 s) until NAME's status ends
# with TEXT. Only NAME's row: another container's status must not match.
until_status() {
	local i
	for i in $(seq 1 300); do
		U ps --format '{{.Names}} {{.Status}}' | grep "^$1 " | grep -qF -- "$2" && return 0
		sleep 0.2
	done
	return 1
}
python3 "$src/tests/lib/busybox-image.py" "$root/img.tar" localhost/health-test:1 \
	'{"Healthcheck":{"Test":["CMD-SHELL","test -e /tmp/ok"],"Interval":1000000000,"Retries":1}}' &&
	U image load -i "$root/img.tar" >/dev/null || { echo "1..0 # SKIP cannot load the test image"; exit 0; }
img=localhost/health-test:1

echo 1..13
out=$(U run -d --health-interval 1x "$img" true 2>&1); rc=$?
check "a bad duration is refused, naming the option" test $rc = 125 -a "${out#*--health-interval}" != "$out"

# The start period holds "starting" until the first success.
U run -d --name flip --health-cmd 'test -e /tmp/ok' --health-interval 1s --health-retries 2 \
	--health-start-period 10m "$img" sleep 600 >/dev/null
check "ps: (health: starting) before any success" until_status flip "(health: starting)"
U exec flip touch /tmp/ok
check "the file appears: (healthy)" until_status flip "(healthy)"
U exec flip rm /tmp/ok
check "it goes: (unhealthy) after 2 failures" until_status flip "(unhealthy)"
h=$(field flip State.Health)
check "inspect: State.Health.Status unhealthy" test "$(field flip State.Health.Status)" = unhealthy
check "inspect: FailingStreak >= 2" test "$(field flip State.Health.FailingStreak)" -ge 2
python3 -c 'import json,sys
h=json.loads(sys.argv[1]); log=h["Log"]
assert 2 <= len(log) <= 5, len(log)
assert {e["ExitCode"] for e in log} <= {0, 1} and log[-1]["ExitCode"] == 1
assert all(e["Start"].endswith("Z") and e["End"] >= e["Start"] and "Output" in e for e in log)' "$h" &&
	ok "inspect: Log of at most 5 checks, docker's keys, last one failed" || nok "inspect: Log ($h)"
U exec flip touch /tmp/ok
check "back: (healthy)" until_status flip "(healthy)"

# The image's HEALTHCHECK (Retries 1), and --no-healthcheck.
U run -d --name img "$img" sh -c 'touch /tmp/ok; sleep 600' >/dev/null
check "a container of an image with a HEALTHCHECK runs" until_status img " Up "
check "the image's check applies: (healthy)" until_status img "(healthy)"
U run -d --name none --no-healthcheck "$img" sleep 600 >/dev/null
sleep 3
check "--no-healthcheck: no health in ps" bash -c "! '$ucrt' --root '$root' ps --format '{{.Names}} {{.Status}}' | grep '^none ' | grep -q health"
check "--no-healthcheck: no State.Health" test "$(field none State.Health)" = null

U run -d --name slow --health-cmd 'sleep 30' --health-timeout 1s --health-interval 1s --health-retries 1 \
	"$img" sleep 600 >/dev/null
until_status slow "(unhealthy)"
check "a check past --health-timeout fails as such" grep -q "exceeded timeout" <<<"$(field slow State.Health.Log)"
