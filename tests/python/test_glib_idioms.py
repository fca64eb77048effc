# SPDX-License-Identifier: LGPL-2.1-or-later
"""asyncio idioms where GLib, not asyncio, runs the loop (pytest).

- GLib callbacks (and Gio.Application's signal handlers) dispatched while a
  GLib.MainLoop, Gio.Application.run() or a context iteration runs the
  context of a coop.EventLoop see it as the running loop; nested main loops
  keep it; it is left when run() returns.
- Ctrl-C stops run_forever()/run_until_complete() with KeyboardInterrupt,
  and asyncio.Runner's second Ctrl-C force-quits (real SIGINT, real child
  processes).
- asyncio.run() in worker threads, with the policy installed, gets a context
  of its own.
- Coop.gather() and run_until_complete() give values, as asyncio does.
"""
import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import coop
from gi.repository import Coop, Gio, GLib


@pytest.fixture
def context():
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


@pytest.fixture
def policy():
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(coop.EventLoopPolicy())
    yield
    asyncio.set_event_loop_policy(old)


def _no_running_loop():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


async def _timed_work(value):
    async with asyncio.timeout(30):
        await asyncio.sleep(0)
    return value


def _guarded(quit, errors, func):
    # A GLib callback whose failure ends the main loop (PyGObject would
    # print the exception and go on, and the test would never end).
    def callback(*args):
        try:
            return func(*args)
        except BaseException as exc:
            errors.append(exc)
            quit()
            return GLib.SOURCE_REMOVE
    return callback


def _asyncio_from_callback(loop):
    # What a GTK signal handler or a GLib timeout callback does.
    running = asyncio.get_running_loop()
    task = asyncio.create_task(_timed_work(1))
    future = asyncio.ensure_future(_timed_work(2))
    asyncio.timeout(30)
    return running is loop and asyncio.get_event_loop() is loop, task, future


# --- 1. the running loop while GLib runs the context -------------------------------


def test_glib_main_loop_callbacks_see_running_loop(loop, context):
    main_loop = GLib.MainLoop.new(context, False)
    seen = {}

    def on_timeout(*_):
        seen["same"], task, future = _asyncio_from_callback(loop)
        seen["running"] = loop.is_running()
        gathered = asyncio.gather(task, future)
        gathered.add_done_callback(lambda f: (seen.update(values=f.result()), main_loop.quit()))
        return GLib.SOURCE_REMOVE

    errors = []
    source = GLib.timeout_source_new(0)
    source.set_callback(_guarded(main_loop.quit, errors, on_timeout))
    source.attach(context)
    assert _no_running_loop()
    main_loop.run()
    assert errors == []
    assert seen == {"same": True, "running": True, "values": [1, 2]}
    # Left after run() returned.
    assert _no_running_loop()
    assert not loop.is_running()


def test_nested_main_loops_keep_running_state(loop, context):
    outer = GLib.MainLoop.new(context, False)
    seen = []

    def in_nested(*_):
        seen.append(("nested", asyncio.get_running_loop() is loop))
        inner.quit()
        return GLib.SOURCE_REMOVE

    def on_idle(*_):
        nonlocal inner
        inner = GLib.MainLoop.new(context, False)
        source = GLib.idle_source_new()
        source.set_callback(_guarded(inner.quit, errors, in_nested))
        source.attach(context)
        inner.run()                       # a modal dialog's loop
        seen.append(("after nested", asyncio.get_running_loop() is loop))
        # A context iteration inside a callback (GTK 4's "wait for the
        # dialog" idiom) keeps it too.
        context.iteration(False)
        seen.append(("after iteration", asyncio.get_running_loop() is loop))
        outer.quit()
        return GLib.SOURCE_REMOVE

    inner = None
    errors = []
    source = GLib.idle_source_new()
    source.set_callback(_guarded(outer.quit, errors, on_idle))
    source.attach(context)
    outer.run()
    assert errors == []
    assert seen == [("nested", True), ("after nested", True), ("after iteration", True)]
    assert _no_running_loop()


def test_nested_main_loop_inside_coroutine(loop, context):
    async def main():
        nested = GLib.MainLoop.new(context, False)
        seen = []

        def tick(*_):
            seen.append(asyncio.get_running_loop() is loop)
            nested.quit()
            return GLib.SOURCE_REMOVE

        source = GLib.timeout_source_new(0)
        source.set_callback(tick)
        source.attach(context)
        nested.run()
        # run_forever()'s running state survives the nested loop.
        assert asyncio.get_running_loop() is loop
        assert loop.is_running()
        await asyncio.sleep(0)
        return seen

    assert loop.run_until_complete(main()) == [True]
    assert _no_running_loop()
    assert not loop.is_running()


