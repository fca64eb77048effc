#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# check-devenv.sh: `meson devenv` finds the build tree from every language.
#
#   check-devenv.sh MESON BUILD_DIR SOURCE_DIR
#
# Inside `meson devenv -C BUILD_DIR` (and with nothing of Coop's in the
# environment beforehand): Python imports the coop package and the override
# of the source tree and the typelib and library of the build tree; GJS
# loads the override (Coop.Future.from_promise exists); valac finds
# coop-1.vapi with --pkg coop-1 alone, and the program builds against the
# uninstalled pkg-config file and runs.  TAP output.
set -u

meson=${1:?usage: check-devenv.sh MESON BUILD_DIR SOURCE_DIR}
build=${2:?usage: check-devenv.sh MESON BUILD_DIR SOURCE_DIR}
src=${3:?usage: check-devenv.sh MESON BUILD_DIR SOURCE_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$src" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
check () {    # NAME COMMAND...: the command runs inside the devenv
  local name=$1
  shift
  n=$((n + 1))
  if env -u PYTHONPATH -u GI_TYPELIB_PATH -u LD_LIBRARY_PATH -u GJS_PATH -u XDG_DATA_DIRS \
       -u PKG_CONFIG_PATH "$meson" devenv -C "$build" "$@" >"$tmp/out" 2>&1; then
    echo "ok $n - $name"
  else
    failed=1
    echo "not ok $n - $name"
    sed 's/^/# /' "$tmp/out" | head -20
  fi
}
skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import gi' 2>/dev/null; then
  check "python: the coop package, the override, the typelib and the library" \
    /usr/bin/python3 -c "
import asyncio, coop, gi.overrides.Coop as override
from gi.repository import Coop, GIRepository
assert coop.__file__.startswith('$src/'), coop.__file__
assert override.__file__.startswith('$src/'), override.__file__
assert GIRepository.Repository.get_default().get_typelib_path('Coop').startswith('$build/')
async def main():
    await Coop.sleep(asyncio.get_running_loop().coop_loop, 1000)
    return 'ok'
assert coop.run(main()) == 'ok'

"
else
  skip "python" "no /usr/bin/python3 with gi"
fi

if command -v gjs >/dev/null 2>&1; then
  cat >"$tmp/override.js" <<'EOF'
import Coop from 'gi://Coop?version=1';
if (typeof Coop.Future.from_promise !== 'function')
    throw new Error('the GJS override was not loaded');
const loop = Coop.Loop.get_default();
print(loop.run_until_complete(Promise.resolve(42)));
EOF
  check "gjs: the override is loaded" gjs -m "$tmp/override.js"
else
  skip "gjs" "no gjs"
fi

if command -v valac >/dev/null 2>&1 && [ -e "$build/src/coop-1.vapi" ]; then
  cat >"$tmp/hello.vala" <<'EOF'
int main () {
    var loop = Coop.Loop.get_default ();
    var nap = Coop.sleep (loop, 1000);
    try {
        loop.run_until_complete (nap);
    } catch (Error e) {
        return 1;
    }
    print ("%s\n", nap.get_state ().to_string ());
    return 0;
}
EOF
  check "vala: --pkg coop-1 finds the vapi; the program builds and runs" \
    sh -c "valac --pkg coop-1 -d '$tmp' -o '$tmp/hello' '$tmp/hello.vala' && '$tmp/hello'"
else
  skip "vala" "no valac or no vapi"
fi

echo "1..$n"
exit $failed
