#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One measurement of one workload on one Python event loop (bench/run).

    /usr/bin/python3 bench/workload.py --impl asyncio|uvloop|gbulb|coop \
        --workload W --n N [--width P] [--seconds S]

The Python peers of bench-workload (workload.c): the same workloads, the
same parameters (workload-common.h), the same JSON keys on one line.
"coop" is asyncio on Coop (coop.EventLoop on the default GLib context).
Exit status 3: this loop cannot run this workload (or is not installed).
"""
import argparse
import asyncio
import gc
import json
import os
import random
import sys
import time

IMPL = None

# Mirrors bench/workload-common.h.
def timers_margin_usec(n):
    return 100000 + 2 * n


def timers_spread_usec(n):
    return max(n * 5, 250000)


RESPONS_WORK = 16
RESPONS_SLEEP_EVERY = 8
RESPONS_SLEEP_USEC = 1000
RESPONS_PERIOD_MS = 16
RESPONS_WARMUP_USEC = 300000


def percentiles(values):
    """p50, p99, max by the nearest-rank method, as workload-common.h."""
    if not values:
        return -1, -1, -1
    v = sorted(values)
    n = len(v)
    return v[(n - 1) // 2], v[int((n - 1) * 0.99)], v[-1]


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


# --- workloads: coroutines run by loop.run_until_complete -------------------

async def spawn(n, width):
    """All n at once, or (width > 1) in waves of width tasks, each wave
    finished before the next starts (as bench-workload does)."""
    loop = asyncio.get_running_loop()
    done = None
    count = [0]
    target = [n]

    async def body():
        count[0] += 1
        if count[0] == target[0]:
            done.set_result(None)

    create = loop.create_task
    if width <= 1 or width > n:
        width = n
    t0 = time.perf_counter()
    left = n
    while left > 0:
        wave = min(width, left)
        count[0] = 0
        target[0] = wave
        done = loop.create_future()
        for _ in range(wave):
            create(body())
        await done
        left -= wave
    return {"ns_per_op": (time.perf_counter() - t0) * 1e9 / n}


async def pingpong(n, width):
    loop = asyncio.get_running_loop()
    rounds = max(n // width, 1)

    async def pong(box):
        for i in range(rounds):
            await box[1]
            box[1] = loop.create_future()
            box[0].set_result(None)

    async def ping(box):
        for i in range(rounds):
            box[0] = loop.create_future()
            box[1].set_result(None)
            await box[0]

    t0 = time.perf_counter()
    coros = []
    for _ in range(width):
        box = [None, loop.create_future()]
        coros.append(pong(box))
        coros.append(ping(box))
    await asyncio.gather(*coros)
    return {"ns_per_op": (time.perf_counter() - t0) * 1e9 / (2 * rounds * width)}


async def chain(n, width):
    loop = asyncio.get_running_loop()
    length = max(n // width, 1)
    done = loop.create_future()
    finished = [0]
    call_soon = loop.call_soon

    def step(left):
        if left > 1:
            call_soon(step, left - 1)
        else:
            finished[0] += 1
            if finished[0] == width:
                done.set_result(None)

    t0 = time.perf_counter()
    for _ in range(width):
        call_soon(step, length)
    await done
    return {"ns_per_op": (time.perf_counter() - t0) * 1e9 / (length * width)}


async def suspended(n, width):
    loop = asyncio.get_running_loop()
    mailboxes = [None] * n
    state = {"started": 0, "finished": 0}
    all_started = loop.create_future()
    all_finished = loop.create_future()

    async def body(i):
        mine = loop.create_future()
        mailboxes[i] = mine
        state["started"] += 1
        if state["started"] == n:
            all_started.set_result(None)
        await mine
        mailboxes[i] = None
        state["finished"] += 1
        if state["finished"] == n:
            all_finished.set_result(None)

    gc.collect()
    rss0 = rss_kib()
    create = loop.create_task
    t0 = time.perf_counter()
    for i in range(n):
        create(body(i))
    await all_started
    await asyncio.sleep(0)          # the last task reaches its await
    t1 = time.perf_counter()
    rss1 = rss_kib()
    for fut in mailboxes:
        fut.set_result(None)
    await all_finished
    t2 = time.perf_counter()
    with open("/proc/self/maps") as f:
        maps = sum(1 for _ in f)
    return {"rss_bytes_per_task": (rss1 - rss0) * 1024 / n,
            "create_ns_per_task": (t1 - t0) * 1e9 / n,
            "wake_ns_per_task": (t2 - t1) * 1e9 / n,
            "maps_lines": maps, "rss_kib": rss1}


async def timers(n, width):
    loop = asyncio.get_running_loop()
    margin, spread = timers_margin_usec(n), timers_spread_usec(n)
    rng = random.Random(42)
    offsets = [rng.randrange(spread) / 1e6 for _ in range(n)]
    lateness = []
    done = loop.create_future()
    monotonic = time.monotonic
    late = lateness.append

    def fired(when):
        late((monotonic() - when) * 1e6)
        if len(lateness) == n:
            done.set_result(None)

    call_at = loop.call_at
    t0 = time.perf_counter()
    # The loop's own clock: time.monotonic() for asyncio and Coop, libuv's
    # cached ms clock for uvloop, g_get_monotonic_time() for gbulb; all are
    # CLOCK_MONOTONIC.
    base = monotonic() + margin / 1e6
    for off in offsets:
        when = base + off
        call_at(when, fired, when)
    t1 = time.perf_counter()
    if monotonic() > base:
        print(f"warning: scheduling took longer than the {margin // 1000} ms margin",
              file=sys.stderr)
    await done
    p50, p99, mx = percentiles(lateness)
    return {"schedule_ns_per_timer": (t1 - t0) * 1e9 / n,
            "late_p50_us": p50, "late_p99_us": p99, "late_max_us": mx,
            "spread_s": spread / 1e6}


async def respons(n, width, seconds):
    """Churning asyncio tasks on a loop that runs on the GLib main context
    (asyncio on Coop, or gbulb), with a 60 Hz GLib timeout measuring how late
    it fires."""
    from gi.repository import GLib
    loop = asyncio.get_running_loop()
    state = {"stop": False, "steps": 0, "live": n, "steps_at_measure": None}
    ticks = []
    all_done = loop.create_future()
    t_start = GLib.get_monotonic_time()
    t_measure = t_start + RESPONS_WARMUP_USEC
    t_end = t_measure + int(seconds * 1e6)
    sleep = asyncio.sleep

    async def churn(x):
        step = 0
        while not state["stop"]:
            for _ in range(RESPONS_WORK):
                x = (x * 1103515245 + 12345) & 0xFFFFFFFF
            state["steps"] += 1
            step += 1
            if step % RESPONS_SLEEP_EVERY == 0:
                await sleep(RESPONS_SLEEP_USEC / 1e6)
            else:
                await sleep(0)
        state["live"] -= 1
        if state["live"] == 0:
            all_done.set_result(None)

    def tick():
        now = GLib.get_monotonic_time()
        due = GLib.main_current_source().get_ready_time()
        if now >= t_end:
            state["stop"] = True
            return False
        if now >= t_measure:
            if state["steps_at_measure"] is None:
                state["steps_at_measure"] = state["steps"]
            ticks.append(now - due)
        return True

    for i in range(n):
        loop.create_task(churn(i))
    GLib.timeout_add(RESPONS_PERIOD_MS, tick, priority=GLib.PRIORITY_DEFAULT)
    await all_done
    t_stop = GLib.get_monotonic_time()
    steps = state["steps"] - (state["steps_at_measure"] or 0)
    result = {"ticks": len(ticks), "steps_per_s": steps / ((t_end - t_measure) / 1e6),
              "stop_ms": (t_stop - t_end) / 1e3}
    if ticks:       # none at all: no lateness figures, only ticks = 0
        p50, p99, mx = percentiles(ticks)
        result.update({"late_p50_us": p50, "late_p99_us": p99, "late_max_us": mx})
    return result


# --- main ---------------------------------------------------------------------

# The synchronisation workloads (bench-workload: queue*, lock).
QUEUE_SHAPES = {"queue": (0, 1), "queue-bounded": (1, 1), "queue-many": (100, 4)}


async def run_queue(n, maxsize, sides):
    """n items through asyncio.Queue(maxsize), sides producers and as many
    consumers, consumers first; ns per item."""
    q = asyncio.Queue(maxsize)
    per_side = n // sides
    total = 0

    async def producer(first):
        put = q.put
        for i in range(first, first + per_side):
            await put(i)

    async def consumer():
        nonlocal total
        get = q.get
        s = 0
        for _ in range(per_side):
            s += await get()
        total += s

    t0 = time.perf_counter_ns()
    tasks = [asyncio.create_task(consumer()) for _ in range(sides)]
    tasks += [asyncio.create_task(producer(p * per_side)) for p in range(sides)]
    await asyncio.gather(*tasks)
    t1 = time.perf_counter_ns()
    m = per_side * sides
    if total != m * (m - 1) // 2:
        raise AssertionError(f"consumer sum {total}")
    return (t1 - t0) / m


async def queue_workload(name, n):
    maxsize, sides = QUEUE_SHAPES[name]
    await run_queue(min(n, 1000), maxsize, sides)
    return {"ns_per_op": await run_queue(n, maxsize, sides)}


async def lock(n, width):
    """n uncontended `async with lock:` in one task; ns per acquire+release."""
    lk = asyncio.Lock()
    count = 0

    async def body(k):
        nonlocal count
        for _ in range(k):
            async with lk:
                count += 1

    await asyncio.create_task(body(min(n, 1000)))
    t0 = time.perf_counter_ns()
    await asyncio.create_task(body(n))
    t1 = time.perf_counter_ns()
    if lk.locked():
        raise AssertionError("lock left locked")
    return {"ns_per_op": (t1 - t0) / n}


async def xloop(n, width):
    """Cross-loop hand-offs: a coroutine started on a second loop, in its own
    thread, with run_coroutine_threadsafe(); its result awaited back here
    through wrap_future(); @width in flight (the peer of Coop's
    coop_loop_run_task_threadsafe, workload.c)."""
    import threading
    loop = asyncio.get_running_loop()
    box = []
    ready = threading.Event()

    def serve():
        # Made on its own thread: asyncio on Coop gives a loop made there a
        # GLib context of its own (one made here would share this thread's
        # context, which this thread owns while it runs).
        other = new_loop(IMPL)
        box.append(other)
        asyncio.set_event_loop(other)
        other.call_soon(ready.set)
        other.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait()
    other = box[0]

    async def echo(i):
        return i

    async def measure(count):
        window = []
        sent = received = 0
        lost = 0
        while received < count:
            while sent < count and sent - received < width:
                window.append(asyncio.wrap_future(
                    asyncio.run_coroutine_threadsafe(echo(sent), other), loop=loop))
                sent += 1
            if await window.pop(0) != received:
                lost += 1
            received += 1
        return lost

    await measure(min(n, 1000))
    t0 = time.perf_counter()
    lost = await measure(n)
    elapsed = time.perf_counter() - t0
    other.call_soon_threadsafe(other.stop)
    thread.join()
    if lost:
        raise RuntimeError(f"{lost} hand-offs lost")
    return {"ns_per_op": elapsed * 1e9 / n}


async def start_many(n, width):
    """n tasks each awaiting asyncio.sleep(0.1), all started at once:
    start_s until every task is suspended on its timer, wall_s until the
    last has finished (as bench-workload does)."""
    loop = asyncio.get_running_loop()

    async def run(k):
        state = {"started": 0, "finished": 0}
        all_started = loop.create_future()
        all_finished = loop.create_future()

        async def body():
            state["started"] += 1
            if state["started"] == k:
                all_started.set_result(None)
            await asyncio.sleep(0.1)
            state["finished"] += 1
            if state["finished"] == k:
                all_finished.set_result(None)

        create = loop.create_task
        t0 = time.perf_counter()
        for _ in range(k):
            create(body())
        await all_started
        await asyncio.sleep(0)          # the last task reaches its await
        t1 = time.perf_counter()
        await all_finished
        return {"start_s": t1 - t0, "wall_s": time.perf_counter() - t0}

    await run(min(n, 100))
    return await run(n)


def new_loop(impl):
    if impl == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    if impl == "gbulb":
        import gbulb
        gbulb.install()
        return asyncio.new_event_loop()
    if impl == "coop-py":
        os.environ["COOP_PY_SPEEDUPS"] = "0"
        impl = "coop"
    if impl == "coop":
        import coop
        return coop.new_event_loop()
    if impl == "asyncio":
        return asyncio.new_event_loop()
    raise ValueError(impl)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--width", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    global IMPL
    IMPL = args.impl

    if args.workload == "xloop" and args.impl == "gbulb":
        print("gbulb: one GLib context for every loop: no loop of its own on another thread",
              file=sys.stderr)
        return 3
    if args.workload == "cpuloops":
        print("CPU-bound Python coroutines hold the GIL: loops on more threads give no speed-up",
              file=sys.stderr)
        return 3
    if args.workload == "respons" and args.impl not in ("coop", "coop-py", "gbulb"):
        print(f"{args.impl} does not run on the GLib main loop: no GLib timeout to measure",
              file=sys.stderr)
        return 3
    try:
        loop = new_loop(args.impl)
    except ImportError as e:
        print(f"{args.impl}: {e}", file=sys.stderr)
        return 3
    if args.workload == "idle":
        print("idle: a GLib main-loop iteration; Python loops have none to time", file=sys.stderr)
        return 3
    asyncio.set_event_loop(loop)
    if args.workload in QUEUE_SHAPES:
        result = loop.run_until_complete(queue_workload(args.workload, args.n))
        print(json.dumps(result), flush=True)
        os._exit(0)
    func = globals()[args.workload.replace("-", "_")]
    try:
        if args.workload in ("spawn", "pingpong", "chain"):
            # Warm-up in the same loop, as bench-workload does.
            warm = 1000 if args.workload == "spawn" else 1000 * args.width
            loop.run_until_complete(func(min(args.n, warm), args.width))
        if args.workload == "respons":
            result = loop.run_until_complete(func(args.n, args.width, args.seconds))
        else:
            result = loop.run_until_complete(func(args.n, args.width))
    finally:
        # Skip the teardown of huge workloads: nothing to measure there.
        if args.n < 200000:
            loop.close()
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
