#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: ThreadSanitizer over the thread-safe paths, zero reports allowed.
#
#   scripts/check-tsan.sh [extra meson setup options]
#
# Build tree: $BUILD_DIR (default _build-tsan), -Db_sanitize=thread.
#
# What runs: the tests whose threads talk to a loop only through Coop's
# thread-safe entry points (coop_loop_call_soon_threadsafe, run_in_thread,
# coop_driver_set_ready_time, GCancellable from other threads), plus the
# single-threaded suites that exercise fibers, and the threaded stress
# test (suite stress, scaled down: TSan is ~10x slower).  Fiber switches
# are annotated for TSan (__tsan_create_fiber/__tsan_switch_to_fiber in
# src/fiber/coop-fiber.c).
#
# What does not: the GIO-based tests (gio, unix, stream).  GLib is not
# built with TSan, so the synchronisation inside it (GMutex is a futex,
# GTask/GResolver/GSubprocess hand work to their own threads through
# GAsyncQueue) is invisible, and every object that crosses one of its
# threads is reported (hundreds of reports per test, all inside GLib's
# hand-offs).  Coop states the edges of its own hand-offs
# (coop_mutex_lock/unlock, coop_tsan_release/acquire in
# src/core/coop-private.h); it cannot do so for GLib's.  Nor test-fiber: its
# thread test starts more threads than TSan's limit allows.
#
# G_SLICE=always-malloc: GSlice (GLib 2.74) recycles blocks between threads
# through magazines guarded by GLib's own mutex; with plain malloc TSan
# sees each allocation.  tests/tsan.supp lists the suppressions in use,
# each with its reason.
# The last line printed is "N passed, N failed" (meson tests, plus one for
# the report files).
set -eu
cd "$(dirname "$0")/.."
. scripts/check-lib.sh

BUILD=${BUILD_DIR:-_build-tsan}
top=$(pwd)

# No LTO (the project's default): it only lengthens the links here, where
# the fiber switch stays out of line for the sanitizer's annotations.
check_setup "$BUILD" -Db_sanitize=thread -Db_lundef=false -Db_lto=false \
  -Dintrospection=false -Dvapi=disabled "$@"

logs=$top/$BUILD/tsan-logs
rm -rf "$logs"
mkdir -p "$logs"

TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:log_path=$logs/tsan"
TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$top/tests/tsan.supp"
G_SLICE=always-malloc
export TSAN_OPTIONS G_SLICE

tests="threads threadpool driver loop task future combinators sync condition
       queue task-group timeout misuse io io-poll crossloop loop-pool
       fs-threads fs-uring"
stress=$(meson test -C "$BUILD" --list 2>/dev/null | sed -n 's/^coop:stress \/ \(threadsafe\)$/\1/p')

status=0
start=$(date +%s)
# shellcheck disable=SC2086
COOP_STRESS_SCALE=${COOP_STRESS_SCALE:-0.1} \
meson test -C "$BUILD" --num-processes 2 --timeout-multiplier 5 --print-errorlogs \
  $tests $stress || status=1
echo "# tsan run took $(( $(date +%s) - start )) s"

reports=0
for f in "$logs"/*; do
  [ -e "$f" ] || continue
  if grep -q -e 'WARNING: ThreadSanitizer' -e 'ERROR: ThreadSanitizer' "$f"; then
    reports=$((reports + 1))
    echo "=== ThreadSanitizer report: $f"
  else
    echo "=== ThreadSanitizer output (not a report): $f"
  fi
  cat "$f"
done
echo "# $reports process(es) with ThreadSanitizer reports"

check_finish "$BUILD/meson-logs/testlog.json" "$reports" "$status"
