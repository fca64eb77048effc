# SPDX-License-Identifier: LGPL-2.1-or-later
"""coop.EventLoop: asyncio programs on the GLib main loop (pytest)."""
import asyncio
import gc
import os
import signal
import socket
import sys
import threading
import time

import pytest

import coop
from gi.repository import Coop, Gio, GLib, GObject


@pytest.fixture
def context():
    """A fresh thread-default GLib context per test, as tests/coop-test.h."""
    ctx = GLib.MainContext.new()
    ctx.push_thread_default()
    yield ctx
    ctx.pop_thread_default()


@pytest.fixture
def loop(context):
    loop = coop.new_event_loop()
    yield loop
    if not loop.is_closed():
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def test_run_and_loop_identity(context):
    async def main():
        loop = asyncio.get_running_loop()
        assert isinstance(loop, coop.EventLoop)
        assert loop.context == context
        assert isinstance(loop.coop_loop, Coop.Loop)
        assert loop.coop_loop.get_context() == context
        return 42

    assert coop.run(main()) == 42
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_coop_run_shuts_down(context):
    """coop.run() ends like asyncio.run(): a task left pending is cancelled
    and its clean-up runs (and may await Coop futures); then the Coop loop
    underneath is shut down (Coop.Loop.shutdown()) and closed."""
    log = []
    loops = []

    async def background(coop_loop):
        try:
            await Coop.sleep(coop_loop, 3600 * 1_000_000)
        except asyncio.CancelledError:
            log.append("cancelled")
            await Coop.sleep(coop_loop, 1_000)     # clean-up may await
            log.append("cleaned up")
            raise

    async def main():
        coop_loop = asyncio.get_running_loop().coop_loop
        loops.append(coop_loop)
        asyncio.get_running_loop().create_task(background(coop_loop))
        await asyncio.sleep(0)
        return "done"

    assert coop.run(main()) == "done"
    assert log == ["cancelled", "cleaned up"]
    assert loops[0].is_closed()
    # The context gets a fresh Coop loop next time.
    assert coop.run(main()) == "done"
    assert loops[1] is not loops[0] and loops[1].is_closed()


def test_policy_and_new_event_loop(context):
    policy = coop.EventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        assert isinstance(loop, coop.EventLoop)
    finally:
        loop.close()
    old = asyncio.get_event_loop_policy()
    try:
        asyncio.set_event_loop_policy(coop.EventLoopPolicy())
        loop = asyncio.new_event_loop()
        assert isinstance(loop, coop.EventLoop)
        assert asyncio.run(asyncio.sleep(0, "x")) == "x"
        loop.close()
    finally:
        asyncio.set_event_loop_policy(old)


def test_time_is_glib_monotonic(loop):
    t = loop.time()
    g = GLib.get_monotonic_time() / 1e6
    assert abs(t - g) < 0.01


def test_callback_order(loop):
    order = []
    now = loop.time()
    loop.call_at(now + 0.02, order.append, "at+20ms")
    loop.call_later(0.01, order.append, "later+10ms")
    loop.call_later(0, order.append, "later+0")
    for i in range(5):
        loop.call_soon(order.append, i)
    loop.call_later(0.03, loop.stop)
    loop.run_forever()
    assert order == [0, 1, 2, 3, 4, "later+0", "later+10ms", "at+20ms"]


def test_timers_fire_in_order_and_never_early(loop):
    # How late they fire is bench/run's timers workload, not a test's.
    fired = []
    start = loop.time()
    for delay in (0.005, 0.01, 0.02):
        loop.call_at(start + delay, lambda d=delay: fired.append((d, loop.time() - start)))
    loop.run_until_complete(asyncio.sleep(0.05))
    assert [d for d, _ in fired] == [0.005, 0.01, 0.02]
    for delay, at in fired:
        assert at >= delay


def test_stop_before_run_forever_runs_one_iteration(loop):
    ran = []
    loop.call_soon(ran.append, 1)
    loop.stop()
    loop.run_forever()
    assert ran == [1]
    assert not loop.is_running()


def test_stop_from_callback_finishes_the_batch(loop):
    ran = []

    def first():
        ran.append(1)
        loop.stop()
        loop.call_soon(ran.append, 3)     # next iteration: after the stop

    loop.call_soon(first)
    loop.call_soon(ran.append, 2)
    loop.run_forever()
    assert ran == [1, 2]
    loop.run_until_complete(asyncio.sleep(0))
    assert ran == [1, 2, 3]


