#!/bin/bash
# kill -9 at 20 points (fixed seed) of pull, disk build, run, rm and image
# prune; after each, `ucrt system check` passes (or --repair makes it
# pass) and the retried command succeeds. The longer randomised run is
# `make stress` (tests/stress/crash.sh). TAP.
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CRASH_SEED=${CRASH_SEED:-19} CRASH_POINTS=${CRASH_POINTS:-20}
. "$UCRT_SRC/tests/lib/crash.sh"
