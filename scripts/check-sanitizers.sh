#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: the C test suite (suites core and slow) built with AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer, zero reports allowed.
#
#   scripts/check-sanitizers.sh [extra meson setup options]
#
# Build tree: $BUILD_DIR (default _build-asan), compiler $CC (default: the
# system's, gcc).  Every sanitizer report fails:
#  - halt_on_error (ASan, UBSan) and -fno-sanitize-recover=undefined stop
#    the process at the first report, so its test fails;
#  - reports go to files (log_path) under $BUILD_DIR/sanitizer-logs, which
#    also catches them in g_test_trap_subprocess() children, whose stderr
#    the parent test may not look at; any file there is a failure.  (The
#    one test that expects an ASan report, test-fiber's guard-page overflow,
#    sends it to stderr itself.)
# Leak checking (detect_leaks=1) uses tests/lsan.supp, which lists what is
# suppressed and why.
# The last line printed is "N passed, N failed" (meson tests, plus one for
# the report files).
set -eu
cd "$(dirname "$0")/.."
. scripts/check-lib.sh

BUILD=${BUILD_DIR:-_build-asan}
top=$(pwd)

# No LTO (the project's default): it only lengthens the links here, where
# the fiber switch stays out of line for the sanitizer's annotations.
check_setup "$BUILD" -Db_sanitize=address,undefined -Db_lto=false \
  -Dc_args=-fno-sanitize-recover=undefined \
  -Dintrospection=false -Dvapi=disabled "$@"

logs=$top/$BUILD/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"

# detect_stack_use_after_return: fake stacks are what the fiber switch
# annotations (__sanitizer_start/finish_switch_fiber) must get right.
ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1
ASAN_OPTIONS=$ASAN_OPTIONS:check_initialization_order=1:strict_init_order=1:log_path=$logs/asan
UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$logs/ubsan
LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0
# GSlice (GLib 2.74) keeps freed objects in its magazines, where ASan does
# not see them as freed: a use after free of a GObject went unnoticed
# until valgrind (which turns GSlice off by itself) caught it.
G_SLICE=always-malloc
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS G_SLICE

status=0
start=$(date +%s)
meson test -C "$BUILD" --suite core --suite slow --num-processes 2 \
  --timeout-multiplier 3 --print-errorlogs || status=1
echo "# sanitizer run took $(( $(date +%s) - start )) s"

# A file holding only a warning (ASan's "doesn't fully support
# makecontext/swapcontext", printed once by test-switch-ucontext, which
# checks the ucontext switch on its own) is shown but is not a report.
reports=0
for f in "$logs"/*; do
  [ -e "$f" ] || continue
  if grep -q -e 'ERROR: ' -e 'runtime error' -e 'SUMMARY: ' "$f"; then
    reports=$((reports + 1))
    echo "=== sanitizer report: $f"
  else
    echo "=== sanitizer warning (not counted): $f"
  fi
  cat "$f"
done
echo "# $reports sanitizer report file(s)"

check_finish "$BUILD/meson-logs/testlog.json" "$reports" "$status"
