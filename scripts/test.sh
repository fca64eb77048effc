#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds Coop and runs its whole test suite (every suite, the slow one too),
# then the core suite again with the portable ucontext fiber backend.
# Usage: scripts/test.sh [extra meson setup options]
# The last line printed is the totals: "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
BUILD=${BUILD_DIR:-_build}

setup () {
  dir=$1; shift
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@"
  fi
  meson compile -C "$dir"
}

status=0
setup "$BUILD" "$@"
meson test -C "$BUILD" --print-errorlogs --num-processes 2 --no-suite stress || status=1

# The fallback context switch must keep working too.
setup "$BUILD-ucontext" -Dfiber_backend=ucontext -Dintrospection=false "$@"
meson test -C "$BUILD-ucontext" --print-errorlogs --num-processes 2 --suite core || status=1

# Totals from meson's own logs, one line, for people and CI alike.
/usr/bin/python3 - "$BUILD/meson-logs/testlog.json" "$BUILD-ucontext/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        if r["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r["result"] == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
