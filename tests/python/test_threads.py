# SPDX-License-Identifier: LGPL-2.1-or-later
"""asyncio's cross-thread idioms between coop.EventLoops (pytest).

Each loop runs on its own thread and its own GLib.MainContext;
asyncio.run_coroutine_threadsafe() starts a coroutine on another thread's
loop and asyncio.wrap_future() awaits its result, with cancellation passing
both ways, as between stock asyncio loops.
"""
import asyncio
import concurrent.futures
import threading

import pytest

import coop
from gi.repository import Coop, GLib


class LoopThread:
    """A coop.EventLoop running on a thread of its own, on a GLib context of
    its own: by run_forever(), or (``glib=True``) by a GLib.MainLoop on that
    context, as a GTK application's thread would."""

    def __init__(self, glib=False):
        self.loop = None
        self.thread_id = None
        self.main_loop = None
        ready = threading.Event()

        def main():
            if glib:
                context = GLib.MainContext.new()
                context.push_thread_default()
                self.main_loop = GLib.MainLoop.new(context, False)
            self.loop = coop.new_event_loop()
            self.thread_id = threading.get_ident()
            asyncio.set_event_loop(self.loop)
            ready.set()
            try:
                if glib:
                    self.main_loop.run()
                else:
                    self.loop.run_forever()
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()
                if glib:
                    context.pop_thread_default()

        self.thread = threading.Thread(target=main)
        self.thread.start()
        ready.wait()

    def stop(self):
        if self.main_loop is not None:
            self.loop.call_soon_threadsafe(self.main_loop.quit)
        else:
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


@pytest.fixture(params=["run_forever", "glib_main_loop"])
def other(request):
    worker = LoopThread(glib=request.param == "glib_main_loop")
    yield worker
    worker.stop()
    assert worker.loop.is_closed()


def test_other_loop_has_own_context(other):
    async def main():
        here = asyncio.get_running_loop()
        assert here.context != other.loop.context
        assert here.coop_loop != other.loop.coop_loop

    coop.run(main())


def test_run_coroutine_threadsafe_and_wrap_future(other):
    async def work(x):
        await asyncio.sleep(0)
        assert asyncio.get_running_loop() is other.loop
        return x * 2, threading.get_ident()

    async def main():
        cf = asyncio.run_coroutine_threadsafe(work(21), other.loop)
        value, thread_id = await asyncio.wrap_future(cf)
        assert value == 42
        assert thread_id == other.thread_id != threading.get_ident()
        # Many at once, in both orders of completion.
        cfs = [asyncio.run_coroutine_threadsafe(work(i), other.loop) for i in range(200)]
        values = await asyncio.gather(*(asyncio.wrap_future(cf) for cf in cfs))
        assert [v for v, _ in values] == [2 * i for i in range(200)]

    coop.run(main())


def test_from_a_thread_without_a_loop(other):
    # The plainest use: a thread that runs no loop hands a coroutine to a
    # coop loop and blocks on the result.
    async def work():
        await asyncio.sleep(0)
        return threading.get_ident()

    cf = asyncio.run_coroutine_threadsafe(work(), other.loop)
    assert cf.result(timeout=60) == other.thread_id


def test_exception_crosses(other):
    async def work():
        raise KeyError("over there")

    async def main():
        cf = asyncio.run_coroutine_threadsafe(work(), other.loop)
        with pytest.raises(KeyError, match="over there"):
            await asyncio.wrap_future(cf)

    coop.run(main())


def test_cancel_awaiting_side_cancels_other_loop(other):
    # Thread A cancels its task awaiting wrap_future(); the coroutine
    # running on B's loop is cancelled there.
    async def work(started, observed):
        started.set_result(None)
        try:
            await asyncio.Event().wait()     # never set
        except asyncio.CancelledError:
            observed.set_result(asyncio.get_running_loop() is other.loop)
            raise

    async def main():
        started = concurrent.futures.Future()
        observed = concurrent.futures.Future()
        cf = asyncio.run_coroutine_threadsafe(work(started, observed), other.loop)
        waiter = asyncio.ensure_future(asyncio.wrap_future(cf))
        await asyncio.wrap_future(started)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await asyncio.wrap_future(observed) is True
        with pytest.raises(concurrent.futures.CancelledError):
            cf.result(timeout=60)

    coop.run(main())


