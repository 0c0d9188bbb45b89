#!/bin/sh
# Create the system user QEMU runs as when ucrt is root (docs/security.md):
# no home, no login shell, its own group, nothing else. Idempotent; used by
# `make install`, `./configure --install-deps` and the test runner.
# Usage: tools/qemu-user.sh [NAME]   (default ucrt-qemu)
set -eu
name=${1:-ucrt-qemu}
getent passwd "$name" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "qemu-user.sh: user $name is missing; run as root to create it" >&2
	exit 1
fi
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell "$nologin" \
	--comment "ucrt QEMU (unprivileged)" "$name"
