#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-gtk-app.sh: runs a GTK application on its own Xvfb server, in the
# application's self-driving mode, takes a screenshot of the X screen while
# the application shows its work, checks the screenshot, and checks that the
# application then exits cleanly.
#
#   run-gtk-app.sh [OPTIONS] [--] COMMAND [ARG...]
#
#   --screenshot FILE   where to write the PNG (default: a temporary file,
#                       deleted at exit)
#   --size WxH          the Xvfb screen size (default 1024x768)
#   --min-colours N     the screenshot must have more than N distinct
#                       colours (default 10; the empty screen has 1)
#   --timeout SECONDS   for the whole run (default 90)
#
# Exit status: 0 passed, 1 failed, 77 skipped (no Xvfb, xwd or ImageMagick,
# or the application itself exited 77).  Everything it started (Xvfb, a
# private D-Bus session bus, the application) is killed on the way out.
#
# THE CONVENTION an application follows to be run by this script (the C
# demo examples/gtk/coop-gtk-demo.c does; a Python one does the same):
#
#  1. When COOP_GTK_AUTOTEST=1 is in its environment it drives itself: it
#     shows its window, presses its own buttons (gtk_widget_activate, or
#     Gtk.Widget.activate), and waits for whatever it wants on screen.
#  2. Once the window shows what should be photographed, it prints one line
#     that is exactly "READY" on stdout, flushed at once (Python:
#     print("READY", flush=True)), and then waits for SIGUSR1 before going
#     on.  It must watch SIGUSR1 *before* printing READY (C:
#     coop_unix_signal_wait() or g_unix_signal_add(); Python:
#     GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, ...)),
#     or the default action of SIGUSR1 kills it.  The script sends SIGUSR1
#     to the process it started, so COMMAND must be the application itself
#     or exec it (no wrapper that forks and waits).
#  3. It then finishes its scenario (e.g. cancels its tasks and checks that
#     everything ended) and exits by itself: status 0 if all went well;
#     non-zero, with a message on stderr, on any inconsistency; 77 if it
#     cannot run here (e.g. GTK 4 is not importable).  It must give up by
#     itself, with a message and status 1, after COOP_GTK_AUTOTEST_TIMEOUT
#     seconds (set by this script, a little shorter than --timeout).
#
# The environment the application gets, besides its own: DISPLAY (the
# private Xvfb server), GDK_BACKEND=x11, GSK_RENDERER=cairo unless the
# caller set GSK_RENDERER (Xvfb has only Mesa's software GL; the cairo
# renderer draws the same window for a fraction of the CPU on a busy
# machine), GTK_A11Y=none, GSETTINGS_BACKEND=memory, a private
# XDG_RUNTIME_DIR and D-Bus session bus (so a running instance of the same
# application on the developer's desktop is never reached),
# G_DEBUG=fatal-criticals unless the caller set G_DEBUG,
# COOP_GTK_AUTOTEST=1 and COOP_GTK_AUTOTEST_TIMEOUT.  A "Coop-WARNING" on
# the application's stderr (an unretrieved error, a task destroyed while
# pending) fails the run.
set -u

screenshot=
size=1024x768
min_colours=10
timeout=90

usage () {
  sed -n '2,19s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --screenshot) screenshot=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --min-colours) min_colours=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --help|-h) usage ;;
    --) shift; break ;;
    -*) echo "run-gtk-app.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
case $size in
  [0-9]*x[0-9]*) ;;
  *) echo "run-gtk-app.sh: --size wants WxH, not $size" >&2; exit 2 ;;
esac

skip () { echo "SKIP: $*"; exit 77; }
for tool in Xvfb xwd convert identify; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-gtk-app.XXXXXX") || exit 1
[ -n "$screenshot" ] || screenshot=$tmp/screenshot.png
xvfb_pid=
bus_pid=
app_pid=

cleanup () {
  if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
    kill -KILL "$app_pid" 2>/dev/null
    wait "$app_pid" 2>/dev/null
  fi
  if [ -n "$bus_pid" ]; then
    kill "$bus_pid" 2>/dev/null
    wait "$bus_pid" 2>/dev/null
  fi
  if [ -n "$xvfb_pid" ]; then
    kill "$xvfb_pid" 2>/dev/null
    wait "$xvfb_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

show () {   # show FILE LABEL: a file's lines, prefixed, if it has any
  if [ -s "$1" ]; then
    echo "--- $2:"
    sed 's/^/  /' "$1"
  fi
}

fail () {
  echo "FAIL: $*"
  show "$tmp/stdout" "application stdout"
  show "$tmp/stderr" "application stderr"
  show "$tmp/xvfb.log" "Xvfb log"
  exit 1
}

now () { date +%s; }
deadline=$(( $(now) + timeout ))

# --- the X server: Xvfb picks a free display and writes its number to fd 3
# once it accepts connections.
Xvfb -displayfd 3 -screen 0 "${size}x24" -nolisten tcp -br -noreset \
  3>"$tmp/display" 2>"$tmp/xvfb.log" &
xvfb_pid=$!
display=
for _ in $(seq 100); do
  display=$(head -n 1 "$tmp/display" 2>/dev/null)
  [ -n "$display" ] && break
  kill -0 "$xvfb_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$display" ] || fail "Xvfb did not start"
