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


# --- the collector's pace (coop/_gc.py) ----------------------------------

@pytest.fixture
def thresholds():
    """The application's collector thresholds: (700, 10, 10), CPython's
    defaults, set by the test as an application would; put back after."""
    import gc
    old = gc.get_threshold()
    was_on = coop.get_gc_pacing()
    gc.set_threshold(700, 10, 10)
    yield gc
    coop.set_gc_pacing(was_on)
    gc.set_threshold(*old)


def _collect_empty(gc, generation=1):
    r = gc.collect(generation)
    assert r == 0, "the test made garbage it did not mean to"


def _collect_cycle(gc, generation=1):
    a = []
    a.append(a)
    del a
    assert gc.collect(generation) >= 1


def test_gc_pacing_backs_off_while_collections_find_nothing(thresholds, loop):
    gc = thresholds
    assert coop.get_gc_pacing()
    gc.collect()                      # notices the application's 10
    seen = []
    for _ in range(10):
        _collect_empty(gc)
        seen.append(gc.get_threshold()[1])
    # Doubles at each empty generation-1 collection, up to 128 times 10.
    assert seen == [20, 40, 80, 160, 320, 640, 1280, 1280, 1280, 1280]
    assert gc.get_threshold()[0] == 700 and gc.get_threshold()[2] == 10
    # An empty full collection leaves it; one that finds garbage halves it.
    gc.collect()
    assert gc.get_threshold()[1] == 1280
    _collect_cycle(gc, 2)
    assert gc.get_threshold()[1] == 640
    for expected in (320, 160, 80, 40, 20, 10, 10):
        _collect_cycle(gc)
        assert gc.get_threshold()[1] == expected
    # Closing the last loop puts the application's value back.
    for _ in range(3):
        _collect_empty(gc)
    assert gc.get_threshold()[1] == 80
    loop.close()
    assert gc.get_threshold() == (700, 10, 10)
    _collect_empty(gc)
    assert gc.get_threshold() == (700, 10, 10)


def test_gc_pacing_follows_the_applications_threshold(thresholds, loop):
    gc = thresholds
    gc.collect()
    _collect_empty(gc)
    assert gc.get_threshold()[1] == 20
    gc.set_threshold(700, 3, 10)      # the application changes its mind
    _collect_empty(gc)
    assert gc.get_threshold()[1] == 6
    for _ in range(20):
        _collect_empty(gc)
    assert gc.get_threshold()[1] == 3 * 128
    loop.close()
    assert gc.get_threshold() == (700, 3, 10)
    # 0 (generation-1 collections only by hand) is left alone.
    other = coop.new_event_loop()
    try:
        gc.set_threshold(700, 0, 10)
        _collect_empty(gc)
        assert gc.get_threshold()[1] == 0
    finally:
        other.close()
    assert gc.get_threshold() == (700, 0, 10)


def test_gc_pacing_lasts_while_any_loop_is_open(thresholds, loop):
    gc = thresholds
    gc.collect()
    other = coop.new_event_loop()
    _collect_empty(gc)
    loop.close()
    _collect_empty(gc)
    assert gc.get_threshold()[1] == 40
    other.close()
    assert gc.get_threshold()[1] == 10
    _collect_empty(gc)
    assert gc.get_threshold()[1] == 10


def test_gc_pacing_can_be_turned_off(thresholds, loop):
    gc = thresholds
    gc.collect()
    _collect_empty(gc)
    _collect_empty(gc)
    assert gc.get_threshold()[1] == 40
    coop.set_gc_pacing(False)
    assert not coop.get_gc_pacing()
    assert gc.get_threshold()[1] == 10
    _collect_empty(gc)
    assert gc.get_threshold()[1] == 10
    coop.set_gc_pacing(True)
    _collect_empty(gc)
    assert gc.get_threshold()[1] == 20


