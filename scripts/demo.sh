#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds Coop and runs the demo: thousands of concurrent C tasks.  It also
# builds the pipeline example (BUILD_DIR/examples/coop-pipeline), which the
# README offers to run next.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
BUILD=${BUILD_DIR:-_build}
[ -d "$BUILD" ] || meson setup "$BUILD"
meson compile -C "$BUILD" coop-demo coop-pipeline
exec "$BUILD/examples/coop-demo" "$@"
