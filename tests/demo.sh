#!/usr/bin/env bash
# `make demo`: serve a small image from a local registry, then run a real
# container from it. Until `ucrt run` exists this only shows the version.
set -euo pipefail
bin=${UCRT_BIN:?}
"$bin" --version
if "$bin" --help 2>/dev/null | grep -q '^  run '; then
	src=${UCRT_SRC:?}
	# shellcheck source=tests/lib/demo-run.sh
	. "$src/tests/lib/demo-run.sh"
fi