def test_gc_pacing_under_tasks_in_flight(thresholds, loop):
    """The case it is for: 10,000 tasks that await sleep(0), and now and
    then a 1 ms timer (bench/run's respons workload), keep tens of
    thousands of young objects alive.  The collector's own generation-1
    collections find them all alive, so they become rarer."""
    gc = thresholds
    gc.collect()
    before = gc.get_stats()[1]["collections"]
    deadline = loop.time() + 60       # a failure, not a hang

    async def churn():
        step = 0
        while gc.get_stats()[1]["collections"] - before < 4 and loop.time() < deadline:
            step += 1
            await asyncio.sleep(0.001 if step % 8 == 0 else 0)

    async def main():
        await asyncio.gather(*(churn() for _ in range(10000)))

    loop.run_until_complete(main())
    assert gc.get_stats()[1]["collections"] - before >= 4
    # 10, then 20, 40, 80: the fourth one found nothing either.
    assert gc.get_threshold()[1] >= 160


# --- queued handles and the collector (handle_track in _speedups.c) ------

class _Holder:
    """Keeps the handle of its own callback: a cycle (holder -> handle ->
    bound method -> holder) that only the cyclic collector can free."""

    def cb(self):
        pass


_HELD = contextvars.ContextVar("held")


def _held(loop, how):
    """The cycle goes through the handle's context too (the holder is the
    value of a context variable there), which cancel() keeps."""
    import weakref
    holder = _Holder()
    ctx = contextvars.Context()
    ctx.run(_HELD.set, holder)
    if how == "soon":
        holder.h = loop.call_soon(holder.cb, context=ctx)
    else:
        holder.h = loop.call_later(3600, holder.cb, context=ctx)
    return holder, weakref.ref(holder)


def _assert_freed(ref):
    import gc
    gc.collect()
    assert ref() is None, "a cycle through a handle outlived gc.collect()"


def test_queued_handles_are_out_of_the_collectors_sight(loop):
    import gc
    loop.set_debug(False)
    h = loop.call_soon(print)
    t = loop.call_later(3600, print)
    assert gc.is_tracked(h) == PURE and gc.is_tracked(t) == PURE
    h.cancel()
    t.cancel()


def test_a_cycle_through_a_run_handle_is_collected(loop):
    loop.set_debug(False)
    holder, ref = _held(loop, "soon")
    loop.call_soon(loop.stop)
    loop.run_forever()
    del holder
    _assert_freed(ref)


def test_a_cycle_through_a_cancelled_timer_is_collected(loop):
    loop.set_debug(False)
    holder, ref = _held(loop, "later")
    holder.h.cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()              # drops it from the head of the heap
    assert not loop._scheduled
    del holder
    _assert_freed(ref)


def test_a_cycle_through_a_purged_timer_is_collected(loop):
    loop.set_debug(False)
    keep = [loop.call_later(7200, print) for _ in range(150)]
    holder, ref = _held(loop, "later")
    holder.h._when = 7300           # not at the head: purged, not popped
    import heapq
    heapq.heapify(loop._scheduled)
    for h in keep[:120]:
        h.cancel()
    holder.h.cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()              # over half cancelled: the heap is rebuilt
    assert holder.h not in loop._scheduled and len(loop._scheduled) == 30
    del holder
    _assert_freed(ref)
    for h in keep:
        h.cancel()


@pytest.mark.parametrize("how", ["soon", "later"])
def test_a_cycle_through_a_handle_of_a_closed_loop_is_collected(loop, how):
    loop.set_debug(False)
    holder, ref = _held(loop, how)
    loop.close()
    del holder
    _assert_freed(ref)


def test_a_cycle_through_a_handle_run_in_debug_mode_is_collected(loop):
    import gc
    loop.set_debug(False)
    holder, ref = _held(loop, "soon")
    loop.set_debug(True)            # Python's runner takes it from here
    assert gc.is_tracked(holder.h)
    loop.call_soon(loop.stop)
    loop.run_forever()
    del holder
    _assert_freed(ref)


# --- the socket transport (coop/_transport.c) -----------------------------

