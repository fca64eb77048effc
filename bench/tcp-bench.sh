#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# tcp-bench.sh: builds the TCP echo benchmark and runs it (bench/README.md).
#   bench/tcp-bench.sh [BUILD_DIR] [tcp_bench.py options...]
# BUILD_DIR defaults to _build.  Prints the Markdown table; writes
# tcp-bench.json (or --json FILE).
set -e
build=${1:-_build}
[ $# -gt 0 ] && shift
meson compile -C "$build" tcp-load tcp-server-coop tcp-server-gio >/dev/null
exec /usr/bin/python3 "$(dirname "$0")/tcp_bench.py" --build "$build" "$@"
