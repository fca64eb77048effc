# SPDX-License-Identifier: LGPL-2.1-or-later
"""The hot path of coop.EventLoop (pytest), run twice by meson: on the C
core (coop._speedups) and on the pure-Python one (COOP_PY_SPEEDUPS=0).
Both must behave as asyncio's own loop does."""
import asyncio
import contextvars
import logging
import os
import socket
import threading

import pytest

import coop
from coop import _loop
from gi.repository import GLib

PURE = os.environ.get("COOP_PY_SPEEDUPS") == "0"


@pytest.fixture
def loop():
    ctx = GLib.MainContext.new()
    ctx.push_thread_default()
    loop = coop.new_event_loop()
    yield loop
    if not loop.is_closed():
        loop.close()
    ctx.pop_thread_default()


def test_the_path_asked_for_is_the_one_used():
    # meson runs this file with COOP_PY_SPEEDUPS=1 against a build tree
    # that has the extension: the C core must really be in use then.
    if PURE:
        assert _loop._speedups is None
        assert coop.EventLoop.__mro__[1] is _loop._PyCore
    else:
        assert _loop._speedups is not None, "coop._speedups was not found"
        assert coop.EventLoop.__mro__[1] is _loop._speedups.LoopCore


def test_handles_are_asyncios(loop):
    loop.set_debug(False)    # (PYTHONASYNCIODEBUG=1 would add "created at")
    h = loop.call_soon(print, "x")
    t = loop.call_later(10, print, "y")
    t2 = loop.call_at(loop.time() + 10, print)
    assert type(h) is asyncio.Handle
    assert type(t) is asyncio.TimerHandle and type(t2) is asyncio.TimerHandle
    assert repr(h) == "<Handle print('x')>"
    assert repr(t).startswith("<TimerHandle when=") and "print('y')" in repr(t)
    assert t._scheduled and t in loop._scheduled
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled() and repr(h) == "<Handle cancelled>"
    assert h._callback is None and h._args is None
    t.cancel()
    assert loop._timer_cancelled_count == 1
    t2.cancel()


def test_callbacks_run_in_order_in_their_context(loop):
    var = contextvars.ContextVar("var", default="unset")
    seen = []

    def cb(tag):
        seen.append((tag, var.get()))
        var.set("changed by " + tag)

    ctx = contextvars.copy_context()
    ctx.run(var.set, "given")
    var.set("caller's")
    loop.call_soon(cb, "a")
    loop.call_soon(cb, "b", context=ctx)
    loop.call_soon(cb, "c")
    loop.call_soon(loop.stop)
    loop.run_forever()
    # Each call_soon without a context runs in a copy of the caller's.
    assert seen == [("a", "caller's"), ("b", "given"), ("c", "caller's")]
    assert var.get() == "caller's"
    assert ctx[var] == "changed by b"


def test_bad_arguments_raise_as_asyncio(loop):
    with pytest.raises(TypeError):
        loop.call_soon(print, bogus=1)
    with pytest.raises(TypeError):
        loop.call_at(None, print)
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_later(1, print)


def test_cancelled_handles_do_not_run(loop):
    ran = []
    h = loop.call_soon(ran.append, 1)
    loop.call_soon(ran.append, 2)
    t = loop.call_later(0, ran.append, 3)
    h.cancel()
    t.cancel()
    loop.run_until_complete(asyncio.sleep(0.01))
    assert ran == [2]


def test_timers_fire_in_deadline_order(loop):
    ran = []
    now = loop.time()
    for d in (0.03, 0.01, 0.02, 0.0):
        loop.call_at(now + d, ran.append, d)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert ran == [0.0, 0.01, 0.02, 0.03]


def test_many_cancelled_timers_are_purged(loop):
    timers = [loop.call_later(3600, print) for _ in range(300)]
    for t in timers[:200]:
        t.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    assert len(loop._scheduled) == 100
    assert loop._timer_cancelled_count == 0
    assert all(not t._scheduled for t in timers[:200])