class _Proto(asyncio.Protocol):
    def __init__(self, loop):
        self.data = bytearray()
        self.events = []
        self.lost = loop.create_future()
        self.paused = 0
        self.resumed = 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        assert type(data) is bytes
        self.data += data

    def eof_received(self):
        self.events.append("eof")

    def pause_writing(self):
        self.paused += 1

    def resume_writing(self):
        self.resumed += 1

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def _connect(loop, proto_factory=None):
    a, b = socket.socketpair()
    b.setblocking(False)
    proto = (proto_factory or _Proto)(loop)
    transport, _ = loop.run_until_complete(loop.create_connection(lambda: proto, sock=a))
    return transport, proto, b


def _recv_all(loop, sock, n):
    async def go():
        got = bytearray()
        while len(got) < n:
            got += await loop.sock_recv(sock, n - len(got))
        return bytes(got)
    return loop.run_until_complete(go())


def test_socket_transport_is_compiled_unless_debug(loop):
    from asyncio import selector_events
    loop.set_debug(False)
    transport, proto, b = _connect(loop)
    if PURE:
        assert type(transport) is selector_events._SelectorSocketTransport
    else:
        assert type(transport) is _loop._SocketTransport
        assert isinstance(transport, selector_events._SelectorSocketTransport)
        assert type(type(transport).__dict__["write"]).__name__ == "method_descriptor"
    transport.close()
    b.close()
    loop.set_debug(True)
    transport, proto, b = _connect(loop)
    assert type(transport) is selector_events._SelectorSocketTransport
    transport.close()
    b.close()


def test_socket_transport_reads_writes_and_eof(loop):
    loop.set_debug(False)
    transport, proto, b = _connect(loop)
    assert not transport.is_closing()
    transport.write(b"bytes,")
    transport.write(bytearray(b"bytearray,"))
    transport.write(memoryview(b"memoryview,"))
    transport.write(b"")
    transport.write(bytearray())
    expected = b"bytes,bytearray,memoryview,"
    assert _recv_all(loop, b, len(expected)) == expected
    b.send(b"from the peer")
    loop.run_until_complete(asyncio.sleep(0.01))
    assert bytes(proto.data) == b"from the peer"
    b.shutdown(socket.SHUT_WR)
    assert loop.run_until_complete(proto.lost) is None
    assert proto.events == ["eof"]
    assert transport.is_closing()
    b.close()


def test_socket_transport_write_misuse(loop):
    loop.set_debug(False)
    transport, proto, b = _connect(loop)
    with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
        transport.write("text")
    with pytest.raises(TypeError):
        transport.write()
    with pytest.raises(TypeError):
        transport.write(b"a", b"b")
    transport.write(data=b"by keyword,")
    assert _recv_all(loop, b, 11) == b"by keyword,"
    transport.write_eof()
    with pytest.raises(RuntimeError, match=r"Cannot call write\(\) after write_eof\(\)"):
        transport.write(b"late")
    with pytest.raises(RuntimeError):
        transport.write(b"")        # checked before the length, as asyncio does
    transport.close()
    b.close()


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_socket_transport_buffers_for_a_peer_that_does_not_read(loop, where):
    """Writes from outside the loop's callbacks (sent at once) and from a
    coroutine (sent at the iteration's end) until the protocol is paused:
    the rest stays buffered, in order, and leaves when the peer reads."""
    loop.set_debug(False)
    transport, proto, b = _connect(loop)
    transport.set_write_buffer_limits(high=64 * 1024)
    chunk = bytes(range(256)) * 256         # 64 KiB
    sent = bytearray()

    def write(data):
        transport.write(data)
        sent.extend(data)
        assert len(sent) < 64 * 1024 * 1024, "the buffer never filled"

    async def fill():
        while not proto.paused:
            write(chunk)
            await asyncio.sleep(0)          # the flush runs in between

    if where == "inside":
        loop.run_until_complete(fill())
    else:
        while not proto.paused:
            write(chunk)
    assert transport.get_write_buffer_size() > 0
    write(b"tail")                          # past the high-water mark
    assert _recv_all(loop, b, len(sent)) == bytes(sent)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert proto.resumed == 1 and transport.get_write_buffer_size() == 0
    transport.close()
    b.close()


