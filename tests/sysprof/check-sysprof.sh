#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Records the demo with sysprof-cli (no perf, no system sources) and checks
# that the capture holds Coop's "task step" and "await" marks.
#   check-sysprof.sh COUNT_MARKS DEMO
# Without sysprof-cli (package sysprof, not a build dependency: it pulls in
# GTK) the TAP plan says SKIP and the exit status is 0: under meson's TAP
# protocol a skip is the "1..0 # SKIP" plan, and exit status 77 would count
# as an error.
set -u
count_marks=$1
demo=$2
command -v sysprof-cli >/dev/null 2>&1 || { echo "1..0 # SKIP sysprof-cli is not installed"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sysprof-cli --no-perf --no-cpu --no-disk --no-memory --no-network --no-battery \
  --use-trace-fd "$work/demo.syscap" -- "$demo" >"$work/log" 2>&1 &
pid=$!
# sysprof-cli waits for a ^C (and for sysprofd, which a container lacks)
# after the program ends: stop it once the demo has printed its last line.
i=0
while ! grep -q '^all done' "$work/log" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
    break
  fi
  sleep 0.1
done
sleep 0.5
for _ in 1 2 3; do kill -INT $pid 2>/dev/null; sleep 0.3; done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null

if ! grep -q '^all done' "$work/log"; then
  echo "not ok 1 - the demo did not finish under sysprof-cli"
  sed 's/^/# /' "$work/log" | tail -20
  echo "1..1"
  exit 1
fi
if out=$("$count_marks" "$work/demo.syscap"); then
  echo "$out" | grep '^#'
  echo "ok 1 - Coop marks in the capture: $(echo "$out" | tail -n 1)"
  status=0
else
  echo "$out" | sed 's/^/# /'
  echo "not ok 1 - no Coop marks in the capture"
  status=1
fi
echo "1..1"
exit $status
