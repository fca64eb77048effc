#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bindings under the garbage collector (pytest): futures, loops and
callbacks dropped in every order while work is pending, with gc.collect()
between each step.  Nothing may crash, and GLib may print nothing but
the documented warning (a failed future whose error nobody read).
"""
import asyncio
import gc
import itertools
import subprocess
import sys
import textwrap

import pytest

import coop
from gi.repository import Coop, GLib


def iterate(context, n=20):
    for _ in range(n):
        context.iteration(False)


@pytest.fixture
def context():
    ctx = GLib.MainContext.new()
    ctx.push_thread_default()
    yield ctx
    ctx.pop_thread_default()


def run_pending_work(context, drop_order):
    """Sets up a loop with pending work held by Python objects, then drops
    them in `drop_order`, collecting after each one, then lets whatever is
    left run."""
    loop = Coop.Loop.new(context)
    seen = []
    objs = {}
    objs["future"] = Coop.Future.new(loop)
    objs["future"].add_done_callback(lambda f, *a: seen.append("done"), None)
    objs["sleep"] = Coop.sleep(loop, 2000)
    objs["sleep"].connect("done", lambda f: seen.append("sleep"))
    objs["gather"] = Coop.gather(loop, [objs["future"], objs["sleep"]], True)
    objs["handle"] = loop.call_later(1000, lambda *a: seen.append("timer"), None)
    objs["then"] = Coop.wait_for(objs["future"], 5000)
    objs["then"].then(lambda v, *a: seen.append("then"), lambda e, *a: seen.append("then-err"))
    objs["loop"] = loop
    # Something completes while things are being dropped.
    objs["future"].set_int64(7)
    for name in drop_order:
        del objs[name]
        gc.collect()
        iterate(context, 3)
    del loop
    gc.collect()
    iterate(context, 50)
    return seen


ORDERS = list(itertools.permutations(["future", "sleep", "gather", "handle", "then", "loop"]))


@pytest.mark.parametrize("order", ORDERS[::24] + [ORDERS[-1]])
def test_drop_in_any_order(context, order):
    run_pending_work(context, order)
    gc.collect()


def test_close_loop_with_python_callbacks_pending(context):
    loop = Coop.Loop.new(context)
    calls = []
    futures = [Coop.Future.new(loop) for _ in range(50)]
    for f in futures:
        f.add_done_callback(lambda f, *a: calls.append(f), None)
        f.then(lambda v, *a: calls.append(v), lambda e, *a: calls.append(e))
    handles = [loop.call_later(10 ** 9, lambda *a: calls.append("late"), None) for _ in range(50)]
    sleeps = [Coop.sleep(loop, 10 ** 9) for _ in range(50)]
    del handles
    gc.collect()
    loop.close()
    gc.collect()
    # Closing cancels the sleeps; the plain futures stay pending, and their
    # then() callbacks were dropped with the loop.
    assert all(s.is_cancelled() for s in sleeps)
    del futures, sleeps, loop
    gc.collect()
    iterate(context)
    assert "late" not in calls


def test_asyncio_awaits_dropped_midway(context):
    """asyncio tasks awaiting Coop futures are cancelled and dropped while
    the futures are pending, with collections in between."""
    loop = coop.new_event_loop()
    try:
        cl = loop.coop_loop

        async def waiter(fut):
            try:
                await fut
            except asyncio.CancelledError:
                pass

        async def main():
            futs = [Coop.Future.new(cl) for _ in range(100)]
            sleeps = [Coop.sleep(cl, 1000 * (i % 5)) for i in range(100)]
            tasks = [asyncio.ensure_future(waiter(f)) for f in futs + sleeps]
            await asyncio.sleep(0)
            for i, t in enumerate(tasks):
                if i % 3 == 0:
                    t.cancel()
            del futs
            gc.collect()
            await asyncio.sleep(0.01)
            gc.collect()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            del tasks, sleeps
            gc.collect()

        loop.run_until_complete(main())
    finally:
        loop.close()
    del loop
    gc.collect()


def test_no_glib_warnings_in_a_fresh_process():
    """The same churn in a child process, whose stderr must stay clean:
    GLib criticals and warnings are printed there, not raised."""
    code = textwrap.dedent("""
        import gc, sys
        sys.path[:0] = %r
        import test_gc
        from gi.repository import GLib
        ctx = GLib.MainContext.new()
        ctx.push_thread_default()
        for order in test_gc.ORDERS[::12]:
            test_gc.run_pending_work(ctx, order)
        ctx.pop_thread_default()
        gc.collect()
        print("clean exit")
    """ % (sys.path[:1] + [__import__("os").path.dirname(__file__)],))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "clean exit" in proc.stdout
    bad = [line for line in proc.stderr.splitlines()
           if "CRITICAL" in line or "WARNING" in line]
    assert bad == [], proc.stderr