def test_socket_transport_data_received_that_raises(loop):
    loop.set_debug(False)
    contexts = []
    loop.set_exception_handler(lambda loop, context: contexts.append(context))

    class Raising(_Proto):
        def data_received(self, data):
            raise ValueError("bad data")

    transport, proto, b = _connect(loop, Raising)
    b.send(b"x")
    exc = loop.run_until_complete(proto.lost)
    assert isinstance(exc, ValueError) and str(exc) == "bad data"
    assert exc.__traceback__ is not None
    assert contexts[0]["message"] == "Fatal error: protocol.data_received() call failed."
    assert contexts[0]["exception"] is exc and contexts[0]["transport"] is transport
    b.close()


def test_socket_transport_keyboard_interrupt_propagates(loop):
    loop.set_debug(False)

    class Interrupting(_Proto):
        def data_received(self, data):
            raise KeyboardInterrupt

    transport, proto, b = _connect(loop, Interrupting)
    b.send(b"x")
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(asyncio.sleep(1))
    transport.close()
    b.close()


def test_socket_transport_writes_after_the_connection_is_lost(loop, caplog):
    loop.set_debug(False)
    transport, proto, b = _connect(loop)
    transport.abort()
    loop.run_until_complete(proto.lost)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for _ in range(6):
            transport.write(b"dropped")
    assert "socket.send() raised exception." in caplog.text
    b.close()


def test_socket_transport_send_error_is_fatal(loop):
    loop.set_debug(False)

    class KeepOpen(_Proto):
        def eof_received(self):
            self.events.append("eof")
            return True                     # half-closed: we may still write

    transport, proto, b = _connect(loop, KeepOpen)
    b.close()                               # the peer is gone: EPIPE or ECONNRESET
    loop.run_until_complete(asyncio.sleep(0.01))
    assert proto.events == ["eof"] and not proto.lost.done()
    for _ in range(100):
        if proto.lost.done():
            break
        transport.write(b"into the void")
        loop.run_until_complete(asyncio.sleep(0.001))
    exc = loop.run_until_complete(proto.lost)
    assert isinstance(exc, (BrokenPipeError, ConnectionResetError)), exc


def test_socket_transport_reads_large_data_whole(loop):
    """Reads past the first 16 KiB (coop/_transport.c reads those first
    into a buffer of its own): every byte, in order, in chunks of at most
    max_size."""
    loop.set_debug(False)
    chunks = []

    class Chunks(_Proto):
        def data_received(self, data):
            chunks.append(len(data))
            super().data_received(data)

    transport, proto, b = _connect(loop, Chunks)
    payload = os.urandom(1024 * 1024 + 16384)
    b.setblocking(True)
    t = threading.Thread(target=b.sendall, args=(payload,))
    t.start()
    while len(proto.data) < len(payload):
        loop.run_until_complete(asyncio.sleep(0.001))
    t.join()
    assert bytes(proto.data) == payload
    assert max(chunks) <= transport.max_size
    transport.close()
    b.close()


def test_socket_transport_reset_after_a_full_first_read(loop):
    """Exactly 16 KiB, then a reset: the data arrives, then the error, as
    asyncio's own transport reports them."""
    import struct
    loop.set_debug(False)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
    a.setblocking(False)
    proto = _Proto(loop)
    transport, _ = loop.run_until_complete(loop.create_connection(lambda: proto, sock=a))
    b.setblocking(True)
    b.sendall(b"r" * 16384)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()                               # RST
    exc = loop.run_until_complete(proto.lost)
    assert bytes(proto.data) == b"r" * 16384
    assert isinstance(exc, ConnectionResetError), exc


