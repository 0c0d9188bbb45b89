#!/bin/bash
# Rootless ucrt (docs/security.md, docs/network.md): an ordinary user made
# by the test (useradd, in the kvm group where /dev/kvm exists; removed at
# the end) pulls from the test registry, builds the disk and runs with the
# store under ~/.local/share/ucrt (or $XDG_DATA_HOME/ucrt), every state
# directory 0700 and file 0600 owned by that user, QEMU running as that
# user; detached containers work; ps lists a --parallel run's instances
# from private records in /tmp/ucrt-UID/instances/. Networking without root in a network
# namespace made for the test (a veth uplink, an HTTP server on it, a DNS
# server on the namespace's loopback, so nothing leaves the machine): with
# passt, then with QEMU's slirp (UCRT_PASST=none), the guest reaches the
# host's loopback through 10.0.2.2, an outside address, and resolves a
# name through 10.0.2.3, and -p publishes a guest's server. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/net.sh"
t_run_init
unset UCRT_NETWORK	# the rootless default is what is tested
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root to create the test user"; rm -rf "$tmp"; exit 0; }
command -v useradd >/dev/null && command -v runuser >/dev/null ||
	{ echo "1..0 # SKIP useradd/runuser missing"; rm -rf "$tmp"; exit 0; }
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux

user=ucrt-rl$$
home=$(mktemp -d /tmp/ucrt-rl-home.XXXXXX)
NS=ucrt-t-rl-$$
cleanup() {
	[ -n "${srv_pids:-}" ] && kill $srv_pids 2>/dev/null
	pkill -KILL -u "$user" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "/etc/netns/$NS"
	userdel "$user" 2>/dev/null
	t_reg_stop
	rm -rf "$tmp" "$home" "/tmp/ucrt-${uid:-none}"
}
trap cleanup EXIT
groups=
[ -e /dev/kvm ] && getent group kvm >/dev/null && groups="-G kvm"
# shellcheck disable=SC2086
useradd -M -d "$home" -s /bin/sh $groups "$user" 2>"$tmp/err" ||
	{ echo "1..0 # SKIP useradd failed: $(cat "$tmp/err")"; exit 0; }
chown "$user:" "$home"
chmod 0700 "$home"
# The user's ucrt, kernel and guest-init must be reachable from its account.
for f in "$UCRT_BIN" "${UCRT_KERNEL:-/dev/null}" "${UCRT_INIT:-$(dirname "$UCRT_BIN")/ucrt-init}"; do
	runuser -u "$user" -- test -r "$f" ||
		{ echo "1..0 # SKIP $f is not readable by an ordinary user"; exit 0; }
done
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
# As the user, with a clean environment: what a login would give.
UU() {
	runuser -u "$user" -- env -i HOME="$home" PATH=/usr/bin:/bin:/usr/sbin:/sbin USER="$user" \
		${UCRT_KERNEL:+UCRT_KERNEL=$UCRT_KERNEL} ${UCRT_INIT:+UCRT_INIT=$UCRT_INIT} \
		${UU_ENV:-} "$UCRT_BIN" "$@"
}
store=$home/.local/share/ucrt

UU image pull -q "$IMG" >/dev/null 2>"$tmp/err"; st=$?
if [ $st != 0 ] && grep -qi "operation not permitted\|io_uring" "$tmp/err"; then
	echo "1..0 # SKIP the kernel refuses an unprivileged user: $(head -1 "$tmp/err")"; exit 0
fi
is "pull as an ordinary user" "$st" 0
[ -d "$store/blobs" ] && ok "the store is ~/.local/share/ucrt" || nok "the store is ~/.local/share/ucrt"
is "run as an ordinary user (disk built, VM booted)" "$(UU run --rm "$IMG" echo hi 2>"$tmp/err")" hi

# Detached: QEMU runs as the user, the supervisor answers exec.
id=$(UU run -d --name rl -e TOKEN=x "$IMG" sh -c 'echo ready; sleep 300' 2>"$tmp/err")
for _ in $(seq 600); do UU logs rl 2>/dev/null | grep -q ready && break; sleep 0.1; done
is "exec in a detached container" "$(UU exec rl echo inside 2>"$tmp/err")" inside
qp=$(t_qemu_pids "$store/containers/$id" | head -1)
is "its QEMU runs as the user" "$(awk '$1 == "Uid:" { print $2 }' "/proc/${qp:-0}/status" 2>/dev/null)" "$(id -u "$user")"

