#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: a bounded libFuzzer run of each target in tests/fuzz.
#
#   scripts/check-fuzz.sh [extra meson setup options]
#
# Builds $BUILD_DIR (default _build-fuzz) with clang, -Dfuzzing=true,
# AddressSanitizer + UndefinedBehaviorSanitizer (no recovery) and
# -fsanitize=fuzzer-no-link on the library for coverage, then runs each
# target for $FUZZ_SECONDS (default 60) from its seeds in
# tests/fuzz/corpus-<name>/ (copied: new inputs stay in the build tree).
#   fuzz-ops     the input is a program of API operations on one loop
#   fuzz-stream  arbitrary byte splits through the stream readers
#   fuzz-tls     garbage, in pieces, answering a TLS client's handshake
# fuzz-tls runs a few inputs a second (each builds a GTlsConnection), so it
# gets a sixth of the time and the other two five sixths each: the whole
# run stays at twice $FUZZ_SECONDS.
# A crash, a leak, a sanitizer report or a 10 s hang on one input fails the
# target; the input is kept in $BUILD_DIR/fuzz-out/<name>/ (rerun it with
# $BUILD_DIR/tests/fuzz/fuzz-<name> FILE).
# The last line printed is "N passed, N failed" (one per target).
set -eu
cd "$(dirname "$0")/.."
. scripts/check-lib.sh

BUILD=${BUILD_DIR:-_build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
top=$(pwd)

# No LTO (the project's default): clang's would need a linker plugin, and
# the fiber switch stays out of line for the sanitizers' annotations anyway.
CC=${FUZZ_CC:-clang} check_setup "$BUILD" -Dfuzzing=true -Db_lto=false \
  -Db_sanitize=address,undefined -Db_lundef=false \
  "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined" \
  -Dintrospection=false -Dvapi=disabled "$@"

export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export G_SLICE=always-malloc   # freed GObjects visible to ASan (see check-sanitizers.sh)
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

passed=0
failed=0
for name in ops stream tls; do
  # fuzz-tls: no leak check.  GnuTLS (dlopen()ed by glib-networking) has
  # dynamic TLS on the handshake's thread, and LeakSanitizer crashes reading
  # it ("Tracer caught signal 11"), as for test-tls (tests/meson.build).
  leaks=1
  case $name in
    tls) seconds=$((SECONDS_EACH / 3)); leaks=0 ;;
    *) seconds=$((SECONDS_EACH - SECONDS_EACH / 6)) ;;
  esac
  corpus=$top/$BUILD/fuzz-corpus/$name
  out=$top/$BUILD/fuzz-out/$name
  rm -rf "$out"
  mkdir -p "$corpus" "$out"
  cp "$top/tests/fuzz/corpus-$name"/* "$corpus"/
  log=$out/fuzz.log
  start=$(date +%s)
  if (cd "$out" && ASAN_OPTIONS=detect_leaks=$leaks:halt_on_error=1 \
        "$top/$BUILD/tests/fuzz/fuzz-$name" -max_total_time="$seconds" -timeout=10 -detect_leaks=$leaks \
        -print_final_stats=1 "$corpus" >"$log" 2>&1); then
    result=ok
    passed=$((passed + 1))
  else
    result=FAILED
    failed=$((failed + 1))
    grep -E -A40 'ERROR|==[0-9]+==' "$log" | head -80
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  [ -n "$runs" ] || runs=unknown
  took=$(( $(date +%s) - start ))
  size=$(ls "$corpus" | wc -l)
  echo "# fuzz-$name: $result, $runs inputs in $took s, corpus $size inputs"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
