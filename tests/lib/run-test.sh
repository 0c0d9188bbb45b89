#!/bin/sh
# prove --exec wrapper: every test runs as its own process with a time limit
# (T_TIMEOUT seconds, default 600), binaries and scripts alike. As root,
# the user QEMU runs as is created first when missing (docs/security.md).
if [ "$(id -u)" = 0 ] && ! getent passwd ucrt-qemu >/dev/null 2>&1; then
	flock /tmp/ucrt-qemu-user.lock "$(dirname "$0")/../../modules/vm/qemu-user.sh" >&2 ||
		echo "run-test.sh: could not create the ucrt-qemu user" >&2
fi
# VM templates stay off unless a test turns them on (template-*.sh): a
# background template build per test's store would load the machine and
# leave RAM files on /dev/shm.
export UCRT_TEMPLATES="${UCRT_TEMPLATES:-off}"
case "$1" in
*.sh) exec timeout -k 10 "${T_TIMEOUT:-600}" bash "$1" ;;
*) exec timeout -k 10 "${T_TIMEOUT:-600}" "$1" ;;
esac
