#!/usr/bin/python3
"""asyncio_bench.py: the asyncio side of coop-bench's queue and lock workloads.

Runs, with CPython's own asyncio event loop, the workloads that coop-bench
runs on Coop, with the same N, and prints JSON on stdout: per workload the
samples (ns per item or per acquire+release pair), their median, min and
max, and the number of event-loop iterations per item counted in the
warm-up run.

coop-bench runs it once per repetition (``--reps 1``), interleaved with its
own repetitions; it can also be run alone:

    /usr/bin/python3 bench/asyncio_bench.py              # every workload, 5 reps
    /usr/bin/python3 bench/asyncio_bench.py --only queue-bounded --reps 3 --quick

Workloads (N = 1,000,000, or 100,000 with --quick):

  queue          N ints through an unbounded asyncio.Queue, 1 producer, 1 consumer
  queue-bounded  the same through asyncio.Queue(maxsize=1)
  queue-many     the same through asyncio.Queue(maxsize=100), 4 producers, 4 consumers
  lock           ``async with lock:`` N times in one task (uncontended)

Each workload first runs once untimed with N / 10 (the warm-up, which also
counts event-loop iterations by wrapping the loop's _run_once); the timed
runs do not count.  Every run gets a fresh event loop.  Time comes from
time.perf_counter_ns() (CLOCK_MONOTONIC on Linux) and covers creating the
tasks and running them to completion, as on the Coop side.

SPDX-License-Identifier: LGPL-2.1-or-later
"""

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time

WORKLOADS = ("queue", "queue-bounded", "queue-many", "lock")

# workload -> (maxsize, producers, consumers)
QUEUE_SHAPES = {
    "queue": (0, 1, 1),
    "queue-bounded": (1, 1, 1),
    "queue-many": (100, 4, 4),
}


async def run_queue(n, maxsize, n_producers, n_consumers):
    """Returns the elapsed ns for n items through the queue."""
    q = asyncio.Queue(maxsize)
    per_producer = n // n_producers
    per_consumer = n // n_consumers
    total = 0

    async def producer(first):
        put = q.put
        for i in range(first, first + per_producer):
            await put(i)

    async def consumer():
        nonlocal total
        get = q.get
        s = 0
        for _ in range(per_consumer):
            s += await get()
        total += s

    t0 = time.perf_counter_ns()
    # Consumers first, as on the Coop side: they start waiting on the
    # empty queue, then the producers run.
    tasks = [asyncio.create_task(consumer()) for _ in range(n_consumers)]
    tasks += [asyncio.create_task(producer(p * per_producer)) for p in range(n_producers)]
    await asyncio.gather(*tasks)
    t1 = time.perf_counter_ns()

    expected = n * (n - 1) // 2
    if total != expected:
        raise AssertionError(f"consumer sum {total}, expected {expected}")
    return t1 - t0


async def run_lock(n):
    """Returns the elapsed ns for n uncontended `async with lock:`."""
    lock = asyncio.Lock()
    count = 0

    async def body():
        nonlocal count
        for _ in range(n):
            async with lock:
                count += 1

    t0 = time.perf_counter_ns()
    await asyncio.create_task(body())
    t1 = time.perf_counter_ns()

    if count != n or lock.locked():
        raise AssertionError("lock workload went wrong")
    return t1 - t0


def run_once(workload, n, count_iterations=False):
    """One run on a fresh event loop: (ns per op, loop iterations or None)."""
    loop = asyncio.new_event_loop()
    iterations = [0]
    if count_iterations:
        run_once_orig = loop._run_once

        def counted_run_once():
            iterations[0] += 1
            run_once_orig()

        loop._run_once = counted_run_once
    try:
        asyncio.set_event_loop(loop)
        if workload == "lock":
            elapsed = loop.run_until_complete(run_lock(n))
        else:
            maxsize, n_producers, n_consumers = QUEUE_SHAPES[workload]
            elapsed = loop.run_until_complete(run_queue(n, maxsize, n_producers, n_consumers))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return elapsed / n, (iterations[0] if count_iterations else None)


def measure(workload, n, reps, warmup):
    result = {"n": n,
              "unit": "ns per acquire+release" if workload == "lock" else "ns per item"}
    if warmup:
        wn = max(n // 10, 4)
        wn -= wn % 4
        _, iterations = run_once(workload, wn, count_iterations=True)
        result["iterations_per_op"] = iterations / wn
    samples = [run_once(workload, n)[0] for _ in range(reps)]
    result["samples"] = samples
    if samples:
        result["median"] = statistics.median(samples)
        result["min"] = min(samples)
        result["max"] = max(samples)
    return result


def main():
    parser = argparse.ArgumentParser(description="asyncio side of coop-bench (queue, lock)")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help="comma-separated workloads: " + ",".join(WORKLOADS))
    parser.add_argument("--n", type=int, default=None,
                        help="items / acquires per run (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="divide N by 10")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the untimed N / 10 warm-up run (no iteration count)")
    parser.add_argument("--info", action="store_true",
                        help="only print the interpreter and loop in use")
    args = parser.parse_args()

    loop = asyncio.new_event_loop()
    info = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "loop": type(loop).__name__,
        "c_accelerated": type(loop.create_future()).__module__ == "_asyncio",
    }
    loop.close()
    if args.info:
        print(json.dumps(info))
        return 0

    n = args.n if args.n is not None else (100000 if args.quick else 1000000)
    if n < 4 or n % 4 != 0:
        parser.error("--n must be a positive multiple of 4")
    workloads = [w for w in args.only.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r}; expected some of {','.join(WORKLOADS)}")

    out = dict(info)
    out["reps"] = args.reps
    out["workloads"] = {w: measure(w, n, args.reps, not args.no_warmup) for w in workloads}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