def test_context_iteration_enters_running_state(loop, context):
    seen = []

    def cb(*_):
        seen.append(asyncio.get_running_loop() is loop)
        return GLib.SOURCE_REMOVE

    errors = []
    source = GLib.idle_source_new()
    source.set_callback(_guarded(lambda: None, errors, cb))
    source.attach(context)
    while not seen and not errors:
        context.iteration(True)
    assert errors == []
    assert seen == [True]
    assert _no_running_loop()


def test_other_contexts_and_other_running_loops_are_left_alone(loop, context):
    # A main loop on another context does not make this loop running.
    other = GLib.MainContext.new()
    main_loop = GLib.MainLoop.new(other, False)
    seen = []

    def cb(*_):
        seen.append(_no_running_loop())
        main_loop.quit()
        return GLib.SOURCE_REMOVE

    source = GLib.idle_source_new()
    source.set_callback(cb)
    source.attach(other)
    main_loop.run()
    assert seen == [True]


def test_closed_loop_is_not_entered(context):
    loop = coop.new_event_loop()
    loop.close()
    main_loop = GLib.MainLoop.new(context, False)
    seen = []

    def cb(*_):
        seen.append(_no_running_loop())
        main_loop.quit()
        return GLib.SOURCE_REMOVE

    source = GLib.idle_source_new()
    source.set_callback(cb)
    source.attach(context)
    main_loop.run()
    assert seen == [True]


def test_gio_application_run(policy):
    # Gio.Application.run() iterates the global default context: the
    # policy's loop of the main thread is running while it runs.
    loop = asyncio.get_event_loop_policy().get_event_loop()
    app = Gio.Application(application_id=None, flags=Gio.ApplicationFlags.NON_UNIQUE)
    seen = {}

    errors = []

    def on_activate(app):
        try:
            seen["same"], task, future = _asyncio_from_callback(loop)
        except BaseException as exc:
            errors.append(exc)
            return
        app.hold()

        async def finish():
            seen["values"] = [await task, await future]
            app.release()

        asyncio.create_task(finish())

    app.connect("activate", on_activate)
    try:
        assert app.run([]) == 0
        assert errors == []
        assert seen == {"same": True, "values": [1, 2]}
        assert _no_running_loop()
        assert not loop.is_running()
    finally:
        loop.close()
        asyncio.set_event_loop(None)


# --- 2. Ctrl-C --------------------------------------------------------------------

_SIGINT_CHILD = textwrap.dedent("""
    import asyncio, sys
    import coop

    async def forever(ignore_cancel):
        print("READY", flush=True)
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                # A slow clean-up: the first cancellation is survived (the
                # second, from Runner.close(), is not).
                if not ignore_cancel:
                    raise
                ignore_cancel = False
                print("CANCELLED", flush=True)

    mode = sys.argv[1]
    try:
        if mode == "run_forever":
            loop = coop.new_event_loop()
            loop.call_soon(lambda: print("READY", flush=True))
            loop.run_forever()
        elif mode == "run_until_complete":
            loop = coop.new_event_loop()
            loop.run_until_complete(forever(False))
        else:
            coop.run(forever(mode == "run-ignoring-cancel"))
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(0)
    print("returned", flush=True)
    sys.exit(1)
""")


@pytest.mark.parametrize("mode, interrupts, lines", [
    ("run_forever", 1, []),
    ("run_until_complete", 1, []),
    ("run", 1, []),
    # asyncio.Runner: the first Ctrl-C cancels the main task, which goes
    # on; the second raises KeyboardInterrupt wherever the loop is.
    ("run-ignoring-cancel", 2, ["CANCELLED"]),
])
def test_sigint_stops_the_loop(mode, interrupts, lines):
    child = subprocess.Popen([sys.executable, "-c", _SIGINT_CHILD, mode],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=os.environ.copy())
    try:
        assert child.stdout.readline() == "READY\n"
        got = []
        for i in range(interrupts):
            child.send_signal(signal.SIGINT)
            if i < len(lines):
                got.append(child.stdout.readline().strip())
        assert got == lines
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert (child.returncode, out) == (0, "KeyboardInterrupt\n"), err


