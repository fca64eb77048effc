#!/bin/sh
# Builds Coop and runs its whole test suite (every suite, the slow one too).
# Usage: scripts/test.sh [extra meson setup options]
# The last line printed is the totals: "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
BUILD=${BUILD_DIR:-_build}
if [ -d "$BUILD" ]; then
  meson setup --reconfigure "$BUILD" "$@" >/dev/null
else
  meson setup "$BUILD" "$@"
fi
meson compile -C "$BUILD"

status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 || status=$?

# Totals from meson's own log, one line, for people and CI alike.
/usr/bin/python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
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