# The store is the user's and private: its root 0700, every container's
# directory 0700 and state file 0600 (config.json holds -e values).
is "the store root is 0700" "$(stat -c %a "$store")" 700
is "everything in it belongs to the user" "$(find "$store" ! -user "$user" | head -3)" ""
is "nothing in it is writable by others" "$(find "$store" -perm /022 ! -type l | head -3)" ""
bad=$(find "$store/containers" \( \( -type d -perm /077 \) -o \( -type f -perm /077 \) \) -printf '%M %p\n' | head -5)
is "containers: directories 0700, files 0600" "$bad" ""
[ -n "$(find "$store/containers" -name config.json)" ] && ok "... (a container's config.json was checked)" ||
	nok "... (a container's config.json was checked)"
UU rm -f rl >/dev/null 2>&1
UU_ENV="XDG_DATA_HOME=$home/xdg" UU image ls >/dev/null 2>"$tmp/err"
[ -d "$home/xdg/ucrt/blobs" ] && ok "XDG_DATA_HOME moves the store" || nok "XDG_DATA_HOME moves the store"

# Runtime files (ucrt-oci's state): $XDG_RUNTIME_DIR/ucrt, else
# /tmp/ucrt-UID, refused when someone else made that first.
uid=$(id -u "$user")
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
rm -rf "/tmp/ucrt-$uid"
mkdir -m 0755 "/tmp/ucrt-$uid"	# squatted by root
runuser -u "$user" -- env -i HOME="$home" "$OCI" list >/dev/null 2>"$tmp/err"; st=$?
[ $st != 0 ] && grep -q "not a private directory" "$tmp/err" && ok "a /tmp/ucrt-UID made by another user is refused" ||
	nok "a /tmp/ucrt-UID made by another user is refused"
rmdir "/tmp/ucrt-$uid"
runuser -u "$user" -- env -i HOME="$home" "$OCI" list >/dev/null 2>"$tmp/err"
is "without XDG_RUNTIME_DIR: /tmp/ucrt-UID/oci, 0700, the user's" "$(stat -c '%a %U' "/tmp/ucrt-$uid/oci" 2>&1)" "700 $user"
mkdir -m 0700 "$home/run" && chown "$user:" "$home/run"
runuser -u "$user" -- env -i HOME="$home" XDG_RUNTIME_DIR="$home/run" "$OCI" list >/dev/null 2>"$tmp/err"
[ -d "$home/run/ucrt/oci" ] && ok "with XDG_RUNTIME_DIR: \$XDG_RUNTIME_DIR/ucrt/oci" || nok "with XDG_RUNTIME_DIR: \$XDG_RUNTIME_DIR/ucrt/oci"
rm -rf "/tmp/ucrt-$uid"

# run --parallel as the user: ps lists its instances from records in
# /tmp/ucrt-UID/instances/ (made by the run), private, gone at its end.
UU_ENV=UCRT_NETWORK=none UU run --parallel 2 --max-concurrent 2 "$IMG" sh -c 'echo up; sleep 300' \
	>"$tmp/pout" 2>"$tmp/perr" &
pp=$!
for _ in $(seq 600); do [ "$(grep -c up "$tmp/pout")" = 2 ] && break; sleep 0.5; done
is "run --parallel as the user: ps lists its 2 instances" "$(UU ps --format '{{.Names}}' | sort | tr '\n' ' ')" \
	"task-0 task-1 "
bad=$(find "/tmp/ucrt-$uid" \( ! -user "$user" -o \( -type d -perm /077 \) -o \( -type f -perm /077 \) \) \
	-printf '%M %u %p\n' | head -3)
is "... records in /tmp/ucrt-UID/instances/, directories 0700, files 0600, the user's" \
	"$(find "/tmp/ucrt-$uid/instances" -name '*.json' | wc -l) $bad" "2 "
kill -INT $(pgrep -u "$user" -f -- "--parallel 2") 2>/dev/null; wait $pp
is "... gone when the run ends" "$(UU ps -q; find "/tmp/ucrt-$uid/instances" -name '*.json')" ""
rm -rf "/tmp/ucrt-$uid"

# Networking without root, in a namespace of our own.
disk=$home/net.ext4
if ! net_disk "$tmp/nd" || ! cp "$tmp/nd/disk.ext4" "$disk" || ! chown "$user:" "$disk"; then
	for i in 1 2 3 4 5 6 7 8; do n=$((n + 1)); echo "ok $n # SKIP no static busybox with wget and nslookup"; done
	echo "1..$n"; exit 0
fi
ip netns add "$NS" || { echo "1..$n"; exit 1; }
inns() { ip netns exec "$NS" "$@"; }
inns ip link set lo up
# An uplink for passt to take its template from: a veth pair inside the
# namespace (dummy links are not in every kernel).
inns ip link add up0 type veth peer name up1 && inns ip addr add 192.0.2.1/24 dev up0 &&
	inns ip link set up0 up && inns ip link set up1 up && inns ip route add default via 192.0.2.254 dev up0