def test_sigint_handler_restored(loop):
    handler = signal.getsignal(signal.SIGINT)
    seen = []
    loop.call_soon(lambda: seen.append(signal.getsignal(signal.SIGINT) is handler))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [False]            # wrapped while the loop runs
    assert signal.getsignal(signal.SIGINT) is handler


# --- 3. loops of other threads --------------------------------------------------------


def test_asyncio_run_in_threads_gets_own_context(policy):
    main_context = GLib.MainContext.default()
    main_loop = asyncio.new_event_loop()
    # All eight loops run at once: each waits here until the others run.
    everyone = threading.Barrier(8)
    executor = concurrent.futures.ThreadPoolExecutor(4)

    async def in_thread(i):
        ctx = GLib.MainContext.get_thread_default()
        loop = asyncio.get_running_loop()
        assert isinstance(loop, coop.EventLoop)
        everyone.wait(60)
        await asyncio.sleep(0.001)
        await asyncio.to_thread(int)
        await Coop.sleep(loop.coop_loop, 100)
        return i, ctx is not None and ctx != main_context and loop.context == ctx

    def job(i):
        result = asyncio.run(in_thread(i))
        # The thread's default context was popped by close().
        return result, GLib.MainContext.get_thread_default() is None

    async def main():
        jobs = [asyncio.to_thread(job, i) for i in range(4)]
        jobs += [asyncio.get_running_loop().run_in_executor(executor, job, i) for i in range(4, 8)]
        return await asyncio.gather(*jobs)

    try:
        results = main_loop.run_until_complete(main())
        main_loop.run_until_complete(main_loop.shutdown_default_executor())
    finally:
        executor.shutdown()
        main_loop.close()
    assert results == [((i, True), True) for i in range(8)]


def test_thread_with_own_default_context_keeps_it(policy):
    ctx = GLib.MainContext.new()

    async def check():
        return asyncio.get_running_loop().context == ctx

    def job():
        ctx.push_thread_default()
        try:
            return asyncio.run(check()) and GLib.MainContext.get_thread_default() == ctx
        finally:
            ctx.pop_thread_default()

    result = []
    thread = threading.Thread(target=lambda: result.append(job()))
    thread.start()
    thread.join()
    assert result == [True]


# --- 5. results where asyncio users expect them ------------------------------------------


def test_await_gather_gives_values(loop):
    cl = loop.coop_loop

    async def main():
        a = loop.create_coop_future()
        b = Coop.sleep(cl, 100)
        loop.call_soon(a.set_result, "a")
        values = await Coop.gather(cl, [a, b, coop.wrap_future(_timed_work(3))], False)
        assert values == ["a", None, 3]
        failing = loop.create_coop_future()
        loop.call_soon(failing.set_exception, ValueError("boom"))
        with pytest.raises(ValueError, match="boom"):
            await Coop.gather(cl, [Coop.sleep(cl, 10_000_000), failing], False)
        # wait_all: asyncio's return_exceptions=True.
        bad = loop.create_coop_future()
        bad.set_exception(KeyError("k"))
        cancelled = loop.create_coop_future()
        cancelled.cancel(None)
        mixed = await Coop.gather(cl, [Coop.sleep(cl, 100), bad, cancelled], True)
        assert mixed[0] is None and isinstance(mixed[1], KeyError)
        assert isinstance(mixed[2], asyncio.CancelledError)
        assert await Coop.gather(cl, [], False) == []
        return True

    assert loop.run_until_complete(main())


def test_run_until_complete_coop_future(loop):
    future = loop.create_coop_future()
    loop.call_soon(future.set_result, {"k": 1})
    assert loop.run_until_complete(future) == {"k": 1}
    assert loop.run_until_complete(Coop.sleep(loop.coop_loop, 100)) is None
    gathered = Coop.gather(loop.coop_loop, [Coop.sleep(loop.coop_loop, 100)], False)
    assert loop.run_until_complete(gathered) == [None]


def test_wrap_future_cancel_reaches_task_next_iteration(loop):
    steps = 0

    async def spinner():
        nonlocal steps
        while True:
            steps += 1
            await asyncio.sleep(0)

    async def main():
        task = asyncio.create_task(spinner())
        wrapped = coop.wrap_future(task)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        before = steps
        wrapped.cancel(None)
        with pytest.raises(asyncio.CancelledError):
            await task
        # The spinner saw at most one more step, not a dispatch budget's
        # worth of them.
        return steps - before

    assert loop.run_until_complete(main()) <= 1
