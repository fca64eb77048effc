#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the stream examples against each other (TAP output):
#   check-examples.sh BUILD_DIR/examples
# Starts coop-echo-server on a port the system picks, loads it with
# coop-echo-client and coop-fetch-many, then stops it with SIGTERM and
# checks that it shuts down cleanly; then once more with a client that
# sends but never reads, which the server must abort after its grace
# period.  Builds nothing.
set -u

dir=${1:?usage: check-examples.sh BUILD_DIR/examples}
for prog in coop-echo-server coop-echo-client coop-fetch-many; do
  if [ ! -x "$dir/$prog" ]; then
    echo "1..0 # SKIP $dir/$prog is not built"
    exit 0
  fi
done

tmp=$(mktemp -d)
server_pid=
cleanup () {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () {
  n=$((n + 1)); failed=1
  echo "not ok $n - $1"
  shift
  for f in "$@"; do sed 's/^/# /' "$f"; done
}

# --help works and exits 0 for each program.
for prog in coop-echo-server coop-echo-client coop-fetch-many; do
  if "$dir/$prog" --help >"$tmp/help" 2>&1 && grep -q -- '--port' "$tmp/help"; then
    ok "$prog --help"
  else
    not_ok "$prog --help" "$tmp/help"
  fi
done

# The server, on a free port; it prints "listening on PORT" when ready.
: >"$tmp/server.out"
"$dir/coop-echo-server" --host 127.0.0.1 --port 0 >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
port=
i=0
while [ $i -lt 50 ]; do
  port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/server.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$port" ]; then
  not_ok "server starts and reports its port" "$tmp/server.out" "$tmp/server.err"
  echo "1..$n"
  exit 1
fi
ok "server listening on port $port"

# 10 clients x 200 round trips: exactly 2000 requests.
timeout 60 "$dir/coop-echo-client" --port "$port" --clients 10 --rounds 200 --size 100 \
  >"$tmp/client.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^10 clients x 200 rounds x 100 bytes: 2000 requests in' "$tmp/client.out" &&
   grep -q '^latency: p50 .* p99 .* max ' "$tmp/client.out"; then
  ok "echo client: 2000 round trips"
else
  not_ok "echo client (exit $rc)" "$tmp/client.out"
fi

# 200 fetches, at most 20 connections at once: all ok.
timeout 60 "$dir/coop-fetch-many" --port "$port" --count 200 --limit 20 \
  >"$tmp/fetch.out" 2>&1
rc=$?
peak=$(sed -n 's/^200 fetches, at most \([0-9]*\) connections at once (limit 20).*/\1/p' "$tmp/fetch.out")
if [ $rc -eq 0 ] && grep -q '^  200 ok, 0 failed, 0 timed out' "$tmp/fetch.out" &&
   [ -n "$peak" ] && [ "$peak" -ge 1 ] && [ "$peak" -le 20 ]; then
  ok "fetch-many: 200 ok, at most $peak connections at once"
else
  not_ok "fetch-many (exit $rc)" "$tmp/fetch.out"
fi

# A fetch against a closed port fails (non-zero exit, counted as failed).
timeout 60 "$dir/coop-fetch-many" --port 1 --count 3 --limit 2 >"$tmp/refused.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q '^  0 ok, 3 failed, 0 timed out' "$tmp/refused.out"; then
  ok "fetch-many reports refused connections"
else
  not_ok "fetch-many against a closed port (exit $rc)" "$tmp/refused.out"
fi

# SIGTERM: the server closes, waits for its connections and exits 0,
# having served 10 + 200 connections.
kill -TERM "$server_pid"
i=0
while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
if kill -0 "$server_pid" 2>/dev/null; then
  not_ok "server exits on SIGTERM (still running after 10 s)" "$tmp/server.out" "$tmp/server.err"
else
  wait "$server_pid"
  rc=$?
  server_pid=
  if [ $rc -eq 0 ] && grep -q '^SIGTERM: served 210 connections' "$tmp/server.out" &&
     [ ! -s "$tmp/server.err" ]; then
    ok "server exits 0 on SIGTERM after 210 connections"
  else
    not_ok "server on SIGTERM (exit $rc)" "$tmp/server.out" "$tmp/server.err"
  fi
fi

# A client that sends but never reads keeps its handler waiting in drain():
# on SIGTERM the server gives it --grace 1 second, aborts it and exits 0
# (it used to wait for that client for ever).  The client floods until the
# server stops taking data, says "stuck", and holds the connection open.
"$dir/coop-echo-server" --host 127.0.0.1 --port 0 --grace 1 >"$tmp/grace.out" 2>"$tmp/grace.err" &
server_pid=$!
port=
i=0
while [ $i -lt 50 ]; do
  port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/grace.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(2)
chunk = b"x" * 65536
try:
    while True:
        s.sendall(chunk)
except socket.timeout:
    pass
print("stuck", flush=True)
time.sleep(120)
' "${port:-1}" >"$tmp/flood.out" 2>&1 &
flood_pid=$!
i=0
while [ $i -lt 300 ] && ! grep -q '^stuck$' "$tmp/flood.out"; do
  kill -0 "$flood_pid" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
kill -TERM "$server_pid"
i=0
while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
if kill -0 "$server_pid" 2>/dev/null; then
  not_ok "server with a client that never reads exits on SIGTERM (still running after 10 s)" \
    "$tmp/grace.out" "$tmp/grace.err" "$tmp/flood.out"
else
  wait "$server_pid"
  rc=$?
  server_pid=
  if [ $rc -eq 0 ] && grep -q '^stuck$' "$tmp/flood.out" &&
     grep -q '^SIGTERM: served 1 connections .*; aborted 1 still open after 1.0 s$' "$tmp/grace.out" &&
     [ ! -s "$tmp/grace.err" ]; then
    ok "server aborts a client that never reads after its grace period and exits 0"
  else
    not_ok "server with a client that never reads (exit $rc)" "$tmp/grace.out" "$tmp/grace.err" "$tmp/flood.out"
  fi
fi
kill "$flood_pid" 2>/dev/null
wait "$flood_pid" 2>/dev/null

echo "1..$n"
exit $failed