def test_callback_exception_goes_to_the_handler(loop):
    reports = []
    loop.set_exception_handler(lambda lp, ctx: reports.append(ctx))

    def boom(x):
        raise ValueError(x)

    h = loop.call_soon(boom, 7)
    loop.run_until_complete(asyncio.sleep(0))
    assert len(reports) == 1
    ctx = reports[0]
    assert ctx["handle"] is h
    assert isinstance(ctx["exception"], ValueError)
    assert ctx["exception"].__traceback__ is not None
    assert ctx["message"].startswith("Exception in callback ") and "boom" in ctx["message"]


def test_system_exit_propagates(loop):
    def leave():
        raise SystemExit(3)

    loop.call_soon(leave)
    with pytest.raises(SystemExit):
        loop.run_forever()
    assert not loop.is_running()


def test_call_soon_threadsafe_wakes_the_loop(loop):
    fut = loop.create_future()

    def worker():
        loop.call_soon_threadsafe(fut.set_result, threading.get_ident())

    async def main():
        t = threading.Thread(target=worker)
        t.start()
        ident = await fut
        t.join()
        return ident

    assert loop.run_until_complete(main()) != threading.get_ident()


def test_create_future_and_task(loop):
    var = contextvars.ContextVar("var", default=0)

    async def body():
        return var.get()

    async def main():
        f = loop.create_future()
        assert type(f) is asyncio.Future and f.get_loop() is loop
        ctx = contextvars.copy_context()
        ctx.run(var.set, 5)
        t = loop.create_task(body(), name="named", context=ctx)
        assert type(t) is asyncio.Task and t.get_name() == "named"
        assert await t == 5
        return await loop.create_task(body())

    assert loop.run_until_complete(main()) == 0


def test_task_factory_is_used(loop):
    made = []

    def factory(lp, coro, context=None):
        made.append(coro)
        return asyncio.Task(coro, loop=lp, context=context)

    loop.set_task_factory(factory)

    async def main():
        return await loop.create_task(asyncio.sleep(0, "r"), name="n")

    assert loop.run_until_complete(main()) == "r"
    assert len(made) == 2   # main and the sleep


