# Shared helpers of tests/integration/net-*.sh: a private network
# namespace made with `ip netns add`, removed by net_cleanup (call it from
# the test's EXIT trap). No traffic leaves the namespace.

# net_setup NAME: create netns ucrt-t-NAME-$$ and export NETNS; prints a
# TAP skip plan and exits when the machine cannot.
net_setup() {
	if [ "$(id -u)" != 0 ]; then
		echo "1..0 # SKIP needs root (CAP_NET_ADMIN) for a network namespace"
		exit 0
	fi
	NETNS="ucrt-t-$1-$$"
	if ! ip netns add "$NETNS" 2>/dev/null; then
		echo "1..0 # SKIP cannot create a network namespace (CAP_NET_ADMIN missing?)"
		exit 0
	fi
	export NETNS
	ip netns exec "$NETNS" ip link set lo up
}

net_cleanup() {
	[ -n "${NETNS:-}" ] && ip netns del "$NETNS" 2>/dev/null
	return 0
}

# Run a command inside the namespace.
in_ns() {
	ip netns exec "$NETNS" "$@"
}

# Start time (clock ticks since boot) of a pid: field 22 of /proc/PID/stat.
pid_start() {
	sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20
}

# net_disk DIR: an ext4 root disk (DIR/disk.ext4, via `ucrt rootfs build`)
# with the host's static busybox and the applets the network tests use,
# and /w/index.html ("hello-srv") for httpd. No registry needed: run it
# with `ucrt run --rootfs DIR/disk.ext4`. Returns 1 when busybox is not
# static or lacks an applet.
net_disk() {
	local d=$1 a
	local applets="sh ip ifconfig ping wget httpd nc sleep echo mkdir cat ls tr hostname grep true"
	ldd /bin/busybox 2>&1 | grep -q 'not a dynamic executable' || return 1
	for a in $applets; do busybox --list | grep -qx "$a" || return 1; done
	rm -rf "$d/rootfs" && mkdir -p "$d/rootfs" || return 1
	(cd "$d/rootfs" && mkdir -p bin etc tmp proc sys dev run w root &&
		cp /bin/busybox bin/ && for a in $applets; do ln -s busybox "bin/$a"; done &&
		echo hello-srv >w/index.html) || return 1
	tar -C "$d/rootfs" -cf "$d/layer.tar" . && rm -rf "$d/rootfs" || return 1
	"${UCRT_BIN:?}" rootfs build -o "$d/disk.ext4" "$d/layer.tar" >/dev/null && rm -f "$d/layer.tar"
}
