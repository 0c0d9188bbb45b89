#!/bin/bash
# podman with ucrt-oci as its OCI runtime (docs/oci-runtime.md), real
# podman + conmon from Debian, the image pulled by podman from the local
# registry: `run --rm` output and exit statuses 0/1/42/127; run -d, ps,
# logs, exec, stop (SIGTERM, then SIGKILL for a process that ignores it),
# rm; run -t driven through tmux; a -v bind mount both ways. Everything
# podman keeps is test-local (containers.conf via CONTAINERS_CONF,
# --root/--runroot/--tmpdir): the machine's podman config is not touched.
# TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP podman as an OCI runtime host needs root"; exit 0; }
for t in podman conmon tmux; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not installed (./configure --install-deps)"; exit 0; }
done
OCI=$(dirname "$UCRT_BIN")/ucrt-oci
[ -x "$OCI" ] || { echo "1..0 # SKIP $OCI not built"; exit 0; }
# A bundle's root is a 9p share: ucrt's own kernel (an ASan build in
# build/asan finds none next to itself).
[ -n "${UCRT_KERNEL:-}" ] || [ ! -f "$UCRT_SRC/build/kernel/vmlinux" ] || export UCRT_KERNEL=$UCRT_SRC/build/kernel/vmlinux
[ -n "${UCRT_KERNEL:-}" ] || { echo "1..0 # SKIP a bundle root needs ucrt's kernel (make kernel)"; exit 0; }
P() {
	CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf \
		podman --root "$tmp/graph" --runroot "$tmp/runroot" --tmpdir "$tmp/libpod" \
		--events-backend file "$@"
}
cleanup() {
	P rm -a -f -t 0 >/dev/null 2>&1
	P system reset -f >/dev/null 2>&1
	[ -n "${TMUX_SOCK:-}" ] && tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
	[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
	t_reg_stop
	findmnt -rn -o TARGET | grep "^$tmp" | sort -r | xargs -r umount -l 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
cat >"$tmp/containers.conf" <<EOF
[engine]
runtime = "ucrt"
events_logger = "file"
conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "UCRT_KERNEL=$UCRT_KERNEL"]
[engine.runtimes]
ucrt = ["$OCI"]
[network]
network_config_dir = "$tmp/networks"
EOF
cat >"$tmp/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$tmp/runroot"
graphroot = "$tmp/graph"
EOF

P pull -q --tls-verify=false "$IMG" >/dev/null 2>"$tmp/err"; is "podman pulls the test image" "$?" 0
is "podman uses ucrt-oci" "$(P info --format '{{.Host.OCIRuntime.Name}}' 2>"$tmp/err")" "ucrt"

out=$(P run --rm --network none "$IMG" echo hello 2>"$tmp/err"); st=$?
is "podman run --rm IMG echo hello" "$out" "hello"
is "... exits 0" "$st" 0
is "podman --runtime PATH-OF-ucrt-oci run --rm IMG echo hello" \
	"$(P --runtime "$OCI" run --rm --network none "$IMG" echo hello 2>"$tmp/err")" "hello"
P run --rm --network none "$IMG" sh -c 'exit 1' >/dev/null 2>"$tmp/err"; is "exit 1 passed through" "$?" 1
P run --rm --network none "$IMG" sh -c 'exit 42' >/dev/null 2>"$tmp/err"; is "exit 42 passed through" "$?" 42
P run --rm --network none "$IMG" no-such-command >/dev/null 2>"$tmp/err"; is "command not found: 127" "$?" 127
out=$(P run --rm --network none -e FROMCLI=cli -w /tmp --hostname box "$IMG" \
	sh -c 'echo $FROMCLI $IMGVAR; pwd; hostname; id -u' 2>"$tmp/err")
is "env (image + -e), -w, --hostname reach the VM" "$out" "cli from-image
/tmp
box
0"
is "-u 1000:50 from config.json's process.user" \
	"$(P run --rm --network none -u 1000:50 "$IMG" sh -c 'id -u; id -g' 2>"$tmp/err")" "1000
50"
is "stdin (-i) reaches the process" "$(echo piped | P run --rm -i --network none "$IMG" cat 2>"$tmp/err")" "piped"

mkdir -p "$tmp/data"
echo from-host >"$tmp/data/in"
out=$(P run --rm --network none -v "$tmp/data:/data" "$IMG" sh -c 'cat /data/in; echo from-guest >/data/out' 2>"$tmp/err")
is "-v: the guest reads the host's file" "$out" "from-host"
is "-v: the host reads the guest's file" "$(cat "$tmp/data/out" 2>/dev/null)" "from-guest"
P run --rm --network none -v "$tmp/data:/data:ro" "$IMG" sh -c 'echo x >/data/ro' >/dev/null 2>"$tmp/err"
[ $? -ne 0 ] && [ ! -e "$tmp/data/ro" ] && ok "-v :ro cannot be written" || nok "-v :ro cannot be written"

# Detached: ps, logs, exec, stop with SIGTERM, rm.
P run -d --name web --network none "$IMG" sh -c 'echo started; trap "echo got-term; exit 3" TERM; while :; do sleep 0.2; done' \
	>"$tmp/cid" 2>"$tmp/err"; is "run -d" "$?" 0
for _ in $(seq 150); do P logs web 2>/dev/null | grep -q started && break; sleep 0.2; done
P ps --format '{{.Names}} {{.Status}}' >"$tmp/ps" 2>"$tmp/err"
grep -q "^web Up" "$tmp/ps" && ok "podman ps shows it up" || { nok "podman ps shows it up"; sed 's/^/# /' "$tmp/ps"; }
is "podman logs" "$(P logs web 2>"$tmp/err")" "started"
out=$(P exec web sh -c 'echo in-exec; hostname >/dev/null; exit 5' 2>"$tmp/err"); st=$?
is "podman exec output" "$out" "in-exec"
is "podman exec exit status" "$st" 5
echo via-stdin | P exec -i web cat >"$tmp/exec-in" 2>"$tmp/err"
is "podman exec -i stdin" "$(cat "$tmp/exec-in")" "via-stdin"
P stop -t 10 web >/dev/null 2>"$tmp/err"; is "podman stop" "$?" 0
is "SIGTERM reached the process (its trap ran)" "$(P logs web 2>"$tmp/err" | tail -1)" "got-term"
is "its exit status (3) is the container's" "$(P inspect web --format '{{.State.ExitCode}}' 2>"$tmp/err")" 3
P rm web >/dev/null 2>"$tmp/err"; is "podman rm" "$?" 0
is "nothing left in podman" "$(P ps -a -q 2>"$tmp/err")" ""

P run -d --name stubborn --network none "$IMG" sh -c 'trap "" TERM; echo up; while :; do sleep 0.2; done' >/dev/null 2>"$tmp/err"
for _ in $(seq 150); do P logs stubborn 2>/dev/null | grep -q up && break; sleep 0.2; done
P stop -t 1 stubborn >/dev/null 2>"$tmp/err"; is "stop of a process ignoring SIGTERM" "$?" 0
is "... ends with SIGKILL (137)" "$(P inspect stubborn --format '{{.State.ExitCode}}' 2>"$tmp/err")" 137
P rm -f stubborn >/dev/null 2>&1
is "no QEMU left behind by stop/rm" "$(t_qemu_count "$tmp")" 0

# podman's bridge network (netavark or CNI, a test-local network: ucrt's
# own bridge takes podman's default 10.88.0.0/16), joined to the VM by tc
# redirect: the guest reaches a host service on the bridge's address, and
# the host reaches a server in the guest at the container's address.
NETSUB=10.213.$((RANDOM % 200 + 20))
P network create --subnet "$NETSUB.0/24" ucrt-test-net >/dev/null 2>"$tmp/err"; is "podman network create" "$?" 0
mkdir -p "$tmp/www"; echo served-by-host >"$tmp/www/index.html"
python3 -m http.server 0 --bind 0.0.0.0 --directory "$tmp/www" >"$tmp/http.log" 2>&1 &
HTTP_PID=$!
out=$(P run --rm --network ucrt-test-net "$IMG" sh -c \
	"busybox ip -4 addr show eth0 | busybox grep -q '$NETSUB\.' && echo addressed; busybox ip route | busybox grep -q 'default via $NETSUB.1' && echo routed" 2>"$tmp/err")
is "the guest's eth0 has podman's address and default route" "$out" "addressed
routed"
HTTP_PORT=
for _ in $(seq 50); do
	HTTP_PORT=$(ss -ltnp 2>/dev/null | awk -v p="pid=$HTTP_PID," '$0 ~ p { n = split($4, a, ":"); print a[n]; exit }')
	[ -n "$HTTP_PORT" ] && break; sleep 0.1
done
[ -n "$HTTP_PORT" ] || HTTP_PORT=0
out=$(P run --rm --network ucrt-test-net "$IMG" sh -c \
	"printf 'GET /index.html HTTP/1.0\r\n\r\n' | busybox nc -w 10 $NETSUB.1 $HTTP_PORT | busybox tail -1" 2>"$tmp/err")
is "the guest reaches a host service over podman's bridge (tc redirect)" "$out" "served-by-host"
kill $HTTP_PID 2>/dev/null; wait $HTTP_PID 2>/dev/null
P run -d --name srv --network ucrt-test-net "$IMG" sh -c \
	'mkdir -p /tmp/www; echo served-by-guest >/tmp/www/index.html; busybox httpd -f -p 8080 -h /tmp/www' >/dev/null 2>"$tmp/err"
SRV_IP=$(P inspect srv --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' 2>/dev/null)
out=
for _ in $(seq 100); do
	out=$(curl -s -m 2 "http://$SRV_IP:8080/index.html" 2>/dev/null) && [ -n "$out" ] && break
	sleep 0.3
done
is "the host reaches a server in the guest at the container's address ($SRV_IP)" "$out" "served-by-guest"
P rm -f -t 0 srv >/dev/null 2>&1
P network rm -f ucrt-test-net >/dev/null 2>&1

# A terminal session, typed into through tmux.
TMUX_SOCK=$tmp/tmux.sock
cat >"$tmp/tty.sh" <<EOF
#!/bin/bash
CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf \
podman --root $tmp/graph --runroot $tmp/runroot --tmpdir $tmp/libpod --events-backend file \
	run -it --rm --network none $IMG sh
echo "EXIT=\$?" >$tmp/tty-exit
sleep 30
EOF
chmod +x "$tmp/tty.sh"
tmux -S "$TMUX_SOCK" new-session -d -x 100 -y 30 "$tmp/tty.sh"
pane() { tmux -S "$TMUX_SOCK" capture-pane -p 2>/dev/null; }
waitpane() { for _ in $(seq 300); do pane | grep -q "$1" && return 0; sleep 0.2; done; return 1; }
waitpane '#' && ok "run -t: the shell's prompt shows in tmux" || { nok "run -t: the shell's prompt"; pane | sed 's/^/# /'; }
tmux -S "$TMUX_SOCK" send-keys 'echo tty-$((6*7)); tty' Enter
waitpane 'tty-42' && ok "run -t: typed command ran" || { nok "run -t: typed command ran"; pane | sed 's/^/# /'; }
waitpane '/dev/pts/' && ok "run -t: the process has a terminal" || nok "run -t: the process has a terminal"
tmux -S "$TMUX_SOCK" send-keys 'exit 7' Enter
for _ in $(seq 150); do [ -s "$tmp/tty-exit" ] && break; sleep 0.2; done
is "run -t: exit status of the session" "$(cat "$tmp/tty-exit" 2>/dev/null)" "EXIT=7"

echo "1..$n"