def test_exception_handler(loop):
    seen = []
    loop.set_exception_handler(lambda l, ctx: seen.append(ctx))

    def boom():
        raise ValueError("boom")

    loop.call_soon(boom)
    loop.run_until_complete(asyncio.sleep(0.001))
    assert len(seen) == 1
    assert isinstance(seen[0]["exception"], ValueError)


def test_keyboard_interrupt_leaves_run_forever(loop):
    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert not loop.is_running()
    # The loop still works afterwards.
    assert loop.run_until_complete(asyncio.sleep(0, 5)) == 5


def test_close_refuses_while_running_and_is_idempotent(loop):
    async def main():
        with pytest.raises(RuntimeError):
            loop.close()

    loop.run_until_complete(main())
    loop.close()
    loop.close()
    assert loop.is_closed()
    with pytest.raises(RuntimeError):
        loop.call_soon(print)


def test_runs_inside_a_glib_main_loop(context, loop):
    """No run_forever: a plain GLib.MainLoop (as Gtk.Application.run) drives
    asyncio tasks, timers and I/O."""
    main_loop = GLib.MainLoop.new(context, False)
    result = {}

    async def work():
        assert asyncio.get_running_loop() is loop
        await asyncio.sleep(0.01)
        rsock, wsock = socket.socketpair()
        with rsock, wsock:
            reader, writer = await asyncio.open_connection(sock=rsock)
            wsock.send(b"ping\n")
            line = await reader.readline()
            writer.close()
        values = await asyncio.gather(*(asyncio.sleep(0.001, i) for i in range(100)))
        return line, sum(values)

    task = loop.create_task(work())
    task.add_done_callback(lambda t: (result.setdefault("r", t.result()), main_loop.quit()))
    guard = GLib.timeout_source_new_seconds(10)
    guard.set_callback(lambda *_: main_loop.quit())
    guard.attach(context)
    main_loop.run()
    guard.destroy()
    assert result["r"] == (b"ping\n", 4950)
    assert not loop.is_running()


def test_coop_run_nested_in_a_running_glib_main_loop(context):
    main_loop = GLib.MainLoop.new(context, False)
    results = []

    def idle():
        results.append(coop.run(asyncio.sleep(0.01, "nested")))
        main_loop.quit()
        return False

    source = GLib.idle_source_new()
    source.set_callback(lambda *_: idle())
    source.attach(context)
    main_loop.run()
    assert results == ["nested"]


def test_await_round_trips_values(loop):
    class Thing:
        pass

    thing = Thing()
    obj = Gio.SimpleAction.new("a", None)
    values = [None, True, False, 0, -1, 2 ** 31, 2 ** 40, -(2 ** 63), 2 ** 63 - 1,
              2 ** 64, -(2 ** 100), 1.5, "text", "", b"", b"\x00bytes\xff",
              bytearray(b"ba"), [1, 2], {"k": "v"}, thing, obj]

    async def main():
        out = []
        for value in values:
            future = loop.create_coop_future()
            loop.call_soon(future.set_result, value)
            out.append(await future)
        return out

    out = loop.run_until_complete(main())
    for value, back in zip(values, out):
        assert type(back) is type(value)
        assert back == value
    assert out[values.index(thing)] is thing
    assert out[values.index(obj)] is obj


def test_c_reads_python_results(loop):
    future = loop.create_coop_future()
    future.set_result(2 ** 40)
    assert future.get_int64() == 2 ** 40
    future = loop.create_coop_future()
    future.set_result(b"\x00\x01")
    assert future.get_value().get_data() == b"\x00\x01"
    future = loop.create_coop_future()
    future.set_result("s")
    assert future.get_string() == "s"


