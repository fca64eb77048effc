# SPDX-License-Identifier: LGPL-2.1-or-later
"""The peers on GLib that bench/run builds outside meson: gtk-rs futures
(cargo, offline against Debian's crate directory) and libdex fibers (a
build of libdex found by pkg-config, never part of this tree).  The Vala
peer is built by meson (bench/meson.build) when valac is installed.

    python3 bench/peers/build_peers.py [BUILD_DIR]     # builds both, says what is n/a

bench/run imports it: build_peers() returns {impl: reason} for each peer
that cannot run here, and each program's path comes from program().
See bench/README.md, "The peers".
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GTK_RS = os.path.join(HERE, "gtk-rs")
DEBIAN_CRATES = "/usr/share/cargo/registry"


def program(impl, build_dir):
    """The executable of a peer in build_dir (which may not exist)."""
    if impl == "vala":
        return os.path.join(build_dir, "bench", "bench-workload-vala")
    if impl == "gtk-rs":
        return os.path.join(build_dir, "bench", "peers", "gtk-rs", "release", "bench-workload-gtk-rs")
    if impl == "libdex":
        return os.path.join(build_dir, "bench", "peers", "bench-workload-dex")
    raise KeyError(impl)


def libdex_env(prefix=None):
    """The environment for pkg-config to find libdex: PKG_CONFIG_PATH gets
    prefix's pkgconfig directories (prefix: the argument or LIBDEX_PREFIX)."""
    env = dict(os.environ)
    prefix = prefix or env.get("LIBDEX_PREFIX")
    if prefix:
        dirs = sorted(glob.glob(os.path.join(prefix, "lib*", "pkgconfig")) +
                      glob.glob(os.path.join(prefix, "lib", "*", "pkgconfig")))
        env["PKG_CONFIG_PATH"] = os.pathsep.join(dirs + [p for p in [env.get("PKG_CONFIG_PATH")] if p])
    return env


def _pkg_config(env, *args):
    try:
        out = subprocess.run(["pkg-config", *args], capture_output=True, text=True, env=env)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _last_error(text):
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("error")]
    return (errors or lines or ["no output"])[0][:300]


def build_gtk_rs(build_dir, log):
    """Builds the gtk-rs peer; returns None or why it is n/a."""
    if shutil.which("cargo") is None:
        return "cargo is not installed (Debian: cargo)"
    if not glob.glob(os.path.join(DEBIAN_CRATES, "glib-0.*")):
        return f"the glib crate is not in {DEBIAN_CRATES} (Debian: librust-glib-dev)"
    target = os.path.join(build_dir, "bench", "peers", "gtk-rs")
    log(f"# cargo build --release --offline (bench/peers/gtk-rs, into {target})")
    # cargo reads .cargo/config.toml from the directory it runs in: that is
    # what points it at Debian's crates, offline.
    try:
        out = subprocess.run(["cargo", "build", "--release", "--offline", "--quiet",
                              "--target-dir", target],
                             cwd=GTK_RS, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return "cargo build timed out (30 min)"
    if out.returncode != 0:
        return "cargo build failed: " + _last_error(out.stderr)
    return None


def build_libdex(build_dir, log, prefix=None):
    """Builds the libdex peer against the libdex pkg-config finds; returns
    None or why it is n/a."""
    env = libdex_env(prefix)
    if _pkg_config(env, "--modversion", "libdex-1") is None:
        return ("pkg-config finds no libdex-1 (not a Debian 12 package: build it outside the "
                "tree and set LIBDEX_PREFIX, bench/README.md \"libdex\")")
    cflags = _pkg_config(env, "--cflags", "libdex-1")
    libs = _pkg_config(env, "--libs", "libdex-1")
    libdir = _pkg_config(env, "--variable=libdir", "libdex-1")
    out_path = program("libdex", build_dir)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-g", "-o", out_path, os.path.join(HERE, "workload-dex.c"),
           *cflags.split(), *libs.split(), f"-Wl,-rpath,{libdir}"]
    log("# " + " ".join(cmd))
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return "does not compile: " + _last_error(out.stderr)
    return None


def build_peers(build_dir, impls, log, no_build=False, libdex_prefix=None):
    """Builds the requested peers; returns {impl: reason} for those that
    cannot run.  With no_build, only checks what is already built."""
    na = {}
    if "vala" in impls and not os.path.exists(program("vala", build_dir)):
        na["vala"] = ("not built (bench-workload-vala: valac missing when meson configured "
                      f"{build_dir}?)")
    for impl, builder in (("gtk-rs", build_gtk_rs), ("libdex", build_libdex)):
        if impl not in impls:
            continue
        if no_build:
            if not os.path.exists(program(impl, build_dir)):
                na[impl] = f"not built ({os.path.basename(program(impl, build_dir))}; --no-build)"
            continue
        why = builder(build_dir, log, libdex_prefix) if impl == "libdex" else builder(build_dir, log)
        if why:
            log(f"# {impl}: n/a: {why}")
            na[impl] = why
    return na


def case_na(impl, workload, n):
    """Why impl cannot run workload at n here, or None: libdex maps every
    suspended fiber's stack with a guard page (two lines of
    /proc/self/maps), and aborts when the mappings run out."""
    if impl != "libdex" or workload not in ("suspended", "start-many"):
        return None
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
    except (OSError, ValueError):
        limit = 65530
    if 2 * n + 1000 <= limit:
        return None
    return (f"libdex maps each suspended fiber's stack and its guard page (2 lines of "
            f"/proc/self/maps): {n:,} fibers exceed vm.max_map_count = {limit:,} (it aborts)")


def versions(libdex_prefix=None):
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (out.stdout.strip().splitlines() or ["n/a"])[0] if out.returncode == 0 else "n/a"
        except (OSError, subprocess.TimeoutExpired):
            return "n/a"

    crates = sorted(glob.glob(os.path.join(DEBIAN_CRATES, "glib-0.*")))
    return {
        "valac": first_line(["valac", "--version"]),
        "rustc": first_line(["rustc", "--version"]),
        "glib_crate": os.path.basename(crates[-1]) if crates else "n/a",
        "libdex": _pkg_config(libdex_env(libdex_prefix), "--modversion", "libdex-1") or "n/a",
    }


if __name__ == "__main__":
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "_build"))
    reasons = build_peers(build, ["vala", "gtk-rs", "libdex"], lambda m: print(m, file=sys.stderr))
    for impl in ("vala", "gtk-rs", "libdex"):
        print(f"{impl}: {'n/a: ' + reasons[impl] if impl in reasons else program(impl, build)}")
    print(versions())
