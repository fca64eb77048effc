#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tour.py: a tour of asyncio on Coop, one feature per step.

Plain asyncio code — gather, streams, a subprocess, timeouts, a task group,
a thread-pool executor — plus futures made by Coop's C code (Coop.sleep(),
Coop.gather()) awaited like any asyncio awaitable, and Python work handed to
C (coop.wrap_future()).  It prints what each step does and checks it.

    tour.py                     coop.run(main()): asyncio.run() on Coop
    tour.py --glib-main-loop    no asyncio runner: the task is created on
                                coop.new_event_loop() and a plain
                                GLib.MainLoop runs it (as Gtk.Application.run()
                                would), quitting from the task's done callback

Exits 0 once every step passed.  Run from a build tree:

    PYTHONPATH=introspection/python GI_TYPELIB_PATH=_build/src \\
    LD_LIBRARY_PATH=_build/src /usr/bin/python3 examples/python/tour.py
"""

import argparse
import asyncio
import hashlib
import sys
import threading
import time

import coop
from gi.repository import Coop, GLib

T0 = time.monotonic()


def say(text):
    print(f"[{time.monotonic() - T0:6.3f} s] {text}", flush=True)


async def step_gather():
    delays = [0.03, 0.01, 0.02]
    start = time.monotonic()
    results = await asyncio.gather(*(asyncio.sleep(d, result=f"slept {d * 1000:.0f} ms")
                                     for d in delays))
    elapsed = time.monotonic() - start
    assert results == [f"slept {d * 1000:.0f} ms" for d in delays], results
    assert elapsed < sum(delays), "the sleeps did not overlap"
    say(f"asyncio.gather: 3 sleeps ({', '.join(results)}) side by side in {elapsed * 1000:.0f} ms")


async def step_streams():
    async def shout(reader, writer):
        async for line in reader:             # one coroutine per connection
            writer.write(line.upper())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(shout, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        replies = []
        for word in (b"hello", b"coop"):
            writer.write(word + b"\n")
            await writer.drain()
            replies.append((await reader.readline()).strip())
        writer.close()
        await writer.wait_closed()
    assert replies == [b"HELLO", b"COOP"], replies
    say(f"asyncio.start_server/open_connection: port {port} answered {replies}")


async def step_subprocess():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; print(sys.stdin.read()[::-1], end='')",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate(b"pooc no oicnysa")
    assert proc.returncode == 0 and out == b"asyncio on coop", (proc.returncode, out)
    say(f"asyncio.create_subprocess_exec: pid {proc.pid} reversed our input: {out.decode()!r}, "
        f"exit status {proc.returncode}")


async def step_timeout():
    start = time.monotonic()
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(10)
    except TimeoutError:
        elapsed = time.monotonic() - start
        assert elapsed < 1, elapsed
        say(f"asyncio.timeout: a 10 s sleep cut short after {elapsed * 1000:.0f} ms (TimeoutError)")
    else:
        raise AssertionError("the timeout did not fire")


async def step_task_group():
    cleaned_up = []

    async def patient(name):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cleaned_up.append(name)
            raise

    async def failing():
        await asyncio.sleep(0.02)
        raise ValueError("one task fails")

    try:
        async with asyncio.TaskGroup() as group:
            for name in ("a", "b", "c"):
                group.create_task(patient(name))
            group.create_task(failing())
    except* ValueError as eg:
        errors = [str(e) for e in eg.exceptions]
    else:
        raise AssertionError("the task group did not fail")
    assert sorted(cleaned_up) == ["a", "b", "c"], cleaned_up
    say(f"asyncio.TaskGroup: {errors} cancelled the siblings {sorted(cleaned_up)}, "
        f"which cleaned up; the group raised an ExceptionGroup")


async def step_executor():
    loop = asyncio.get_running_loop()
    main_thread = threading.get_ident()
    ticks = 0

    def blocking():
        time.sleep(0.05)                      # would freeze the loop if run on it
        return (threading.get_ident(),
                hashlib.sha256(b"coop" * 100_000).hexdigest()[:16])

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    thread, digest = await loop.run_in_executor(None, blocking)
    tick_task.cancel()
    assert thread != main_thread
    assert ticks >= 3, f"the loop ticked only {ticks} times while the thread worked"
    say(f"loop.run_in_executor: sha256 {digest}… computed on another thread while "
        f"the loop ticked {ticks} times")


async def step_coop_futures():
    loop = asyncio.get_running_loop()
    coop_loop = loop.coop_loop               # the Coop.Loop under asyncio's loop

    # A future made by C code (coop_sleep()), awaited like any awaitable.
    start = time.monotonic()
    nap = Coop.sleep(coop_loop, 20_000)      # microseconds
    assert isinstance(nap, Coop.Future) and not nap.done()
    await nap
    say(f"await Coop.sleep(): a C timer future finished after "
        f"{(time.monotonic() - start) * 1000:.0f} ms")

    # Coop.gather() (C) over C futures and over Python work handed to C
    # with coop.wrap_future(): C code combines them, Python awaits the whole.
    async def square(x):
        await asyncio.sleep(0.01 * x)
        return x * x

    futures = [Coop.sleep(coop_loop, 15_000), Coop.sleep(coop_loop, 5_000)]
    futures += [coop.wrap_future(square(x)) for x in (2, 3, 4)]
    start = time.monotonic()
    results = await Coop.gather(coop_loop, futures, False)   # the values
    assert results == [None, None, 4, 9, 16], results
    say(f"await Coop.gather(): 2 C sleeps and 3 wrapped coroutines gathered in C in "
        f"{(time.monotonic() - start) * 1000:.0f} ms, results {results}")

    # Cancelling the Python side cancels the C future it awaits.
    long_nap = Coop.sleep(coop_loop, 10_000_000)
    waiter = asyncio.ensure_future(long_nap)
    await asyncio.sleep(0.01)
    waiter.cancel()
    try:
        await waiter
    except asyncio.CancelledError:
        pass
    assert long_nap.cancelled()
    say("cancelling the task awaiting a 10 s Coop.sleep() cancelled the C future too")


STEPS = [step_gather, step_streams, step_subprocess, step_timeout,
         step_task_group, step_executor, step_coop_futures]


async def main():
    loop = asyncio.get_running_loop()
    assert isinstance(loop, coop.EventLoop)
    say(f"running on {type(loop).__name__}, running loop is ours: "
        f"{asyncio.get_running_loop() is loop}")
    for step in STEPS:
        await step()
    return len(STEPS)


def run_standalone():
    say("mode: coop.run(main())")
    return coop.run(main())


def run_in_glib_main_loop():
    say("mode: a task on coop.new_event_loop(), run by a plain GLib.MainLoop")
    loop = coop.new_event_loop()   # attached to the default GLib context now
    main_loop = GLib.MainLoop()    # iterates that same context
    task = loop.create_task(main())
    task.add_done_callback(lambda _: main_loop.quit())
    # An ordinary GLib source on the same context, served beside asyncio.
    ticks = 0

    def tick():
        nonlocal ticks
        ticks += 1
        return GLib.SOURCE_CONTINUE

    tick_id = GLib.timeout_add(10, tick)
    main_loop.run()                # no run_forever(): GLib drives asyncio
    GLib.source_remove(tick_id)
    say(f"meanwhile a GLib timeout source on the same context fired {ticks} times")
    try:
        assert ticks > 0, "the GLib source never ran"
        return task.result()
    finally:
        # Outside any main loop now: let the loop finish its housekeeping
        # (the executor's thread) the usual way, then close it.
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--glib-main-loop", action="store_true",
                        help="run the task inside a GLib.MainLoop instead of coop.run()")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    n = run_in_glib_main_loop() if args.glib_main_loop else run_standalone()
    say(f"all {n} steps passed")