def test_cancel_on_other_loop_reaches_awaiting_side(other):
    # B cancels the task run_coroutine_threadsafe() made: A's await raises
    # CancelledError.
    async def work(tasks):
        tasks.set_result(asyncio.current_task())
        await asyncio.Event().wait()

    async def main():
        tasks = concurrent.futures.Future()
        cf = asyncio.run_coroutine_threadsafe(work(tasks), other.loop)
        task = await asyncio.wrap_future(tasks)
        other.loop.call_soon_threadsafe(task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wrap_future(cf)
        assert cf.cancelled()

    coop.run(main())


def test_cancel_concurrent_future_from_caller_thread(other):
    # The caller cancels the concurrent future itself (what wrap_future()'s
    # future does when cancelled): B's task is cancelled on B's thread.
    async def work(started, observed):
        started.set_result(None)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            observed.set_result(threading.get_ident())
            raise

    async def main():
        started = concurrent.futures.Future()
        observed = concurrent.futures.Future()
        cf = asyncio.run_coroutine_threadsafe(work(started, observed), other.loop)
        await asyncio.wrap_future(started)
        assert cf.cancel()
        assert await asyncio.wrap_future(observed) == other.thread_id

    coop.run(main())


def test_eight_threads_exchange_work():
    # Eight threads, each running asyncio.run() on its own coop loop, each
    # sending work to the next one's loop and awaiting it, all at once.
    n_threads = 8
    n_jobs = 200
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(coop.EventLoopPolicy())
    loops = [None] * n_threads
    published = threading.Barrier(n_threads)
    finished = concurrent.futures.Future()
    finished_count = [0]
    count_lock = threading.Lock()
    results = [None] * n_threads

    async def job(sender, k):
        await asyncio.sleep(0)
        return sender, k, threading.get_ident(), asyncio.get_running_loop()

    async def main(i):
        loop = asyncio.get_running_loop()
        assert isinstance(loop, coop.EventLoop)
        loops[i] = loop
        # Every loop is running before anyone sends work.
        await loop.run_in_executor(None, published.wait)
        target = loops[(i + 1) % n_threads]
        cfs = [asyncio.run_coroutine_threadsafe(job(i, k), target) for k in range(n_jobs)]
        got = await asyncio.gather(*(asyncio.wrap_future(cf) for cf in cfs))
        results[i] = got
        with count_lock:
            finished_count[0] += 1
            if finished_count[0] == n_threads:
                finished.set_result(None)
        # Keep serving the others until everyone is done.
        await asyncio.wrap_future(finished)
        return threading.get_ident()

    try:
        with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
            idents = list(pool.map(lambda i: asyncio.run(main(i)), range(n_threads)))
    finally:
        asyncio.set_event_loop_policy(old)
    assert len(set(idents)) == n_threads
    contexts = {loop.context for loop in loops}
    assert len(contexts) == n_threads
    for i, got in enumerate(results):
        target = (i + 1) % n_threads
        assert [(s, k) for s, k, _, _ in got] == [(i, k) for k in range(n_jobs)]
        assert {ident for _, _, ident, _ in got} == {idents[target]}
        assert all(loop is loops[target] for _, _, _, loop in got)
    assert all(loop.is_closed() for loop in loops)


# --- Coop futures of another thread's loop -----------------------------------

def _on_loop(worker, func):
    # Runs func() on the worker's loop thread; a concurrent future of its
    # return value.
    result = concurrent.futures.Future()

    def call():
        try:
            result.set_result(func())
        except BaseException as exc:
            result.set_exception(exc)

    worker.loop.call_soon_threadsafe(call)
    return result


def test_await_coop_future_of_other_loop(other):
    # A Coop.Future belongs to B's loop; a coroutine on A awaits it: the
    # done callback is added on B's thread and the outcome crosses to A.
    async def main():
        cfuture = await asyncio.wrap_future(_on_loop(other, lambda: other.loop.create_coop_future()))
        waiter = asyncio.ensure_future(_await(cfuture))
        await asyncio.sleep(0)
        assert not waiter.done()
        _on_loop(other, lambda: cfuture.set_result("from B"))
        assert await waiter == ("from B", threading.get_ident())
        # Already done when awaited.
        assert await cfuture == "from B"
        # An error.
        failing = await asyncio.wrap_future(_on_loop(other, lambda: other.loop.create_coop_future()))
        _on_loop(other, lambda: failing.set_exception(KeyError("B failed")))
        with pytest.raises(KeyError, match="B failed"):
            await failing

    async def _await(cfuture):
        value = await cfuture
        return value, threading.get_ident()

    coop.run(main())


def test_cancel_await_of_other_loop_coop_future(other):
    # Cancelling A's task cancels B's future, on B's thread; B cancelling its
    # future ends A's await with CancelledError.
    async def main():
        sleeper = await asyncio.wrap_future(_on_loop(
            other, lambda: Coop.sleep(other.loop.coop_loop, 3600 * GLib.USEC_PER_SEC)))
        cancelled = concurrent.futures.Future()
        _on_loop(other, lambda: sleeper.add_done_callback(
            lambda f, *_: cancelled.set_result((f.is_cancelled(), threading.get_ident()))))
        waiter = asyncio.ensure_future(_await(sleeper))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await asyncio.wrap_future(cancelled) == (True, other.thread_id)

        pending = await asyncio.wrap_future(_on_loop(other, lambda: other.loop.create_coop_future()))
        waiter = asyncio.ensure_future(_await(pending))
        await asyncio.sleep(0)
        _on_loop(other, lambda: pending.cancel(None))
        with pytest.raises(asyncio.CancelledError):
            await waiter

    async def _await(cfuture):
        return await cfuture

    coop.run(main())


def test_coop_wrap_future_onto_other_loop(other):
    # coop.wrap_future(coro, loop=B) from A's thread: the task starts on B's
    # thread, the Coop future (B's) gives its result to A, and
    # cancel_threadsafe() from A cancels the task on B's thread.
    async def work():
        return asyncio.get_running_loop() is other.loop, threading.get_ident()

    async def forever(started, observed):
        started.set_result(None)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            observed.set_result(threading.get_ident())
            raise

    async def main():
        assert await coop.wrap_future(work(), loop=other.loop) == (True, other.thread_id)
        started = concurrent.futures.Future()
        observed = concurrent.futures.Future()
        cfuture = coop.wrap_future(forever(started, observed), loop=other.loop)
        await asyncio.wrap_future(started)
        cfuture.cancel_threadsafe(None)
        with pytest.raises(asyncio.CancelledError):
            await cfuture
        assert await asyncio.wrap_future(observed) == other.thread_id

    coop.run(main())
