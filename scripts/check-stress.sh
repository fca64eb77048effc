#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: the stress tests (meson suite 'stress', tests/stress/), which a plain
# `meson test` does not run.
#
#   scripts/check-stress.sh [extra meson setup options]
#
# Build tree: $BUILD_DIR (default _build-stress), an ordinary build.
# COOP_STRESS_SCALE (default 1) scales every test's amount of work and
# COOP_STRESS_SECONDS (default 60) bounds each test's main phase; a run
# prints the seed it used (COOP_STRESS_SEED repeats it) and what it did.
#   tasks       1,000,000 tasks: sleeps, yields, wait_for, timeout scopes,
#               gathers, events, awaits of other tasks, random cancels
#   threadsafe  8 threads x 1,000,000 call_soon_threadsafe beside timers
#               and I/O
#   server      an echo server under 1,000 misbehaving clients
#   faults      fds closed, pipes broken, peers reset or killed under
#               waiting tasks; a task's stack overflow; a busy loop closed
# The last line printed is "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
. scripts/check-lib.sh

BUILD=${BUILD_DIR:-_build-stress}

check_setup "$BUILD" -Dintrospection=false -Dvapi=disabled "$@"

status=0
start=$(date +%s)
meson test -C "$BUILD" --suite stress --num-processes 1 || status=1
echo "# stress run took $(( $(date +%s) - start )) s"
# What each test did (its TAP comments).
grep -E '^(test: |# )' "$BUILD/meson-logs/testlog.txt" |
  grep -v -e '^# random seed' -e '^# Start of' -e '^# End of' || true

totals=$(check_totals "$BUILD/meson-logs/testlog.json")
failed=$(echo "$totals" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  totals=$(echo "$totals" | sed 's/ 0 failed/ 1 failed/')
fi
echo "$totals"
exit $status
