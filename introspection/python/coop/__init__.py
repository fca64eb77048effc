# SPDX-License-Identifier: LGPL-2.1-or-later
"""asyncio on the GLib main loop, through Coop.

    import coop

    async def main():
        await asyncio.sleep(1)

    coop.run(main())

``coop.run()`` is ``asyncio.run()`` on :class:`EventLoop`, an asyncio loop
implemented on ``Coop.Loop``: asyncio programs and libraries (streams,
subprocesses, TaskGroup, timeouts, executors) run on the GLib main context,
so they share it with GTK and with Coop's C tasks, and ``await`` works on any
``Coop.Future``.
"""

import asyncio
import pkgutil
import threading
import warnings
from asyncio import events

import gi

gi.require_version("Coop", "1")
from gi.repository import Coop, GLib  # noqa: E402,F401  (loads the override)

# In a build tree the compiled coop._speedups is beside the sources' coop
# package, under the build directory (PYTHONPATH names both).
__path__ = pkgutil.extend_path(__path__, __name__)

from ._loop import EventLoop  # noqa: E402
from . import _gio_async  # noqa: E402,F401  (awaitable GIO calls)
from . import _gc  # noqa: E402

__all__ = [
    "EventLoop",
    "EventLoopPolicy",
    "new_event_loop",
    "run",
    "wrap_future",
    "install",
    "set_gc_pacing",
    "get_gc_pacing",
]


def set_gc_pacing(enabled):
    """Turns on or off the pacing of CPython's cyclic garbage collector
    while :class:`EventLoop` instances are open (on by default;
    ``COOP_PY_GC_PACING=0`` in the environment makes it off).

    With it on, generation-1 collections that reclaim nothing make the next
    ones rarer (``gc.get_threshold()[1]`` doubles, up to 128 times the
    application's value) and collections that reclaim garbage bring them
    back (it halves, down to the application's value): thousands of tasks
    in flight are not walked by the collector every few milliseconds, which
    would delay the frames of a GTK application.  Turning it off, or closing
    the last loop, puts back the application's threshold."""
    _gc.set_pacing(enabled)


def get_gc_pacing():
    """Whether the collector's pacing is on (see :func:`set_gc_pacing`)."""
    return _gc.get_pacing()


def new_event_loop(context=None):
    """Returns a new :class:`EventLoop` on ``context`` (by default the
    thread-default ``GLib.MainContext``; in a thread other than the main one
    that has none, a new context, the thread's default until the loop is
    closed)."""
    return EventLoop(context)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An asyncio policy whose loops are :class:`EventLoop` instances.

    ``get_event_loop()`` in a thread without a loop creates one on the
    thread-default GLib context (only in the main thread, as asyncio's own
    policy does); child watchers are asyncio's.  ``asyncio.run()`` in a
    worker thread gets a loop on a GLib context of its own (see
    :func:`new_event_loop`).
    """

    _loop_factory = EventLoop

    def new_event_loop(self):
        return EventLoop()


def install():
    """Makes :class:`EventLoopPolicy` asyncio's policy and returns the
    current thread's loop: what a GTK application calls once at start-up.
    While ``Gtk.Application.run()`` (or a ``GLib.MainLoop``) runs, that loop
    is the running loop, so signal handlers call
    ``asyncio.create_task()`` and friends as coroutines do."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
    loop = asyncio.get_event_loop_policy().get_event_loop()
    return loop


# How long Coop's own tasks and thread-pool jobs get to finish at the end of
# run() (asyncio's executor shutdown waits as long).
SHUTDOWN_TIMEOUT = 300


def _shutdown_coop_loop(coop_loop):
    try:
        coop_loop.shutdown(SHUTDOWN_TIMEOUT * 1_000_000)
    except GLib.Error as e:
        if e.matches(Coop.Error.quark(), Coop.Error.INVALID_STATE):
            # Called from a callback of a main loop that iterates the same
            # context (run() nested in a GLib.MainLoop or a GTK
            # application): the Coop loop is that main loop's, leave it.
            return
        # Abandoned tasks were reported to the exception handler already;
        # jobs still running are not.
        warnings.warn(f"coop.run(): {e.message}", RuntimeWarning, stacklevel=3)


def run(main, *, debug=None):
    """Runs the coroutine ``main`` on a new :class:`EventLoop` for the
    thread-default GLib context and returns its result, like
    ``asyncio.run()``: the asyncio tasks left are cancelled and awaited, the
    loop's async generators and default executor are shut down and the loop
    closed at the end.  Then the ``Coop.Loop`` underneath is shut down with
    ``Coop.Loop.shutdown()``: Coop's own pending tasks (C tasks) are
    cancelled and awaited, its thread pool waited for, and it is closed
    (unless ``run()`` was called from a callback of a main loop that
    iterates the same context, which keeps its Coop loop)."""
    if events._get_running_loop() is not None:
        raise RuntimeError("coop.run() cannot be called from a running event loop")
    coop_loop = None
    try:
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            coop_loop = runner.get_loop().coop_loop
            return runner.run(main)
    finally:
        if coop_loop is not None:
            _shutdown_coop_loop(coop_loop)


def wrap_future(awaitable, *, loop=None):
    """Returns a ``Coop.Future`` that follows an asyncio future, task or
    coroutine (a coroutine is scheduled as a task on ``loop``, by default the
    running loop), so C code can await Python work.  Cancelling the Coop
    future cancels the asyncio one.

    ``loop`` may be a :class:`EventLoop` running on another thread: the task
    is started there, the Coop future belongs to that loop (await it from
    any coop loop; cancel it from this thread with ``cancel_threadsafe()``).
    """
    if loop is None:
        loop = events.get_running_loop() if events._get_running_loop() else asyncio.get_event_loop()
    ours = isinstance(loop, EventLoop)
    coop_loop = loop.coop_loop if ours else Coop.Loop.get_default()
    cfuture = Coop.Future.new(coop_loop)
    if ours and _runs_elsewhere(loop.context):
        # Tasks and Coop futures belong to their loop's thread: follow the
        # awaitable from there.
        loop.call_soon_threadsafe(_follow, awaitable, loop, cfuture, True)
    else:
        _follow(awaitable, loop, cfuture, ours)
    return cfuture


def _runs_elsewhere(context):
    # Whether another thread iterates ``context`` now.
    if context.is_owner():
        return False
    if context.acquire():
        context.release()
        return False
    return True


def _follow(awaitable, loop, cfuture, same_thread):
    # On the thread of ``loop`` when ``same_thread``.
    afuture = asyncio.ensure_future(awaitable, loop=loop)

    def copy(af):
        if cfuture.is_done():
            return
        if af.cancelled():
            cfuture.cancel(None)
        elif af.exception() is not None:
            cfuture.set_exception(af.exception())
        else:
            cfuture.set_result(af.result())

    afuture.add_done_callback(copy)

    def cancel_afuture():
        if not afuture.done():
            if same_thread:
                afuture.cancel()
            else:
                loop.call_soon_threadsafe(afuture.cancel)

    def on_coop_done(cf, *_):
        if cf.is_cancelled():
            cancel_afuture()

    # Python's cfuture.cancel() reaches the asyncio side at once (the done
    # callback would wait for Coop's ready queue, which may come after a
    # whole dispatch budget of asyncio iterations); C's cancels come
    # through the done callback.
    setattr(cfuture, "_coop_on_cancel", cancel_afuture)
    cfuture.add_done_callback(on_coop_done)
