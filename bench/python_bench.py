#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Python asyncio workloads on stock asyncio, uvloop, gbulb and asyncio on
Coop (coop.EventLoop), in one run (bench/README.md, "Python").

    bench/python_bench.py [--reps 3] [--only spawn,pingpong,...]
                          [--impls asyncio,uvloop,gbulb,coop]
                          [--build _build] [--json python-bench.json]

Each measurement is a fresh process; implementations alternate within each
repetition, so they share the machine's state.  Prints a Markdown table of
medians (per operation) and ratios; the TCP echo numbers come from the same
C load generator as bench/tcp-bench.sh (bench/tcp_bench.py).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"

IMPLS = ["asyncio", "uvloop", "gbulb", "coop"]
LABELS = {"asyncio": "asyncio", "uvloop": "uvloop", "gbulb": "gbulb",
          "coop": "asyncio on Coop"}
# name: (operations, unit label)
WORKLOADS = {
    "spawn": (100_000, "task spawned and gathered"),
    "pingpong": (200_000, "future ping-pong round trip"),
    "call_soon": (1_000_000, "chained call_soon"),
    "sleep": (100_000, "concurrent sleep(0.1) (create, wake, finish)"),
}


# --- the workloads (run in the child) -------------------------------------

async def w_spawn(asyncio, n):
    async def noop():
        pass
    create = asyncio.get_running_loop().create_task
    await asyncio.gather(*[create(noop()) for _ in range(n)])


async def w_pingpong(asyncio, n):
    loop = asyncio.get_running_loop()
    box = [loop.create_future(), loop.create_future()]

    async def pong():
        for _ in range(n):
            await box[0]
            box[0] = loop.create_future()
            box[1].set_result(None)

    async def ping():
        for _ in range(n):
            box[0].set_result(None)
            await box[1]
            box[1] = loop.create_future()

    await asyncio.gather(ping(), pong())


async def w_call_soon(asyncio, n):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = [0]

    def step():
        count[0] += 1
        if count[0] < n:
            loop.call_soon(step)
        else:
            done.set_result(None)

    loop.call_soon(step)
    await done


async def w_sleep(asyncio, n):
    sleep = asyncio.sleep
    await asyncio.gather(*[sleep(0.1) for _ in range(n)])


def child(impl, workload):
    import asyncio
    if impl == "uvloop":
        import uvloop
        new_loop = uvloop.new_event_loop
    elif impl == "gbulb":
        import gbulb
        gbulb.install()
        new_loop = asyncio.new_event_loop
    elif impl == "coop":
        sys.path.insert(0, os.path.join(SRC, "introspection", "python"))
        import coop
        new_loop = coop.new_event_loop
    else:
        new_loop = asyncio.new_event_loop
    n, _ = WORKLOADS[workload]
    func = globals()["w_" + workload]
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(func(asyncio, 1000))     # warm-up
        t0 = time.perf_counter()
        loop.run_until_complete(func(asyncio, n))
        elapsed = time.perf_counter() - t0
    finally:
        loop.close()
    print(json.dumps({"seconds": elapsed, "ops": n}))


# --- the driver -------------------------------------------------------------

def child_env(build):
    env = dict(os.environ)
    env["GI_TYPELIB_PATH"] = os.path.join(build, "src")
    env["LD_LIBRARY_PATH"] = os.path.join(build, "src")
    env["PYTHONPATH"] = os.path.join(SRC, "introspection", "python")
    return env


def available(impl):
    mod = {"uvloop": "uvloop", "gbulb": "gbulb"}.get(impl)
    if mod is None:
        return True
    return subprocess.run([PYTHON, "-c", "import " + mod],
                          capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=2, metavar=("IMPL", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--build", default=os.path.join(SRC, "_build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default=",".join(list(WORKLOADS) + ["tcp"]))
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--tcp-rounds", type=int, default=2000)
    ap.add_argument("--json", default="python-bench.json")
    args = ap.parse_args()
    if args.child:
        return child(*args.child)

    build = os.path.abspath(args.build)
    impls = [i for i in args.impls.split(",") if available(i)]
    workloads = [w for w in args.only.split(",") if w in WORKLOADS]
    env = child_env(build)
    results = {w: {i: [] for i in impls} for w in workloads}
    for rep in range(args.reps):
        for w in workloads:
            order = impls if rep % 2 == 0 else impls[::-1]
            for impl in order:
                out = subprocess.run([PYTHON, __file__, "--child", impl, w],
                                     capture_output=True, text=True, env=env, timeout=600)
                if out.returncode != 0:
                    print(f"{impl} {w} failed: {out.stderr.strip()[-500:]}", file=sys.stderr)
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results[w][impl].append(r["seconds"] / r["ops"])
                print(f"rep {rep + 1} {w:10} {impl:8} {r['seconds'] / r['ops'] * 1e9:9.0f} ns/op",
                      file=sys.stderr, flush=True)

    tcp = None
    if "tcp" in args.only.split(","):
        tcp = run_tcp(build, impls, args.reps, args.tcp_rounds, env)

    report = {"per_op_seconds": results, "tcp": tcp}
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    print_table(results, tcp, impls)


def run_tcp(build, impls, reps, rounds, env):
    # The same load generator and server program for every loop.
    sys.path.insert(0, HERE)
    import tcp_bench
    names = {"asyncio": "asyncio", "uvloop": "uvloop", "gbulb": "gbulb", "coop": "coop-asyncio"}
    subprocess.run(["meson", "compile", "-C", build, "tcp-load"], check=True,
                   capture_output=True)
    os.environ.update({k: env[k] for k in ("GI_TYPELIB_PATH", "LD_LIBRARY_PATH", "PYTHONPATH")})
    out = {i: [] for i in impls}
    for rep in range(reps):
        order = impls if rep % 2 == 0 else impls[::-1]
        for impl in order:
            r = tcp_bench.run_server(names[impl], build, {"load": (100, rounds, 0)})
            if r is None:
                continue
            out[impl].append(r["load"]["rps"])
            print(f"rep {rep + 1} tcp        {impl:8} {r['load']['rps'] / 1000:9.1f} k req/s",
                  file=sys.stderr, flush=True)
    return out


def print_table(results, tcp, impls):
    peers = [i for i in impls if i != "coop"]
    head = "| workload | " + " | ".join(LABELS[i] for i in impls) + " | " + \
        " | ".join(f"Coop ÷ {LABELS[p]}" for p in peers) + " |"
    print(head)
    print("|" + "---|" * (1 + len(impls) + len(peers)))
    for w, per in results.items():
        med = {i: statistics.median(v) if v else None for i, v in per.items()}
        cells = [f"{med[i] * 1e9:,.0f} ns" if med[i] else "n/a" for i in impls]
        ratios = [f"{med['coop'] / med[p]:.2f}×" if med.get("coop") and med[p] else "n/a"
                  for p in peers]
        print(f"| {w} ({WORKLOADS[w][1]}) | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if tcp:
        med = {i: statistics.median(v) if v else None for i, v in tcp.items()}
        cells = [f"{med[i] / 1000:.1f} k req/s" if med[i] else "n/a" for i in impls]
        # For a rate, Coop's time per request ÷ the peer's.
        ratios = [f"{med[p] / med['coop']:.2f}×" if med.get("coop") and med[p] else "n/a"
                  for p in peers]
        print("| TCP echo (100 clients × 64 B round trips; time per request) | " +
              " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    sys.exit(main())
