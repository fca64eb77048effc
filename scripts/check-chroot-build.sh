#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian source and binary packages of HEAD, with the test suite
# on, in a minimal Debian chroot that holds only what debootstrap's buildd
# variant installs plus the Build-Depends of debian/control: a build
# dependency that is missing from debian/control fails here, as it would on
# Debian's build daemons.  The build runs as an unprivileged user
# (Rules-Requires-Root: no).
#
# Usage: scripts/check-chroot-build.sh     (as root)
#        CHROOT_BUILD_OUT=DIR scripts/check-chroot-build.sh  keeps the packages
# Two tarballs under $CHROOT_CACHE (default /var/cache/coop-ci) make later
# runs fast: the debootstrapped base, keyed by the release, the mirror and
# the package list; and that base with the build dependencies installed,
# keyed by the base, the Build-Depends fields of debian/control and the
# week (so it follows the archive).  Changing a build dependency changes
# the key, so the dependencies are installed afresh into the bare base.
# The downloaded .debs are kept there too.  The chroot itself is unpacked
# afresh every time.  The mirror is the one apt on this machine uses.
# Ends with "N passed, N failed" (the package build counts as one test).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
start=$(date +%s)

finish () {   # finish STATUS MESSAGE
  echo "chroot-build: $2 ($(($(date +%s) - start)) s)"
  if [ "$1" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
  exit "$1"
}

[ "$(id -u)" -eq 0 ] || { echo "chroot-build needs root (debootstrap, chroot, mount)"; finish 1 "not root"; }

for tool in debootstrap dpkg-source; do
  command -v $tool >/dev/null 2>&1 || missing="${missing:-} $tool"
done
if [ -n "${missing:-}" ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap dpkg-dev >/dev/null
fi

. /etc/os-release
release=${CHROOT_RELEASE:-$VERSION_CODENAME}
cache=${CHROOT_CACHE:-/var/cache/coop-ci}
mkdir -p "$cache/archives/partial"

# The Debian archive entries apt uses here, as "URI SUITE COMPONENTS" lines
# (one-line and deb822 sources alike, disabled files left out), kept to
# this release and its -updates and -security suites.
sources=$(/usr/bin/python3 - "$release" <<'PY'
import glob, os, sys
release = sys.argv[1]
out = []
def keep(uri, suite, comps):
    if suite == release or suite.startswith(release + "-"):
        out.append(f"{uri} {suite} {' '.join(comps)}")
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for path in files:
    if not os.path.exists(path):
        continue
    for line in open(path):
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = [w for w in words[1:] if not w.startswith("[")]  # [options]
        if len(words) >= 3:
            keep(words[0], words[1], words[2:])
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(path).read().split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
            else:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                keep(uri, suite, fields.get("components", "main").split())
print("\n".join(out))
PY
)
mirror=$(echo "$sources" | awk -v r="$release" '$2 == r { print $1; exit }')
[ -n "$mirror" ] || { echo "no '$release' entry in apt's sources"; finish 1 "no mirror"; }

# --- the base chroot, cached ---------------------------------------------------
# eatmydata only makes dpkg skip its fsyncs (the chroot is thrown away).
include=eatmydata
key=$(printf '%s\n' "v1" "$release" "$mirror" "buildd" "$include" "$sources" | sha256sum | cut -c1-16)
base="$cache/base-$release-$key.tar"
if [ ! -f "$base" ]; then
  echo "=== debootstrap $release from $mirror (cached as $base)"
  tmp=$(mktemp -d /var/tmp/coop-base.XXXXXX)
  if ! debootstrap --variant=buildd --include="$include" --cache-dir="$cache/archives" \
      "$release" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
    tail -20 "$tmp/debootstrap.log"
    rm -rf --one-file-system "$tmp"
    finish 1 "debootstrap failed"
  fi
  echo "$sources" | awk '{ printf "deb %s %s", $1, $2; for (i = 3; i <= NF; i++) printf " %s", $i; print "" }' \
    >"$tmp/root/etc/apt/sources.list"
  rm -f "$tmp/root/var/cache/apt/archives/"*.deb
  tar -C "$tmp/root" -cf "$base.part" . && mv "$base.part" "$base"
  rm -rf --one-file-system "$tmp"
fi

# --- a fresh chroot from it -----------------------------------------------------
work=$(mktemp -d /var/tmp/coop-chroot.XXXXXX)
root="$work/root"
mounts=""
cleanup () {
  for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  # Never delete through a mount point that is still there (the bound /dev).
  if ! grep -q " $root/" /proc/self/mounts; then
    rm -rf --one-file-system "$work"
  else
    echo "chroot-build: $root still has mounts; left in place"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
bind () {   # bind SOURCE TARGET-IN-CHROOT [mount options]
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mounts="$root$2 $mounts"   # unmounted in reverse order
}

# The build dependencies' key: everything debian/control says about them.
build_deps=$(git -C "$top" show HEAD:debian/control |
  awk '/^Build-(Depends|Depends-Indep|Depends-Arch|Conflicts)/ { on = 1; print; next }
       /^[^ \t]/ { on = 0 } on')
deps_key=$(printf '%s\n' "$key" "$build_deps" "$(date -u +%G-%V)" | sha256sum | cut -c1-16)
deps="$cache/deps-$release-$deps_key.tar"

mkdir -p "$root"
if [ -f "$deps" ]; then tar -C "$root" -xf "$deps"; else tar -C "$root" -xf "$base"; fi
mount -t proc proc "$root/proc"; mounts="$root/proc $mounts"
bind /dev /dev
bind /dev/pts /dev/pts
[ -d /dev/shm ] && bind /dev/shm /dev/shm
bind "$cache/archives" /var/cache/apt/archives
cp /etc/resolv.conf /etc/hosts "$root/etc/"
# What this machine's apt needs to reach the mirror (for example a snapshot
# mirror whose Release files have expired, or a proxy).
apt-config dump | grep -E '^Acquire::(Check-Valid-Until|https?::Proxy|Retries) ' \
  >"$root/etc/apt/apt.conf.d/90coop-host" || true
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90coop-norecommends"

# The source: a clean export of HEAD, owned by the build user.
chroot "$root" id builder >/dev/null 2>&1 || chroot "$root" useradd --create-home --uid 2000 builder
mkdir -p "$root/build/coop"
git -C "$top" archive HEAD | tar -x -C "$root/build/coop"
chroot "$root" chown -R builder:builder /build

in_chroot () { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@"; }

echo "=== build dependencies (debian/control) into the $release chroot"
t=$(date +%s)
# With the cached tarball this only checks that they are all there.
if ! in_chroot sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive eatmydata apt-get build-dep -y -q /build/coop' \
    >"$work/build-deps.log" 2>&1; then
  tail -30 "$work/build-deps.log"
  finish 1 "build dependencies failed to install"
fi
echo "  $(grep -c '^Setting up' "$work/build-deps.log") packages set up$( [ -f "$deps" ] && echo ' (cached)'), $(($(date +%s) - t)) s"
if [ ! -f "$deps" ]; then
  # Saved without the source and what is mounted.
  rm -f "$cache/deps-$release-"*.tar
  tar -C "$root" --one-file-system --exclude=./build --exclude=./var/cache/apt/archives \
    -cf "$deps.part" . && mv "$deps.part" "$deps"
fi

echo "=== dpkg-buildpackage (source and binary, tests on) as an unprivileged user"
t=$(date +%s)
if ! in_chroot su builder -c "cd /build/coop && DEB_BUILD_OPTIONS=parallel=$(nproc) dpkg-buildpackage -us -uc" \
    >"$work/build.log" 2>&1; then
  # The test log, then the end of the build log.
  sed -n '/^Summary of Failures:/,/^Timeout:/p' "$work/build.log"
  tail -60 "$work/build.log"
  cp "$work/build.log" "$cache/last-failed-build.log"
  finish 1 "dpkg-buildpackage failed (full log: $cache/last-failed-build.log)"
fi
grep -E '^(Ok|Fail|Skipped|Expected Fail|Unexpected Pass|Timeout): ' "$work/build.log" | sed 's/^/  /' | tr '\n' ' '
echo
ls "$root/build" | grep -E '\.(dsc|deb|changes)$' | sed 's/^/  /'
# CHROOT_BUILD_OUT=DIR keeps the results (for lintian, say).
if [ -n "${CHROOT_BUILD_OUT:-}" ]; then
  mkdir -p "$CHROOT_BUILD_OUT"
  find "$root/build" -maxdepth 1 -type f -exec cp {} "$CHROOT_BUILD_OUT/" \;
fi
echo "  build: $(($(date +%s) - t)) s"
finish 0 "built and tested in a clean $release chroot"