def test_await_c_futures(loop):
    coop_loop = loop.coop_loop

    async def main():
        start = loop.time()
        assert await Coop.sleep(coop_loop, 10_000) is None
        assert loop.time() - start >= 0.0099
        futures = [loop.create_coop_future() for _ in range(3)]
        for i, f in enumerate(futures):
            loop.call_later(0.001 * (3 - i), f.set_result, i)
        gathered = Coop.gather(coop_loop, futures, True)
        assert await gathered == [0, 1, 2]      # the values, as asyncio.gather()
        assert list(gathered.get_futures()) == futures
        assert [f.result() for f in futures] == [0, 1, 2]
        done = await Coop.wait(coop_loop, futures, Coop.WaitMode.ALL_COMPLETED)
        assert done == futures
        pending = loop.create_coop_future()
        with pytest.raises(GLib.Error) as info:
            await Coop.wait_for(pending, 5_000)
        assert info.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT)
        assert pending.is_cancelled()

    loop.run_until_complete(main())


def test_await_failed_and_cancelled(loop):
    async def main():
        f = loop.create_coop_future()
        f.set_exception(ValueError("bad"))
        with pytest.raises(ValueError, match="bad"):
            await f
        # C sees the Python exception as a COOP_ERROR_FAILED error.
        with pytest.raises(GLib.Error) as info:
            f.propagate()
        assert info.value.matches(Coop.error_quark(), Coop.Error.FAILED)
        assert "ValueError: bad" in info.value.message

        f = loop.create_coop_future()
        f.set_exception(GLib.Error.new_literal(Coop.error_quark(), "closed",
                                               Coop.Error.LOOP_CLOSED))
        with pytest.raises(GLib.Error) as info:
            await f
        assert info.value.matches(Coop.error_quark(), Coop.Error.LOOP_CLOSED)

        f = loop.create_coop_future()
        loop.call_soon(f.cancel, "stop")
        with pytest.raises(asyncio.CancelledError):
            await f

    loop.run_until_complete(main())


def test_cancelling_the_awaiting_task_cancels_the_coop_future(loop):
    future = loop.create_coop_future()

    async def waiter():
        await future

    async def main():
        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run_until_complete(main())
    assert future.is_cancelled()


def test_wrap_future_lets_coop_combine_python_work(loop):
    async def square(x):
        await asyncio.sleep(0.001 * x)
        return x * x

    async def main():
        wrapped = [coop.wrap_future(square(i)) for i in range(5)]
        await Coop.gather(loop.coop_loop, wrapped, True)
        return [f.result() for f in wrapped]

    assert loop.run_until_complete(main()) == [0, 1, 4, 9, 16]

    async def forever():
        await asyncio.sleep(3600)

    async def cancel_from_coop():
        task = asyncio.ensure_future(forever())
        wrapped = coop.wrap_future(task)
        await asyncio.sleep(0)
        wrapped.cancel(None)
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run_until_complete(cancel_from_coop())


def test_future_misuse(loop):
    f = loop.create_coop_future()
    with pytest.raises(asyncio.InvalidStateError):
        f.result()
    with pytest.raises(TypeError):
        f.set_exception(42)
    with pytest.raises(TypeError):
        f.set_exception(asyncio.CancelledError())
    f.set_result(1)
    assert f.done() and not f.cancelled() and f.exception() is None


def test_await_without_anyone_running_the_context_is_an_error(context):
    # A stock asyncio loop never iterates the GLib context the future
    # belongs to: refuse instead of hanging.
    coop_loop = Coop.Loop.new(context)
    future = Coop.Future.new(coop_loop)

    async def main():
        with pytest.raises(RuntimeError, match="main context"):
            await future

    stock = asyncio.SelectorEventLoop()
    try:
        stock.run_until_complete(main())
    finally:
        stock.close()
    future.cancel(None)


def test_driver_on_closed_coop_loop(context):
    coop_loop = Coop.Loop.new(context)
    coop_loop.close()
    with pytest.raises(GLib.Error) as info:
        Coop.Driver.new(coop_loop, -1, lambda fd_ready: -1)
    assert info.value.matches(Coop.error_quark(), Coop.Error.LOOP_CLOSED)
    # The asyncio loop refuses it too, and leaks nothing on the way.
    with pytest.raises(GLib.Error):
        coop.EventLoop(coop_loop=coop_loop)
    with pytest.raises(ValueError):
        coop.EventLoop(GLib.MainContext.new(), coop_loop=Coop.Loop.new(context))


