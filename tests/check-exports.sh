#!/bin/sh
# Fails if the shared library exports a symbol outside the coop_ prefix.
set -eu
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^coop_' || true)
if [ -n "$bad" ]; then
  echo "not ok 1 - exported symbols outside coop_:"
  echo "$bad" | sed 's/^/# /'
  echo "1..1"
  exit 1
fi
n=$(nm -D --defined-only "$lib" | wc -l)
echo "ok 1 - $n exported symbols, all coop_*"
echo "1..1"
