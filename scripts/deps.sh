#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what building and testing Coop needs on Debian 12 (as root, or
# through sudo).  Safe to run again: when every package below is installed
# it does nothing (no apt-get at all), so the list must name real packages,
# never virtual ones (dpkg never reports a virtual package as installed).
set -eu

PACKAGES="
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libglib-testing-0-dev
  gobject-introspection libgirepository1.0-dev python3-gi
  valgrind clang libclang-rt-14-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  gjs valac python3-pytest libpython3.11-testsuite
  libgtk-4-dev gir1.2-gtk-4.0 python3-gi-cairo xvfb xauth x11-apps imagemagick dbus-daemon
  python3-uvloop python3-gbulb libuv1-dev python3-matplotlib
  cargo librust-glib-dev
  libsysprof-4-dev sysprof libunwind-dev
  gi-docgen
  glib-networking python3-cryptography
"

# not_installed NAME...: prints those of NAME... that dpkg does not list as
# installed (one dpkg-query for all of them).
not_installed () {
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null |
    awk '/ install ok installed$/ { print $1 }')
  for p in "$@"; do
    echo "$installed" | grep -qx "$p" || printf ' %s' "$p"
  done
}
missing=$(not_installed $PACKAGES)
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "Installing:$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing

# A name that apt accepted but dpkg still does not list is virtual (or
# misspelt): it would make every later run install again.
still=$(not_installed $missing)
if [ -n "$still" ]; then
  echo "scripts/deps.sh: not installed after apt-get (virtual package names?):$still" >&2
  exit 1
fi
