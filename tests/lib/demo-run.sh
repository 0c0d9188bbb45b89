# Sourced by tests/demo.sh once `ucrt --help` lists `run`: serve a small
# busybox image from a local docker-registry on 127.0.0.1, then run a real
# container from it with `ucrt run --rm` and show its output.
# shellcheck source=tests/lib/registry.sh
. "$src/tests/lib/registry.sh"
# shellcheck source=tests/lib/run.sh
. "$src/tests/lib/run.sh"
for t in docker-registry qemu-system-x86_64 python3 curl; do
	command -v $t >/dev/null || { echo "demo: $t is not installed (./configure --install-deps)"; exit 1; }
done
[ -x /bin/busybox ] || { echo "demo: busybox-static is not installed"; exit 1; }
# The demo needs no network: leave the host's bridges and nftables alone.
export UCRT_NETWORK=${UCRT_NETWORK:-none}
demo_dir=$(mktemp -d /tmp/ucrt-demo.XXXXXX)
trap 't_reg_stop; rm -rf "$demo_dir"' EXIT
echo "== starting a local registry and pushing a busybox image"
t_run_setup "$demo_dir" >"$demo_dir/setup.log" 2>&1 || { cat "$demo_dir/setup.log"; exit 1; }
echo "   $IMG"
printf '== ucrt run --rm %s sh -c %s\n' "$IMG" "'echo \"hello from \$(hostname), a microVM running \$(uname -sr)\"'"
"$bin" --root "$demo_dir/root" run --rm "$IMG" sh -c 'echo "hello from $(hostname), a microVM running $(uname -sr)"'
echo "== exit status: $?"
echo "== the same with --parallel 4"
"$bin" --root "$demo_dir/root" run --rm --parallel 4 "$IMG" sh -c 'echo "task $UCRT_TASK_INDEX of $UCRT_TASK_COUNT"'
echo "== results out of the VMs: --parallel 4 -v \$DIR:/out, each task writes /out/\$UCRT_TASK_INDEX"
mkdir -p "$demo_dir/out"
# As root, QEMU runs as the unprivileged ucrt-qemu user and reads and
# writes -v directories with its rights (docs/run.md): give it this one.
if [ "$(id -u)" = 0 ] && getent passwd ucrt-qemu >/dev/null; then
	echo "   (chown ucrt-qemu \$DIR: QEMU runs unprivileged and writes shares with its rights)"
	chown ucrt-qemu "$demo_dir/out"
fi
"$bin" --root "$demo_dir/root" run --rm --parallel 4 -v "$demo_dir/out:/out" "$IMG" \
	sh -c 'echo "result of task $UCRT_TASK_INDEX" >/out/$UCRT_TASK_INDEX' >/dev/null
for f in "$demo_dir"/out/*; do printf '   %s: %s\n' "out/${f##*/}" "$(cat "$f")"; done