mkdir -p "/etc/netns/$NS" "$tmp/www"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"	# ip netns exec binds it over /etc/resolv.conf
echo outside-ok >"$tmp/www/index.html"
inns python3 -m http.server -b 192.0.2.1 -d "$tmp/www" 8080 >/dev/null 2>&1 & srv_pids=$!
inns python3 -m http.server -b 127.0.0.1 -d "$tmp/www" 8081 >/dev/null 2>&1 & srv_pids="$srv_pids $!"
# A DNS server answering svc.test. A 192.0.2.1, anything else NXDOMAIN.
inns python3 - >/dev/null 2>&1 <<'PY' & srv_pids="$srv_pids $!"
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    q, a = s.recvfrom(512)
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qend = i + 5
    name, qtype = ".".join(labels).lower(), struct.unpack(">H", q[i + 1:i + 3])[0]
    hit = name == "svc.test" and qtype == 1
    hdr = q[:2] + struct.pack(">HHHHH", 0x8180 if hit or name == "svc.test" else 0x8183, 1, 1 if hit else 0, 0, 0)
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("192.0.2.1") if hit else b""
    s.sendto(hdr + q[12:qend] + ans, a)
PY
# All three listening before a guest probes them (up to 60 s: Python starts
# slowly on a loaded machine).
for _ in $(seq 600); do
	inns ss -Htln 'sport = :8080' | grep -q . && inns ss -Htln 'sport = :8081' | grep -q . &&
		inns ss -Huln 'sport = :53' | grep -q . && break
	sleep 0.1
done
NUU() {	# UU inside the namespace
	ip netns exec "$NS" runuser -u "$user" -- env -i HOME="$home" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
		${UCRT_KERNEL:+UCRT_KERNEL=$UCRT_KERNEL} ${UCRT_INIT:+UCRT_INIT=$UCRT_INIT} ${UU_ENV:-} "$UCRT_BIN" "$@"
}
# (busybox's static wget crashes with -q or -T: its stderr is dropped.)
probe='wget -O - http://10.0.2.2:8081/ 2>/dev/null; wget -O - http://192.0.2.1:8080/ 2>/dev/null;
	nslookup svc.test 10.0.2.3 2>&1 | grep -c 192.0.2.1; wget -O - http://svc.test:8080/ 2>/dev/null'
for backend in passt slirp; do
	if [ $backend = passt ] && ! command -v passt >/dev/null; then
		for i in 1 2 3 4; do n=$((n + 1)); echo "ok $n # SKIP passt not installed"; done
		continue
	fi
	UU_ENV=
	[ $backend = slirp ] && UU_ENV=UCRT_PASST=none
	out=$(NUU run --rm --rootfs "$disk" sh -c "$probe" 2>"$tmp/err")
	set -- $out
	is "$backend: the guest reaches the host's loopback through 10.0.2.2" "${1:-}" outside-ok
	is "$backend: ... and an outside address" "${2:-}" outside-ok
	is "$backend: ... and resolves a name through 10.0.2.3" "${3:-}" 1
	is "$backend: ... and connects to it by name" "${4:-}" outside-ok
done
# -p: a published port reaches the guest's server (passt's -t, slirp's hostfwd).
for backend in passt slirp; do
	UU_ENV=
	[ $backend = slirp ] && UU_ENV=UCRT_PASST=none
	[ $backend = passt ] && ! command -v passt >/dev/null && { n=$((n + 1)); echo "ok $n # SKIP passt not installed"; continue; }
	port=$((18000 + RANDOM % 1000))
	NUU run -d --name web -p "$port:80" --rootfs "$disk" httpd -f -p 80 -h /w >/dev/null 2>"$tmp/err"
	got=
	for _ in $(seq 300); do got=$(inns curl -s -m 2 "http://127.0.0.1:$port/" 2>/dev/null) && [ -n "$got" ] && break; sleep 0.2; done
	is "$backend: -p $port:80 reaches the guest's httpd" "$got" hello-srv
	NUU rm -f web >/dev/null 2>&1
done
UU_ENV=
NUU run --rm --network user --ip 10.0.2.9 --rootfs "$disk" true >/dev/null 2>"$tmp/err"; st=$?
[ $st = 125 ] && grep -q -- "--ip" "$tmp/err" && ok "--ip with --network user: 125 naming --ip" ||
	nok "--ip with --network user: 125 naming --ip"
for _ in $(seq 600); do pgrep -u "$user" passt >/dev/null || break; sleep 0.1; done
pgrep -u "$user" passt >/dev/null && nok "no passt left behind" || ok "no passt left behind"
echo "1..$n"
