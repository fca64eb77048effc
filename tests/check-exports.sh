#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fails if the shared library exports a symbol outside the coop_ prefix,
# or (given the Debian symbols file) if its exports and the symbols file
# disagree: a new public symbol must be added there (the package build
# checks it with dpkg-gensymbols -c4), a removed one is an ABI break.
#   check-exports.sh LIBRARY [debian/libcoop-1-0.symbols]
set -eu
lib="$1"
symbols="${2:-}"
status=0
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^coop_' || true)
if [ -n "$bad" ]; then
  echo "not ok 1 - exported symbols outside coop_:"
  echo "$bad" | sed 's/^/# /'
  status=1
else
  n=$(nm -D --defined-only "$lib" | wc -l)
  echo "ok 1 - $n exported symbols, all coop_*"
fi
if [ -n "$symbols" ]; then
  tmp=$(mktemp -d)
  nm -D --defined-only "$lib" | awk '{print $3}' | sort > "$tmp/exported"
  sed -n 's/^ \([a-z_0-9]*\)@Base .*/\1/p' "$symbols" | sort > "$tmp/listed"
  missing=$(comm -23 "$tmp/exported" "$tmp/listed")
  extra=$(comm -13 "$tmp/exported" "$tmp/listed")
  rm -rf "$tmp"
  if [ -n "$missing$extra" ]; then
    echo "not ok 2 - exports and $(basename "$symbols") disagree"
    [ -n "$missing" ] && echo "$missing" | sed 's/^/# exported, not in the symbols file: /'
    [ -n "$extra" ] && echo "$extra" | sed 's/^/# in the symbols file, not exported: /'
    status=1
  else
    echo "ok 2 - every export is in $(basename "$symbols") and nothing else"
  fi
  echo "1..2"
else
  echo "1..1"
fi
exit $status