echo "Xvfb on :$display (${size})"

# --- a private session bus, when dbus-daemon is there.  Without one,
# GApplication runs as a non-unique application and says nothing.
bus_address=unix:path=$tmp/no-session-bus
if command -v dbus-daemon >/dev/null 2>&1; then
  dbus-daemon --session --nofork --nosyslog --print-address=3 \
    3>"$tmp/bus-address" >/dev/null 2>"$tmp/bus.log" &
  bus_pid=$!
  for _ in $(seq 50); do
    [ -s "$tmp/bus-address" ] && break
    kill -0 "$bus_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -s "$tmp/bus-address" ]; then
    bus_address=$(head -n 1 "$tmp/bus-address")
  else
    echo "no private session bus (dbus-daemon did not start); running without one"
  fi
fi

mkdir -m 700 "$tmp/runtime"

# --- the application
app_timeout=$(( timeout > 40 ? timeout - 15 : timeout * 2 / 3 ))
env DISPLAY=":$display" \
    GDK_BACKEND=x11 \
    GSK_RENDERER="${GSK_RENDERER:-cairo}" \
    GTK_A11Y=none \
    NO_AT_BRIDGE=1 \
    GSETTINGS_BACKEND=memory \
    XDG_RUNTIME_DIR="$tmp/runtime" \
    DBUS_SESSION_BUS_ADDRESS="$bus_address" \
    G_DEBUG="${G_DEBUG:-fatal-criticals}" \
    COOP_GTK_AUTOTEST=1 \
    COOP_GTK_AUTOTEST_TIMEOUT="$app_timeout" \
    "$@" >"$tmp/stdout" 2>"$tmp/stderr" &
app_pid=$!
echo "started: $* (pid $app_pid)"

# Waits for the application to exit, until the deadline; sets status.
status=
wait_app () {
  while kill -0 "$app_pid" 2>/dev/null; do
    [ "$(now)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
  wait "$app_pid"
  status=$?
  app_pid=
  return 0
}

# --- READY
while ! grep -qx 'READY' "$tmp/stdout" 2>/dev/null; do
  if ! kill -0 "$app_pid" 2>/dev/null; then
    wait_app
    [ "$status" -eq 77 ] && { show "$tmp/stderr" "application stderr"; skip "the application skipped itself"; }
    fail "the application exited with status $status before it printed READY"
  fi
  [ "$(now)" -lt "$deadline" ] || fail "no READY line within ${timeout} s"
  sleep 0.1
done
echo "application says READY"

# --- the screenshot, of the real X screen
if ! xwd -root -silent -display ":$display" >"$tmp/screen.xwd" 2>"$tmp/xwd.err"; then
  show "$tmp/xwd.err" "xwd"
  fail "xwd could not capture the screen"
fi
if ! convert "xwd:$tmp/screen.xwd" "png:$screenshot" 2>"$tmp/convert.err"; then
  show "$tmp/convert.err" "convert"
  fail "convert could not make a PNG of the screen"
fi
read -r width height colours < <(identify -format '%w %h %k\n' "$screenshot" 2>/dev/null)
echo "screenshot $screenshot: ${width:-?}x${height:-?}, ${colours:-?} colours"
[ "${width:-0}x${height:-0}" = "$size" ] ||
  fail "the screenshot is ${width:-?}x${height:-?}, not $size"
[ "${colours:-0}" -gt "$min_colours" ] ||
  fail "the screenshot has ${colours:-0} colours, not more than $min_colours: is the window on screen?"

# --- let the application finish
kill -USR1 "$app_pid" 2>/dev/null || fail "the application went away after READY"
wait_app || fail "the application did not exit within ${timeout} s"

[ "$status" -eq 77 ] && { show "$tmp/stderr" "application stderr"; skip "the application skipped itself"; }
[ "$status" -eq 0 ] || fail "the application exited with status $status"
grep -q 'Coop-WARNING' "$tmp/stderr" && fail "the application logged a Coop warning"
show "$tmp/stdout" "application stdout"
show "$tmp/stderr" "application stderr"
echo "PASS: $*"
exit 0
