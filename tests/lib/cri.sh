# containerd's CRI of the test's own (tests/integration/cri.sh,
# bench/cri.sh): root, state and sockets under DIR, the `ucrt` runtime
# handler of docs/examples/kubernetes/containerd-ucrt.toml pointed at OCI
# (its state in DIR/oci/k8s.io: the shim appends the namespace), the
# bridge CNI plugin on SUBNET.0/24 (bridge ucrtcri0, host-local IPAM under
# DIR), plain-HTTP pulls from $REG, the sandbox image PAUSE. Run it in a
# network namespace of the caller's own: the bridge is made in
# containerd's namespace.
#   t_cri_need                         prints why not, or nothing
#   t_cri_start DIR OCI PAUSE SUBNET   0 when the CRI answers
#   t_cri_stop                         containerd and what it left
#   CRI CMD ARG...                     tests/lib/cri/cri.py on the socket
T_CRI_PY=/usr/bin/python3
t_cri_need() {
	local t
	for t in containerd containerd-shim-runc-v2 nsenter ip curl; do
		command -v $t >/dev/null || { echo "$t not installed (./configure --install-deps)"; return; }
	done
	[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
		{ echo "CNI plugins not installed (containernetworking-plugins)"; return; }
	$T_CRI_PY -c 'import grpc, grpc_tools' 2>/dev/null ||
		echo "python3-grpcio/python3-grpc-tools not installed"
}

CRI() { CRI_GEN=$T_CRI_DIR/gen $T_CRI_PY "$T_LIB_DIR/cri/cri.py" "$T_CRI_DIR/containerd.sock" "$@"; }

t_cri_start() {	# DIR OCI PAUSE SUBNET
	local d=$1 oci=$2 pause=$3 sub=$4
	T_CRI_DIR=$d
	T_CRI_OCI=$oci
	mkdir -p "$d/net.d" "$d/logs" "$d/oci"
	cat >"$d/net.d/10-ucrt-test.conflist" <<EOF
{ "cniVersion": "1.0.0", "name": "ucrt-test",
  "plugins": [ { "type": "bridge", "bridge": "ucrtcri0", "isGateway": true, "ipMasq": false,
                 "ipam": { "type": "host-local", "dataDir": "$d/ipam",
                           "ranges": [[{ "subnet": "$sub.0/24" }]], "routes": [{ "dst": "0.0.0.0/0" }] } } ] }
EOF
	cat >"$d/containerd.toml" <<EOF
version = 2
root = "$d/cd-root"
state = "$d/cd-state"
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = "$d/containerd-debug.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "ucrt"
$(sed -n '/^\[plugins/,$p' "$UCRT_SRC/docs/examples/kubernetes/containerd-ucrt.toml" | sed -e 's/^/    /' -e "s|/usr/local/bin/ucrt-oci|$oci|" -e "s|/run/ucrt-oci|$d/oci|")
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REG"]
    endpoint = ["http://$REG"]
EOF
	containerd --config "$d/containerd.toml" >"$d/containerd.log" 2>&1 &
	T_CRI_PID=$!
	for _ in $(seq 600); do CRI version >/dev/null 2>&1 && return 0; sleep 0.1; done	# up to 60 s
	return 1
}

t_cri_stop() {
	local c p
	[ -n "${T_CRI_PID:-}" ] && kill "$T_CRI_PID" 2>/dev/null && wait "$T_CRI_PID" 2>/dev/null
	T_CRI_PID=
	[ -n "${T_CRI_DIR:-}" ] || return 0
	# What a failed run left: its shims (by their pid files), its
	# containers' processes and VMs, its mounts.
	for p in "$T_CRI_DIR"/cd-state/io.containerd.runtime.v2.task/*/*/shim.pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
	for c in $("$T_CRI_OCI" --root "$T_CRI_DIR/oci/k8s.io" list -q 2>/dev/null); do
		"$T_CRI_OCI" --root "$T_CRI_DIR/oci/k8s.io" delete -f "$c" >/dev/null 2>&1
	done
	findmnt -rn -o TARGET | grep "^$T_CRI_DIR" | sort -r | xargs -r umount -l 2>/dev/null
}
