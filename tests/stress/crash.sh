#!/bin/bash
# `make stress`: tests/lib/crash.sh with a random seed (printed, so a
# failure can be replayed with CRASH_SEED=N) and 100 kill points by
# default (CRASH_POINTS). Not part of `make check`: minutes, not seconds.
UCRT_SRC=${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CRASH_SEED=${CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')} CRASH_POINTS=${CRASH_POINTS:-100}
echo "# seed $CRASH_SEED, $CRASH_POINTS points"
. "$UCRT_SRC/tests/lib/crash.sh"
