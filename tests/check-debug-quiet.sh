#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# check-debug-quiet.sh: the examples under COOP_DEBUG=all print no warning.
#
#   check-debug-quiet.sh BUILD_DIR SOURCE_DIR
#
# Debug mode must not cry wolf: the C examples (a server with a task per
# connection, fire-and-forget tasks, thousands of tasks created in one step),
# the Python examples (asyncio on Coop) and the GJS example run with every
# debug check on, and anything on their stderr that looks like a warning
# fails the test.  TAP output; parts whose programs are missing are skipped.
set -u

build=${1:?usage: check-debug-quiet.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: check-debug-quiet.sh BUILD_DIR SOURCE_DIR}
ex=$build/examples
export COOP_DEBUG=all
export GI_TYPELIB_PATH=$build/src LD_LIBRARY_PATH=$build/src
export PYTHONPATH=$src/introspection/python PYTHONDONTWRITEBYTECODE=1
export GJS_PATH=$src/introspection/gjs

tmp=$(mktemp -d)
server_pid=
cleanup () {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
report () {   # NAME EXIT-STATUS STDERR-FILE
  n=$((n + 1))
  if [ "$2" -eq 0 ] && ! grep -qiE 'warning|critical|error' "$3"; then
    echo "ok $n - $1: quiet under COOP_DEBUG=all"
  else
    failed=1
    echo "not ok $n - $1 (exit $2)"
    sed 's/^/# /' "$3" | head -20
  fi
}
skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
run () {      # NAME COMMAND...
  local name=$1
  shift
  timeout 120 "$@" >"$tmp/out" 2>"$tmp/err"
  report "$name" $? "$tmp/err"
}

for prog in coop-demo coop-pipeline coop-tutorial; do
  if [ -x "$ex/$prog" ]; then run "$prog" "$ex/$prog"; else skip "$prog" "not built"; fi
done

# The D-Bus service and client, on a private bus (needs dbus-daemon).
if [ -x "$ex/coop-dbus-service" ] && command -v dbus-daemon >/dev/null; then
  run "coop-dbus-service" "$ex/coop-dbus-service"
else
  skip "coop-dbus-service" "not built, or no dbus-daemon"
fi

# The echo server's task per connection belongs to the server.
if [ -x "$ex/coop-echo-server" ] && [ -x "$ex/coop-echo-client" ] && [ -x "$ex/coop-fetch-many" ]; then
  "$ex/coop-echo-server" --host 127.0.0.1 --port 0 >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/server.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -n "$port" ]; then
    run "coop-echo-client" "$ex/coop-echo-client" --port "$port" --clients 10 --rounds 50
    run "coop-fetch-many" "$ex/coop-fetch-many" --port "$port" --count 50 --limit 10
    kill -TERM "$server_pid"
    wait "$server_pid"
    rc=$?
    server_pid=
    report "coop-echo-server" $rc "$tmp/server.err"
  else
    report "coop-echo-server (no port)" 1 "$tmp/server.err"
  fi
else
  skip "echo server and clients" "not built"
fi

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import gi' 2>/dev/null; then
  run "tour.py" /usr/bin/python3 "$src/examples/python/tour.py"
  run "tour.py --glib-main-loop" /usr/bin/python3 "$src/examples/python/tour.py" --glib-main-loop
  run "echo_server.py --clients 20" /usr/bin/python3 "$src/examples/python/echo_server.py" --clients 20
else
  skip "Python examples" "no /usr/bin/python3 with gi"
fi

if command -v gjs >/dev/null 2>&1; then
  run "coop-await.js" gjs -m "$src/examples/gjs/coop-await.js"
else
  skip "coop-await.js" "no gjs"
fi

echo "1..$n"
exit $failed
