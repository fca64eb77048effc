#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian packages from a clean export of HEAD, installs them on
# this machine, and runs programs against the installed copies (never the
# build tree): a C program compiled through pkg-config, Python and GJS
# programs through the installed typelib, then the installed tests and
# lintian.  The last line is a one-line summary; the exit status is 0 only
# if every step passed.
#
# Usage: scripts/package-check.sh      (as root, or a user with sudo)
# The test suite is not run during the package build (nocheck): CI runs it
# already (scripts/test.sh).  It packages HEAD: commit first.  Work files
# go to $PACKAGE_CHECK_DIR (default: a new directory under /tmp), never next
# to the checkout.  The packages stay installed unless PACKAGE_CHECK_PURGE=1.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
# Every apt-get that takes dpkg's lock waits up to 10 minutes for it
# (DPkg::Lock::Timeout) rather than failing when something else on the
# machine is installing packages.
apt_install () {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing >/dev/null
}

start=$(date +%s)
work=${PACKAGE_CHECK_DIR:-$(mktemp -d /tmp/coop-package-check.XXXXXX)}
mkdir -p "$work"
results=""
failed=0
summary () {
  echo "package-check:$results; $failed failed; $(($(date +%s) - start)) s; work in $work"
}
step () {   # step NAME COMMAND...: runs it, records ok or FAIL, goes on
  name=$1; shift
  echo "=== $name"
  if "$@"; then
    results="$results $name:ok"
  else
    results="$results $name:FAIL"
    failed=$((failed + 1))
  fi
}
must () {   # must NAME COMMAND...: as step, but nothing after it can run without it
  step "$@"
  if [ "$failed" -gt 0 ]; then summary; exit 1; fi
}

# --- build ------------------------------------------------------------------
apt_install build-essential dpkg-dev debhelper lintian gnome-desktop-testing gjs python3-gi

export_source () {
  rm -rf "$work/src" && mkdir -p "$work/src/coop" || return 1
  git -C "$top" archive HEAD | tar -x -C "$work/src/coop"
}
must export export_source

# The build dependencies declared in debian/control (apt reads them from the
# exported tree).
build_deps () {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 build-dep -y -q --no-install-recommends \
    "$work/src/coop" >"$work/build-deps.log" 2>&1 || { tail -20 "$work/build-deps.log"; return 1; }
}
must build-deps build_deps

# Source and binary packages (lintian checks both).
build () {
  cd "$work/src/coop" || return 1
  DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc \
    >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; return 1; }
  ls "$work/src"/*.deb | sed 's|.*/|  |'
}
must build build

# --- install ----------------------------------------------------------------
install_debs () {
  debs=$(ls "$work"/src/*.deb | grep -v -- '-dbgsym_') || return 1
  # apt resolves the dependencies of local .debs; --reinstall replaces an
  # earlier run's copies of the same version.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --reinstall \
    --no-install-recommends $debs >"$work/install.log" 2>&1 || { tail -20 "$work/install.log"; return 1; }
  dpkg-query -W 'libcoop-1-*' 'gir1.2-coop-1' 'python3-coop' 2>/dev/null | sed 's/^/  /'
}
must install install_debs

# --- programs against the installed copies ------------------------------------
# The environment is scrubbed so nothing can come from a build tree.
clean_env () {
  env -u GI_TYPELIB_PATH -u LD_LIBRARY_PATH -u PKG_CONFIG_PATH -u PYTHONPATH -u GJS_PATH "$@"
}

c_program () {
  cd "$work" || return 1
  clean_env sh -c 'cc -o coop-tutorial "$1" $(pkg-config --cflags --libs coop-1)' sh \
    "$top/examples/coop-tutorial.c" || return 1
  clean_env ./coop-tutorial
}
step c c_program

# Python and JavaScript programs, run from a directory outside the checkout
# so that only installed modules are found: the GObject-introspection level,
# then asyncio on Coop (python3-coop).  Further binding examples (the GJS
# override, examples/python) join these lists as more files to run.
python_programs="debian/tests/smoke.py debian/tests/coop-asyncio.py examples/python/tour.py"
gjs_programs="debian/tests/smoke.js -m:debian/tests/await.js -m:examples/gjs/coop-await.js"

run_python () {
  for p in $python_programs; do
    (cd "$work" && clean_env /usr/bin/python3 "$top/$p") || return 1
  done
}
step python run_python

run_gjs () {
  for p in $gjs_programs; do
    case $p in
      -m:*) (cd "$work" && clean_env gjs -m "$top/${p#-m:}") || return 1 ;;
      *) (cd "$work" && clean_env gjs "$top/$p") || return 1 ;;
    esac
  done
}
step gjs run_gjs

installed_tests () {
  cd "$work" || return 1
  clean_env gnome-desktop-testing-runner coop-1 >"$work/installed-tests.log" 2>&1 ||
    { tail -30 "$work/installed-tests.log"; return 1; }
  grep -E '^SUMMARY' "$work/installed-tests.log" | sed 's/^/  /'
}
step installed-tests installed_tests

# --- lintian ------------------------------------------------------------------
# Every tag fails, down to info and pedantic ones (-I --pedantic); what is
# justified is in the overrides files, each with its reason.
run_lintian () {
  changes=$(ls "$work"/src/*.changes) || return 1
  lintian -I --pedantic "$changes" 2>&1 | grep -v 'running with root privileges' |
    tee "$work/lintian.log" | sed 's/^/  /'
  [ "$(grep -c '^[EWIP]:' "$work/lintian.log")" -eq 0 ]
}
step lintian run_lintian

# PACKAGE_CHECK_PURGE=1 removes the packages again (on a shared machine).
if [ "${PACKAGE_CHECK_PURGE:-0}" = 1 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 purge -y -q \
    $(dpkg-query -W -f '${Package}\n' 'libcoop-1-*' 'gir1.2-coop-1' 'python3-coop' 2>/dev/null) >/dev/null
fi

summary
[ "$failed" -eq 0 ]