def test_streams_subprocess_executor_timeout_taskgroup(loop):
    async def handle(reader, writer):
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def client(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello %d\n" % i)
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(client(i)) for i in range(20)]
        assert [t.result() for t in tasks] == [b"HELLO %d\n" % i for i in range(20)]
        server.close()
        await server.wait_closed()

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; print(sys.stdin.read()[::-1])",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate(b"olleh")
        assert out == b"hello\n" and proc.returncode == 0

        thread_ids = await asyncio.gather(*(loop.run_in_executor(None, threading.get_ident)
                                            for _ in range(4)))
        assert threading.get_ident() not in thread_ids

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(10)

    loop.run_until_complete(main())


def test_add_reader_and_writer(loop):
    r, w = os.pipe()
    got = []
    done = loop.create_future()

    def readable():
        got.append(os.read(r, 100))
        loop.remove_reader(r)
        done.set_result(None)

    loop.add_reader(r, readable)
    loop.call_later(0.005, os.write, w, b"data")
    loop.run_until_complete(done)
    assert got == [b"data"]
    wrote = loop.create_future()
    loop.add_writer(w, lambda: (loop.remove_writer(w), wrote.set_result(True)))
    assert loop.run_until_complete(wrote)
    os.close(r)
    os.close(w)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals need the main thread")
def test_signal_handler(loop):
    got = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
    loop.call_later(0.005, os.kill, os.getpid(), signal.SIGUSR1)
    try:
        assert loop.run_until_complete(asyncio.wait_for(got, 5)) == "usr1"
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


def test_call_soon_threadsafe_from_threads(loop):
    n_threads, per_thread = 4, 2000
    seen = {t: [] for t in range(n_threads)}
    finished = loop.create_future()
    remaining = [n_threads * per_thread]

    def record(t, i):
        seen[t].append(i)
        remaining[0] -= 1
        if remaining[0] == 0:
            finished.set_result(None)

    def producer(t):
        for i in range(per_thread):
            loop.call_soon_threadsafe(record, t, i)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    loop.run_until_complete(asyncio.wait_for(finished, 30))
    for th in threads:
        th.join()
    for t in range(n_threads):
        assert seen[t] == list(range(per_thread))   # once each, in order


def test_coop_loop_in_another_thread(context):
    """A Coop future of a loop that another thread runs is awaited from a
    stock asyncio loop: the result comes back through call_soon_threadsafe."""
    other = GLib.MainContext.new()
    coop_loop = Coop.Loop.new(other)
    main_loop = GLib.MainLoop.new(other, False)
    thread = threading.Thread(target=main_loop.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not main_loop.is_running() and time.monotonic() < deadline:
        time.sleep(0.001)
    try:
        future = Coop.sleep(coop_loop, 5_000)

        async def main():
            return await future

        stock = asyncio.SelectorEventLoop()
        try:
            assert stock.run_until_complete(asyncio.wait_for(main(), 10)) is None
        finally:
            stock.close()
    finally:
        other.invoke_full(GLib.PRIORITY_DEFAULT, main_loop.quit)
        thread.join()
        coop_loop.close()


def test_dropping_everything_while_pending(context):
    # Loops, futures and callbacks dropped in any order while work is
    # pending, with the collector forced: no crash.
    for _ in range(20):
        loop = coop.new_event_loop()
        futures = [loop.create_coop_future() for _ in range(10)]

        async def waiter(f):
            await f

        tasks = [loop.create_task(waiter(f)) for f in futures]
        loop.call_later(10, print)
        loop.run_until_complete(asyncio.sleep(0))
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        del tasks, futures
        loop.close()
        del loop
        gc.collect()


def test_glib_and_asyncio_child_watching_coexist(loop):
    """A Coop (GSubprocess, GLib's SIGCHLD handling) child and asyncio
    children (asyncio's child watcher) run at once: each side reaps only its
    own, and both see the right exit status."""
    async def main():
        cproc = Coop.Subprocess.new(loop.coop_loop, ["sh", "-c", "sleep 0.05; exit 3"],
                                    Gio.SubprocessFlags.NONE)
        procs = [await asyncio.create_subprocess_exec("sh", "-c", f"exit {i}")
                 for i in range(5)]
        codes = await asyncio.gather(*(p.wait() for p in procs))
        await cproc.wait()
        ok, code = cproc.get_returncode()
        return codes, ok, code

    codes, ok, code = loop.run_until_complete(asyncio.wait_for(main(), 30))
    assert codes == [0, 1, 2, 3, 4]
    assert ok and code == 3
