#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: every C test binary of the core and slow suites under valgrind
# memcheck, zero errors allowed.
#
#   scripts/check-valgrind.sh [extra meson setup options]
#
# Build tree: $BUILD_DIR (default _build-vg), an ordinary (unsanitized)
# build.  Valgrind runs with --trace-children=yes, so the children of
# g_test_trap_subprocess() are checked too; each process writes its own
# log under $BUILD_DIR/valgrind-logs.  What fails:
#  - any error in a test's own process (--error-exitcode=1 fails the test),
#    definite and indirect leaks included (tests/valgrind.supp suppresses
#    the few one-time allocations of glibc/GLib, each with its reason);
#  - any memory error (invalid read/write/free, use of uninitialised
#    values, bad syscall parameters) in any process, children included.
#    Leaks are not counted in children: many of them abort on purpose
#    (expected criticals) with their objects still allocated.
# Not run here: the tests that are shell scripts (exports, examples,
# switch-aarch64-qemu) and the gjs/gtk suites (interpreters).  Of the
# Python suites, the two that drive coop._speedups (the compiled loop core
# and socket transport, C code of ours inside CPython) run under memcheck
# too, with CPython's own suppressions and PYTHONMALLOC=malloc, memory
# errors only (an interpreter leaves its objects allocated at exit).
# The scale test runs with COOP_SCALE_TASKS=10000 (not 100,000): valgrind
# keeps registered stacks in a list that it searches on every stack
# switch, so its cost grows with the square of the number of suspended
# tasks (10,000: 7 s; 20,000: 34 s; 100,000: over 10 minutes).
# The cross-loop hand-off test runs 8 x 2,000 (COOP_CROSSLOOP_HANDOFFS), not
# 8 x 10,000 or 8 x 100,000: eight threads serialised by valgrind.
# The last line printed is "N passed, N failed" (meson tests, plus one for
# the children's logs).
set -eu
cd "$(dirname "$0")/.."
. scripts/check-lib.sh

BUILD=${BUILD_DIR:-_build-vg}
top=$(pwd)

check_setup "$BUILD" -Dvapi=disabled "$@"

logs=$top/$BUILD/valgrind-logs
rm -rf "$logs"
mkdir -p "$logs"

wrap="valgrind -q --trace-children=yes --log-file=$logs/vg.%p --error-exitcode=1"
wrap="$wrap --leak-check=full --show-leak-kinds=definite,indirect"
wrap="$wrap --errors-for-leak-kinds=definite,indirect --num-callers=30"
wrap="$wrap --suppressions=$top/tests/valgrind.supp"
# The TLS tests' peer is Python (tests/tls-peer.py), the HTTPS example's
# certificate comes from openssl, test-dbus's private bus is dbus-daemon:
# not ours, and noisy.
# test-misuse's children are its ~400 NULL-argument and critical cases,
# each a fresh process that stops at a g_return_if_fail (or a critical):
# under valgrind, one valgrind start-up each made test-misuse outlast its
# 10-minute limit on a loaded machine.  Its parent process runs here; the
# children run under ASan/UBSan and LSan (check-sanitizers.sh).
wrap="$wrap --trace-children-skip=*/python3*,*/dbus-daemon,*/openssl,*/test-misuse"

# Every test that runs a C binary of ours.
# sysprof-marks drives sysprof-cli (a profiler), not Coop code: not under valgrind.
# tutorial is the tutorial's program, whose verdict is how many of its
# simulated mirrors answer within 150 ms: under valgrind's slowdown (and
# the chroot build beside it in CI) that is timing, not memory; what it
# uses (sleeps, a semaphore, timeout scopes, the thread pool) runs here
# in the unit tests.
# (The build has introspection, for the Python suites below: the core
# suite's tests run by an interpreter - python-*, gjs-*, gi-smoke,
# gir-coverage - are left out of this C run.)
tests=$(meson test -C "$BUILD" --list 2>/dev/null |
        sed -n 's/^coop:\(core\|slow\) \/ //p' |
        grep -v -x -e exports -e examples -e switch-aarch64-qemu -e sysprof-marks -e tutorial |
        grep -v -E '^(python|gjs|gi|gir)-')

status=0
start=$(date +%s)
# shellcheck disable=SC2086
COOP_SCALE_TASKS=10000 COOP_STACK_GUARD_BUDGET=0 COOP_CROSSLOOP_HANDOFFS=2000 \
meson test -C "$BUILD" --wrap="$wrap" --num-processes 2 --timeout-multiplier 10 \
  --print-errorlogs $tests || status=1
echo "# valgrind run took $(( $(date +%s) - start )) s"

# coop._speedups under memcheck (see above).
start=$(date +%s)
pywrap="valgrind -q --log-file=$logs/vg-py.%p --error-exitcode=1 --leak-check=no"
pywrap="$pywrap --suppressions=/usr/lib/valgrind/python3.supp --num-callers=30"
PYTHONMALLOC=malloc meson test -C "$BUILD" --wrap="$pywrap" --logbase testlog-valgrind-py \
  --timeout-multiplier 10 --print-errorlogs python-hot-path python-asyncio || status=1
echo "# valgrind run of the Python suites took $(( $(date +%s) - start )) s"

# Memory errors anywhere, children included (leaks only count in the test
# processes themselves, through --error-exitcode).
bad=0
for f in "$logs"/vg.*; do
  [ -e "$f" ] || continue
  if grep -q -E 'Invalid (read|write|free)|uninitialised|Mismatched free|overlap in|Syscall param|Jump to the invalid|Conditional jump' "$f"; then
    bad=$((bad + 1))
    echo "=== valgrind errors: $f"
    cat "$f"
  fi
done
echo "# $(ls "$logs" | wc -l) processes checked, $bad with memory errors"

# (meson names a log --logbase plus the wrapper's name.)
check_finish "$BUILD/meson-logs/testlog-valgrind.json $BUILD/meson-logs/testlog-valgrind-py-valgrind.json" "$bad" "$status"
