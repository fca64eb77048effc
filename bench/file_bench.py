# SPDX-License-Identifier: LGPL-2.1-or-later
"""The file I/O workload of bench/run ("files"): reading many small files
and one large file with bench/file-bench, on Coop's io_uring and thread
backends and on GIO's own async file API (bench/README.md, "File I/O").

The files are written once per run into a directory of the build tree (on
the machine's disk, not a tmpfs), read once to warm the page cache and then
timed: the figures are the cost of the API and its backend over the page
cache, not of the disk.  The directory is removed at the end of the run.
"""
import json
import os
import shutil
import subprocess
import sys

MIB = 1024 * 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)

# (label, program arguments, environment): the implementations measured.
IMPLS = [
    ("coop-uring", ["--impl", "coop"], {"COOP_FILE_BACKEND": "uring"}),
    ("coop-threads", ["--impl", "coop"], {"COOP_FILE_BACKEND": "threads"}),
    ("gio", ["--impl", "gio"], {}),
]
LABELS = {"coop-uring": "Coop io_uring", "coop-threads": "Coop threads", "gio": "GIO", "libdex": "libdex dex_aio"}
LIBDEX_NA = ("libdex is not packaged in Debian 12 and bench/run does not build it "
             "(see bench/README.md, \"File I/O\")")


def plan(quick):
    """The sizes, and the tests: (name, program arguments, which impls)."""
    files, large = (2000, 128 * MIB) if quick else (10000, 1024 * MIB)
    sizes = {"files": files, "file_size": 4096, "large_size": large}
    tests = [
        ("small", ["--test", "small"], ["coop-uring", "coop-threads", "gio"]),
        ("large", ["--test", "large", "--depth", "1"], ["coop-uring", "coop-threads", "gio"]),
        ("large-depth4", ["--test", "large", "--depth", "4"], ["coop-uring", "coop-threads"]),
    ]
    return sizes, tests


def describe(sizes):
    return (f"small: {sizes['files']:,} files of {sizes['file_size']:,} bytes, g_file_load_contents_async() / "
            f"coop_fs_load(), 64 at a time; large: one file of {sizes['large_size'] // MIB:,} MiB read in 1 MiB "
            f"chunks, g_input_stream_read_async() one after another / coop_fs_read() by 1 (depth 1) or 4 tasks "
            f"(depth 4, Coop only: a GInputStream has one read in flight)")


class FileBench:
    def __init__(self, runner, quick):
        self.r = runner
        self.program = os.path.join(runner.build_dir, "bench", "file-bench")
        self.dir = os.path.join(runner.build_dir, "bench", "file-bench-data")
        self.sizes, self.tests = plan(quick)
        self.prepared = False

    def common(self):
        return ["--dir", self.dir, "--files", str(self.sizes["files"]),
                "--file-size", str(self.sizes["file_size"]), "--large-size", str(self.sizes["large_size"])]

    def prepare(self):
        if self.prepared:
            return True
        if not os.path.exists(self.program):
            for label, _, _ in IMPLS:
                self.r.na[("files", label)] = "not built (file-bench)"
            return False
        shutil.rmtree(self.dir, ignore_errors=True)
        subprocess.run([self.program, "--prepare"] + self.common(), check=True, env=self.r.env)
        self.prepared = True
        return True

    def measure(self, rep):
        self.r.na[("files", "libdex")] = LIBDEX_NA
        if not self.prepare():
            return
        k = rep % len(IMPLS)
        order = IMPLS[k:] + IMPLS[:k]
        for test, targs, impls in self.tests:
            for label, iargs, ienv in order:
                if label not in impls:
                    continue
                env = dict(self.r.env)
                env.update(ienv)
                cmd = [self.program] + iargs + targs + self.common()
                try:
                    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
                except subprocess.TimeoutExpired:
                    self.r.failures.append(f"files {test} {label}: timed out")
                    continue
                if out.returncode != 0:
                    tail = (out.stderr.strip().splitlines() or ["?"])[-1]
                    self.r.failures.append(f"files {test} {label}: exit {out.returncode}: {tail}")
                    continue
                m = json.loads(out.stdout.strip().splitlines()[-1])
                self.r.samples.append({"workload": "files", "impl": label, "test": test, "n": 0, "width": 0,
                                       "rep": rep, "backend": m["backend"],
                                       "metrics": {"mb_per_s": m["mb_per_s"], "ops_per_s": m["ops_per_s"],
                                                   "seconds": m["seconds"]}})
                log(f"rep {rep + 1} files {test:13} {label:13} {m['mb_per_s']:10,.1f} MB/s "
                             f"{m['ops_per_s']:12,.0f} ops/s  ({m['backend']})")

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def report(rep, med, samples, sizes, tests, fmt):
    """Appends the "File I/O" section to the report @rep (bench/run's Report)."""
    labels = [label for label, _, _ in IMPLS] + ["libdex"]
    rep.out("## File I/O: many small files, one large file")
    rep.out()
    for metric, title in (("mb_per_s", "MB/s (higher is better)"), ("ops_per_s", "operations per second: "
                                                                      "files (small) or 1 MiB reads (large)")):
        rep.out(f"{title}")
        rep.out()
        rep.out("| test | " + " | ".join(LABELS[l] for l in labels) + " | Coop io_uring ÷ GIO |")
        rep.out("|---|" + "---:|" * (len(labels) + 1))
        for test, _, impls in tests:
            cells = []
            for label in labels:
                v = med.get(("files", test, label), {}).get(metric)
                cells.append(fmt(v) if label in impls else "n/a")
            u = med.get(("files", test, "coop-uring"), {}).get(metric)
            g = med.get(("files", test, "gio"), {}).get(metric)
            ratio = f"{u / g:.2f}" if u and g else "—"
            rep.out(f"| {test} | " + " | ".join(cells) + f" | {ratio} |")
        rep.out()
    backends = sorted({s["backend"] for s in samples if s["workload"] == "files" and s["impl"] == "coop-uring"})
    rep.out(f"Tests: {describe(sizes)}.  Warm page cache (a first pass reads everything, the second is timed).  "
            f"\"Coop io_uring\" ran on: {', '.join(backends) or '—'} (the thread pool where the kernel refuses "
            f"io_uring).  libdex: n/a ({LIBDEX_NA}).")
    rep.out()