def test_socket_transport_uses_a_socket_subclass_own_methods(loop):
    loop.set_debug(False)
    calls = []

    class Counting(socket.socket):
        def recv(self, n):
            calls.append("recv")
            return super().recv(n)

        def send(self, data):
            calls.append("send")
            return super().send(data)

    a, b = socket.socketpair()
    sock = Counting(a.family, a.type, fileno=a.detach())
    proto = _Proto(loop)
    transport, _ = loop.run_until_complete(loop.create_connection(lambda: proto, sock=sock))
    transport.write(b"out")
    b.setblocking(True)
    assert b.recv(3) == b"out"
    b.send(b"in")
    while not proto.data:
        loop.run_until_complete(asyncio.sleep(0.001))
    assert bytes(proto.data) == b"in" and "recv" in calls and "send" in calls
    transport.close()
    b.close()


# --- writes deferred to the end of the iteration (flush_writes) -----------

class _CountingSocket(socket.socket):
    sends = 0

    def send(self, data):
        type(self).sends += 1
        return super().send(data)


def _counting_pair(loop, proto_factory=None):
    a, b = socket.socketpair()
    sock = _CountingSocket(a.family, a.type, fileno=a.detach())
    _CountingSocket.sends = 0
    proto = (proto_factory or _Proto)(loop)
    transport, _ = loop.run_until_complete(loop.create_connection(lambda: proto, sock=sock))
    b.setblocking(False)
    return transport, proto, b


def test_writes_in_a_callback_leave_together_at_the_iteration_end(loop):
    loop.set_debug(False)
    transport, proto, b = _counting_pair(loop)
    seen = {}

    async def writer():
        transport.write(b"one,")
        transport.write(bytearray(b"two,"))
        transport.write(b"three")
        # Still buffered on the C path: sent when this iteration's
        # callbacks have run.  asyncio's transport sent the first at once.
        seen["buffered"] = transport.get_write_buffer_size()

    loop.run_until_complete(writer())
    assert _recv_all(loop, b, 13) == b"one,two,three"
    if PURE:
        assert seen["buffered"] == 0
    else:
        assert seen["buffered"] == 13
        assert _CountingSocket.sends == 1
    assert transport.get_write_buffer_size() == 0
    transport.close()
    b.close()


def test_a_write_outside_the_loops_callbacks_leaves_at_once(loop):
    loop.set_debug(False)
    transport, proto, b = _counting_pair(loop)
    transport.write(b"now")
    assert transport.get_write_buffer_size() == 0
    assert _CountingSocket.sends == 1
    b.setblocking(True)
    assert b.recv(3) == b"now"
    transport.close()
    b.close()


@pytest.mark.parametrize("then", ["close", "write_eof", "abort"])
def test_a_deferred_write_then(loop, then):
    loop.set_debug(False)
    transport, proto, b = _connect(loop)

    async def go():
        transport.write(b"data")
        getattr(transport, then)()

    loop.run_until_complete(go())
    b.setblocking(True)
    b.settimeout(5)
    got = b""
    while True:
        try:
            chunk = b.recv(100)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    # Sent before the close, the EOF, or the abort (which drops only what
    # the socket would not take, as with asyncio's transport).
    assert got == b"data"
    if then == "abort":
        assert loop.run_until_complete(proto.lost) is None
    if then == "close":
        assert loop.run_until_complete(proto.lost) is None
    transport.close()
    b.close()


def test_a_deferred_write_to_a_gone_peer_is_fatal(loop):
    loop.set_debug(False)

    class KeepOpen(_Proto):
        def eof_received(self):
            return True

    transport, proto, b = _connect(loop, KeepOpen)
    b.close()
    loop.run_until_complete(asyncio.sleep(0.01))

    async def write_until_lost():
        for _ in range(100):
            if proto.lost.done():
                return
            transport.write(b"into the void")
            await asyncio.sleep(0.001)

    loop.run_until_complete(write_until_lost())
    exc = loop.run_until_complete(proto.lost)
    assert isinstance(exc, (BrokenPipeError, ConnectionResetError)), exc
    assert transport.get_write_buffer_size() == 0
