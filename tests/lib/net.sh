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