def test_debug_mode_slow_callback_and_tracebacks(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.0
    h = loop.call_soon(print, "")
    assert h._source_traceback and h._source_traceback[-1].name == "test_debug_mode_slow_callback_and_tracebacks"
    assert "created at" in repr(h)
    t = loop.call_later(0, print, "")
    assert t._source_traceback[-1].name == "test_debug_mode_slow_callback_and_tracebacks"
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.run_until_complete(asyncio.sleep(0.01))
    assert any("Executing" in r.getMessage() and "took" in r.getMessage() for r in caplog.records)
    # And back: handles without a traceback again.
    loop.set_debug(False)
    assert loop.call_soon(print, "")._source_traceback is None


def test_no_poll_between_iterations_without_io(loop, monkeypatch):
    """Back-to-back iterations poll the selector only when something
    besides the self-pipe is registered."""
    polls = [0]
    real = loop._poll_io

    def counting():
        polls[0] += 1
        real()

    monkeypatch.setattr(loop, "_poll_io", counting)

    def chain(n):
        if n:
            loop.call_soon(chain, n - 1)
        else:
            loop.stop()

    loop.call_soon(chain, 1000)
    loop.run_forever()
    # One poll at most: the dispatch that the self-pipe woke, never one
    # per iteration.
    assert polls[0] <= 1

    # With a socket registered, every iteration polls again, so readiness
    # is seen while callbacks keep the loop busy.
    a, b = socket.socketpair()
    a.setblocking(False)
    got = []
    loop.add_reader(a, lambda: got.append(a.recv(10)))
    b.send(b"x")
    polls[0] = 0
    loop.call_soon(chain, 1000)
    loop.run_forever()
    assert got == [b"x"]
    assert polls[0] > 1
    loop.remove_reader(a)
    a.close()
    b.close()


def test_call_soon_threadsafe_in_debug_mode(loop):
    # Debug mode checks that call_soon() runs in the loop's thread; the
    # thread-safe variant must not be subject to that check.
    loop.set_debug(True)
    fut = loop.create_future()
    errors = []

    def worker():
        try:
            h = loop.call_soon_threadsafe(fut.set_result, "from thread")
            assert h._source_traceback
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors == []
    assert loop.run_until_complete(fut) == "from thread"


def test_an_iteration_cut_by_the_budget_ends_before_the_next_poll(loop):
    """A reader runs once per readiness even when the dispatch budget cuts
    the iteration that its poll queued it in: the rest of that iteration
    runs before the selector is polled again (asyncio never polls with the
    handles of the last poll still queued), so no reader is queued twice
    and called with nothing to read."""
    loop._dispatch_budget = 0    # every dispatch: one chunk, then yield
    pairs = [socket.socketpair() for _ in range(200)]
    got = []
    empty = []

    def on_readable(sock):
        try:
            got.append(sock.recv(10))
        except BlockingIOError:
            empty.append(sock.fileno())
        if len(got) == len(pairs):
            # Queued behind whatever is queued now, duplicates included.
            loop.call_soon(loop.stop)

    try:
        for a, b in pairs:
            a.setblocking(False)
            loop.add_reader(a, on_readable, a)
        for a, b in pairs:
            b.send(b"x")
        loop.run_forever()
        assert len(got) == len(pairs)
        assert empty == []
    finally:
        for a, b in pairs:
            loop.remove_reader(a)
            a.close()
            b.close()


def test_due_timers_are_moved_within_the_budget(loop):
    """Timers that come due together (10,000 tasks that slept alike) are
    moved to the ready queue within the dispatch budget: each heappop
    compares TimerHandles in Python, so moving them all in one go held a
    GTK frame for some 10 ms.  What the budget leaves stays due in the heap
    and runs in the next iterations, in deadline order."""
    loop._dispatch_budget = 0    # every dispatch: one chunk, then yield
    n = 1000
    ran = []
    base = loop.time() - 1.0     # all due already, in this order
    for i in range(n):
        loop.call_at(base + i * 1e-6, ran.append, i)
    # One dispatch of the context: a first chunk of timers moved and run,
    # the rest still in the heap (it held none of them before the fix).
    loop.context.iteration(False)
    assert 0 < len(ran) < n
    assert len(loop._scheduled) > 0
    assert len(loop._scheduled) + len(loop._ready) + len(ran) == n
    done = loop.create_future()
    loop.call_at(base + n * 1e-6, done.set_result, None)
    loop.run_until_complete(done)
    assert ran == list(range(n))


_MALLOC_PROBE = r'''
import ctypes, socket, sys
from coop import _loop

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
assert _loop._speedups is not None
a, b = socket.socketpair()
b.send(b"x" * 64)
libc.malloc_trim(0)             # no room left at the top of the heap
mapped = libc.mallinfo2().hblks
data = a.recv(256 * 1024)       # what asyncio's transports read with
assert len(data) == 64
sys.exit(0 if libc.mallinfo2().hblks == mapped else 1)
'''


@pytest.mark.skipif(PURE, reason="the C core does this")
def test_asyncio_sized_reads_come_from_the_heap():
    """asyncio's transports read with recv(256 KiB): a fresh bytes object of
    that size per read.  With glibc's initial mmap threshold (128 KiB) that
    was an mmap() (and a page fault, an mremap, an munmap) per read whenever
    the heap had no room; importing the C core raises the threshold, as
    glibc itself does once a program frees such a block."""
    import ctypes
    import subprocess
    import sys
    try:
        ctypes.CDLL(None).mallinfo2
    except AttributeError:
        pytest.skip("not glibc 2.33 or later")
    r = subprocess.run([sys.executable, "-c", _MALLOC_PROBE])
    assert r.returncode == 0, "a 256 KiB read was mmap()ed"
