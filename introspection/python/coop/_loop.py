# SPDX-License-Identifier: LGPL-2.1-or-later
"""asyncio's event loop, driven by the GLib main loop through Coop.

The loop is asyncio's own selector loop (its ready queue, timer heap,
transports, signal handling and subprocess support are untouched); what
changes is who runs it.  A Coop.Driver — one GSource on the loop's
GMainContext whose prepare and check run in C — watches the selector's
epoll fd and wakes at the next asyncio timer, and Python is entered once
per main-loop iteration that has asyncio work, never per callback.

So whatever iterates the context runs asyncio: run_forever() (a GLib main
loop of its own), a GLib.MainLoop, or Gtk.Application.run().  While
GLib.MainLoop.run(), Gio.Application.run() or GLib.MainContext.iteration()
iterates the context of a loop that nothing else runs, that loop is the
running loop of the thread, so GTK signal handlers and GLib callbacks call
asyncio.get_running_loop(), create_task() and timeout() as coroutines do.
"""

import asyncio
import heapq
import math
import os
import selectors
import signal
import sys
import threading
import time
import weakref
from asyncio import events, format_helpers, selector_events

import gi

gi.require_version("Coop", "1")
from gi.repository import Coop, Gio, GLib  # noqa: E402

from . import _gc  # noqa: E402

__all__ = ["EventLoop"]

# The same tuning as asyncio's own loop for dropping cancelled timers.
_MIN_SCHEDULED_TIMER_HANDLES = 100
_MIN_CANCELLED_TIMER_HANDLES_FRACTION = 0.5

# One dispatch runs asyncio iterations back to back for at most this long
# (seconds) before it lets the other sources of the context run (GTK draws
# at 60 Hz: a frame is 16.7 ms).
_DISPATCH_BUDGET = 0.002
# Callbacks run between two looks at the clock.
_CHUNK = 64

_monotonic = time.monotonic
_heappop = heapq.heappop

# The compiled hot path (coop/_speedups.c), unless it was not built or
# COOP_PY_SPEEDUPS=0 asks for the pure-Python loop.
if os.environ.get("COOP_PY_SPEEDUPS", "1") == "0":
    _speedups = None
else:
    try:
        from . import _speedups
    except ImportError:
        _speedups = None

try:
    _Selector = selectors.EpollSelector
except AttributeError:  # pragma: no cover - not Linux
    _Selector = selectors.PollSelector


class _PyCore:
    """The hot path in Python: what coop/_speedups.c does in C, and what
    the C path itself calls in debug mode (so debug mode is the same on
    both: source tracebacks, slow-callback warnings)."""

    def time(self):
        # CLOCK_MONOTONIC, as g_get_monotonic_time(): timers and GLib agree.
        return _monotonic()

    def _poll_io(self):
        self._process_events(self._selector.select(0))

    def _call_soon(self, callback, args, context):
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        self._ready.append(handle)
        if self._next_wake != 0 and not self._dispatching:
            self._wake_at(0)
        return handle

    def call_at(self, when, callback, *args, context=None):
        timer = asyncio.BaseEventLoop.call_at(self, when, callback, *args, context=context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        if not self._dispatching:
            self._wake_at(_usec(when))
        return timer

    # Seconds one dispatch may run (see _DISPATCH_BUDGET); the C core has
    # its own default.
    _dispatch_budget = _DISPATCH_BUDGET
    # How many handles at the head of _ready are the rest of an iteration
    # the budget cut: they run before the next poll (see _run_iterations).
    _resume = 0

    def _run_iterations(self, fd_ready):
        # An iteration is asyncio's: poll, move the due timers, run the
        # handles queued at that point.  When the budget cuts one short,
        # the rest runs first in the next dispatch, before any poll: a poll
        # in between would queue again the reader handle of every fd whose
        # handle has not run yet (the fd is still readable), and that second
        # run would find nothing to read.
        ready = self._ready
        deadline = _monotonic() + self._dispatch_budget
        poll = fd_ready
        ntodo = min(self._resume, len(ready))
        self._resume = 0
        while True:
            if not ntodo:
                # Drop cancelled timers, as asyncio does.
                scheduled = self._scheduled
                if (len(scheduled) > _MIN_SCHEDULED_TIMER_HANDLES and
                        self._timer_cancelled_count / len(scheduled) >
                        _MIN_CANCELLED_TIMER_HANDLES_FRACTION):
                    self._purge_timers()
                    scheduled = self._scheduled
                else:
                    while scheduled and scheduled[0]._cancelled:
                        self._timer_cancelled_count -= 1
                        _heappop(scheduled)._scheduled = False

                if poll:
                    self._poll_io()

                if scheduled:
                    # Within the budget too: a heappop compares handles in
                    # Python, so 10,000 timers due at once were some 10 ms
                    # in one go.  Past the deadline, after one chunk, the
                    # rest stays due, in order, for the next iteration.
                    end = _monotonic() + self._clock_resolution
                    moved = 0
                    while scheduled and scheduled[0]._when < end:
                        handle = _heappop(scheduled)
                        handle._scheduled = False
                        ready.append(handle)
                        moved += 1
                        if moved % _CHUNK == 0 and _monotonic() >= deadline:
                            break

                ntodo = len(ready)
            if self._debug:
                self._run_ready_debug(ntodo)
            else:
                # In chunks, so that the budget holds inside a long batch
                # too (10,000 ready tasks are tens of milliseconds of
                # Python): what is left stays at the head of the queue.
                popleft = ready.popleft
                while ntodo > 0:
                    chunk = ntodo if ntodo < _CHUNK else _CHUNK
                    ntodo -= chunk
                    try:
                        while chunk:
                            chunk -= 1
                            handle = popleft()
                            if not handle._cancelled:
                                handle._run()
                    except BaseException:
                        # SystemExit, KeyboardInterrupt: the rest of the
                        # iteration is still due.
                        self._resume = ntodo + chunk
                        raise
                    if ntodo > 0 and _monotonic() >= deadline:
                        self._resume = ntodo
                        handle = None
                        return
            handle = None
            ntodo = 0

            if self._stopping:
                self._on_stop()
                return
            if not ready:
                return
            # More callbacks are queued: run another iteration now rather
            # than going through the main loop, within a time budget.
            if _monotonic() >= deadline:
                return
            poll = self._needs_poll()


if _speedups is not None:
    _Core = _speedups.LoopCore
else:
    _Core = _PyCore


class EventLoop(_Core, asyncio.SelectorEventLoop):
    """An asyncio event loop that runs on a GLib main context.

    :param context: the ``GLib.MainContext`` to run on; by default the
        thread-default context (the global default one on the main thread)
    :param coop_loop: alternatively, the ``Coop.Loop`` whose context to use

    The loop is attached to the context when it is created, so callbacks,
    tasks and I/O make progress whenever the context is iterated: by
    :meth:`run_forever` and :meth:`run_until_complete` as with any asyncio
    loop, but also by ``Gtk.Application.run()`` or a ``GLib.MainLoop`` without
    either of those being called.  Callbacks then see this loop as the
    running loop (``asyncio.get_running_loop()``).
    """

    def __init__(self, context=None, *, coop_loop=None):
        # Set before the base constructor runs: it may queue callbacks.
        self._driver = None
        self._dispatching = False
        self._next_wake = -1
        self._forever = None
        self._pending_exc = None
        self._owned_context = None
        self._external = None
        self._sig_safe = False
        self._sig_pending = False
        self._sig_handler = None
        super().__init__(_Selector())
        # The selector's fd -> key map, whose size says whether anything
        # besides the self-pipe is registered (see _needs_poll).
        self._fd_map = self._selector._fd_to_key
        if _speedups is not None:
            # The C core polls the epoll fd itself (as EpollSelector does).
            epfd = self._selector.fileno() if isinstance(self._selector, selectors.EpollSelector) else -1
            self._speedups_init(self._ready, self._fd_map, epfd)
        try:
            if (context is None and coop_loop is None and
                    threading.current_thread() is not threading.main_thread() and
                    GLib.MainContext.get_thread_default() is None):
                # asyncio.run() in a worker thread (run_in_executor,
                # to_thread): the thread-default context would be the main
                # thread's, which the main thread iterates.  Give the loop a
                # context of its own, the thread's default until close().
                context = GLib.MainContext.new()
                context.push_thread_default()
                self._owned_context = (context, threading.get_ident())
            if coop_loop is None:
                coop_loop = Coop.Loop.new(context)
            elif context is not None and context != coop_loop.get_context():
                raise ValueError("context and coop_loop disagree")
            self._coop_loop = coop_loop
            self._context = coop_loop.get_context()
            # Fails (GLib.Error, Coop.Error.LOOP_CLOSED) on a closed Coop loop.
            if _speedups is not None:
                # The same driver, its function called without GI.
                self._driver = _speedups.Driver(coop_loop.__gpointer__, self._selector.fileno(),
                                                self._dispatch, _glib_error)
            else:
                self._driver = Coop.Driver.new(coop_loop, self._selector.fileno(), self._dispatch)
        except BaseException:
            self._release_context()
            super().close()
            raise
        _register(self)
        _gc.loop_opened()
        if self._ready:
            self._wake_at(0)

    # --- what asyncio code sees ------------------------------------------

    @property
    def coop_loop(self):
        """The ``Coop.Loop`` this event loop runs on."""
        return self._coop_loop

    @property
    def context(self):
        """The ``GLib.MainContext`` this event loop runs on."""
        return self._context

    def _make_socket_transport(self, sock, protocol, waiter=None, *,
                               extra=None, server=None):
        # asyncio's socket transport, with its per-request methods compiled
        # (coop/_transport.c); asyncio's own class in debug mode.
        cls = _SocketTransport
        if cls is None or self._debug:
            cls = selector_events._SelectorSocketTransport
        return cls(self, sock, protocol, waiter, extra, server)

    def create_coop_future(self):
        """Returns a new pending ``Coop.Future`` of this loop's Coop loop."""
        return Coop.Future.new(self._coop_loop)

    def stop(self):
        self._stopping = True
        if not self._dispatching:
            self._wake_at(0)

    def run_forever(self):
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        old_wakeup_fd = None
        old_sigint = None
        glib_loop = GLib.MainLoop.new(self._context, False)
        # While this frame runs, an exception raised by a signal handler
        # propagates out of run_forever() as it should (see _on_sigint).
        self._sig_safe = True
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
            events._set_running_loop(self)
            old_wakeup_fd = self._watch_signals()
            old_sigint = self._watch_sigint()
            self._forever = glib_loop
            self._wake_at(0)          # at least one iteration, as asyncio
            # The introspected run(), not PyGObject's override: that one
            # would take over signal.set_wakeup_fd(), which asyncio's signal
            # handlers need.  Signals wake us through the self-pipe instead.
            self._sig_safe = False
            super(GLib.MainLoop, glib_loop).run()
            self._sig_safe = True
            exc, self._pending_exc = self._pending_exc, None
            if exc is not None:
                raise exc
        finally:
            self._sig_safe = True
            self._forever = None
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)
            self._unwatch_signals(old_wakeup_fd)
            exc = None
            # Last: a deferred Ctrl-C may raise here, out of run_forever().
            self._unwatch_sigint(old_sigint)

    def _run_once(self):
        # Only for code that drives asyncio's loop by hand: one iteration of
        # the context, waiting for something to happen.
        self._context.iteration(True)

    def close(self):
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        if self._driver is not None:
            self._driver.destroy()
        _unregister(self)
        _gc.loop_closed()
        if _speedups is not None:
            self._track_queued()    # the queues are cleared: see _speedups.c
        super().close()
        self._release_context()

    def _release_context(self):
        # The context made for a worker thread's loop: nobody else can
        # reach it, so its Coop loop ends with this one.
        owned, self._owned_context = self._owned_context, None
        if owned is None:
            return
        context, thread_id = owned
        try:
            self._coop_loop.close()
        except (AttributeError, GLib.Error):
            pass
        if (thread_id == threading.get_ident() and
                GLib.MainContext.get_thread_default() == context):
            context.pop_thread_default()

    def __repr__(self):
        return (f"<{self.__class__.__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    # --- the driver ----------------------------------------------------------

    def _wake_at(self, usec):
        nxt = self._next_wake
        if nxt == -1 or usec < nxt:
            self._next_wake = usec
            driver = self._driver
            if driver is not None:
                driver.set_ready_time(usec)

    def _dispatch(self, fd_ready):
        # Called by Coop.Driver from the context: run asyncio iterations.
        # Nothing may escape: PyGObject would print it and return 0, which
        # would make the driver run again at once.
        if self._closed:
            return -1
        self._dispatching = True
        nested = self._forever is None
        try:
            self._sig_safe = True
            if self._sig_pending:
                self._run_deferred_sigint()
            if nested:
                self._enter()
            try:
                self._run_iterations(fd_ready)
            finally:
                if nested:
                    self._leave()
        except BaseException as exc:  # KeyboardInterrupt, SystemExit
            if self._forever is not None:
                self._pending_exc = exc
                self._forever.quit()
            else:
                self.call_exception_handler({
                    "message": "exception escaped a callback while the GLib "
                               "main loop (not run_forever) drove the loop",
                    "exception": exc,
                })
        finally:
            self._sig_safe = False   # first: no call before it (see _on_sigint)
            self._dispatching = False
            exc = None
        if self._ready:
            self._next_wake = 0
        elif self._scheduled:
            self._next_wake = _usec(self._scheduled[0]._when)
        else:
            self._next_wake = -1
        return self._next_wake

    def _enter(self):
        # The context was iterated by someone else (GTK, a GLib.MainLoop):
        # look like a running loop while callbacks run.
        self._saved_running = events._get_running_loop()
        self._saved_thread_id = self._thread_id
        self._thread_id = threading.get_ident()
        events._set_running_loop(self)

    def _leave(self):
        events._set_running_loop(self._saved_running)
        self._thread_id = self._saved_thread_id
        self._saved_running = None
        # stop() only means something to run_forever().
        self._stopping = False

    # --- run by someone else -------------------------------------------------

    def _enter_external(self):
        # GLib.MainLoop.run(), Gio.Application.run() or a context iteration
        # is about to iterate this loop's context while nothing runs the
        # loop: be the thread's running loop until it returns, as
        # run_forever() would be.  Not when the thread already has a running
        # loop (this one: a nested main loop; another: not ours to hide).
        if (self._closed or self._thread_id is not None or
                events._get_running_loop() is not None):
            return False
        self._thread_id = threading.get_ident()
        self._external = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        self._set_coroutine_origin_tracking(self._debug)
        events._set_running_loop(self)
        return True

    def _leave_external(self):
        events._set_running_loop(None)
        self._set_coroutine_origin_tracking(False)
        hooks, self._external = self._external, None
        sys.set_asyncgen_hooks(*hooks)
        self._thread_id = None
        self._stopping = False

    def _needs_poll(self):
        # Between back-to-back iterations the selector is polled only when
        # something besides the self-pipe is registered (or asyncio signal
        # handlers are, which read it): no fd, no epoll_wait.  A
        # call_soon_threadsafe() needs no poll: its handle is in the ready
        # queue already; the pipe's byte is read when GLib next polls.
        return len(self._fd_map) > 1 or bool(self._signal_handlers)

    def _purge_timers(self):
        kept = []
        for handle in self._scheduled:
            if handle._cancelled:
                handle._scheduled = False
            else:
                kept.append(handle)
        heapq.heapify(kept)
        self._scheduled = kept
        self._timer_cancelled_count = 0

    def _on_stop(self):
        if self._forever is not None:
            self._forever.quit()

    def _run_ready_debug(self, ntodo):
        ready = self._ready
        for _ in range(ntodo):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            try:
                self._current_handle = handle
                t0 = self.time()
                handle._run()
                dt = self.time() - t0
                if dt >= self.slow_callback_duration:
                    asyncio.log.logger.warning(
                        "Executing %s took %.3f seconds",
                        _format_handle(handle), dt)
            finally:
                self._current_handle = None

    # --- signals -------------------------------------------------------------

    def _watch_signals(self):
        # A signal must wake the context so that Python-level handlers (and
        # KeyboardInterrupt) run: point the wake-up fd at the self-pipe,
        # which the driver watches through the selector.
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            old = signal.set_wakeup_fd(self._csock.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            return None
        if old not in (-1, self._csock.fileno()):
            signal.set_wakeup_fd(old)     # somebody else's: leave it
            return None
        return old

    def _watch_sigint(self):
        # Python runs a signal handler at the next bytecode boundary, and
        # for a signal that woke the poll that is the first line of
        # _dispatch(), before its try: a KeyboardInterrupt raised there
        # goes to PyGObject, which prints and drops it, and the loop runs
        # on.  So while run_forever() runs, SIGINT's Python handler (the
        # default one, asyncio.Runner's, the program's) is called only where
        # what it raises propagates; elsewhere it is deferred to the
        # driver, which calls it inside its try.
        if (threading.current_thread() is not threading.main_thread() or
                signal.SIGINT in self._signal_handlers):
            return None
        try:
            handler = signal.getsignal(signal.SIGINT)
        except ValueError:
            return None
        if not callable(handler):
            return None
        self._sig_handler = handler
        wrapper = weakref.WeakMethod(self._on_sigint)

        def on_sigint(signum, frame):
            method = wrapper()
            if method is not None:
                method(signum, frame)
            else:
                handler(signum, frame)

        try:
            signal.signal(signal.SIGINT, on_sigint)
        except (ValueError, OSError):
            return None
        return on_sigint

    def _on_sigint(self, signum, frame):
        handler = self._sig_handler
        if handler is None:
            signal.default_int_handler(signum, frame)
        elif self._sig_safe:
            handler(signum, frame)
        else:
            # Through the self-pipe, not the ready time: a dispatch that is
            # ending (this may run in its last lines) would overwrite that,
            # and it may have read the byte the signal itself wrote.
            self._sig_pending = True
            self._write_to_self()

    def _run_deferred_sigint(self):
        self._sig_pending = False
        handler = self._sig_handler
        if handler is not None:
            handler(signal.SIGINT, None)

    def _unwatch_sigint(self, wrapper):
        if wrapper is None:
            return
        handler = self._sig_handler
        try:
            if signal.getsignal(signal.SIGINT) is wrapper:
                signal.signal(signal.SIGINT, handler)
        except (ValueError, OSError):
            pass
        self._sig_handler = None
        if self._sig_pending:
            self._sig_pending = False
            handler(signal.SIGINT, None)

    def _unwatch_signals(self, old):
        if old is None or self._signal_handlers:
            return
        try:
            signal.set_wakeup_fd(old)
        except (ValueError, OSError):
            pass


# --- loops run by whoever iterates their context ------------------------------

# The open loops, by context (GLib.MainContext wrappers hash and compare by
# the context they wrap).  The latest loop made for a context wins.
_loops_lock = threading.Lock()
_loops = {}


def _register(loop):
    with _loops_lock:
        _loops[loop._context] = weakref.ref(loop)


def _unregister(loop):
    with _loops_lock:
        ref = _loops.get(loop._context)
        if ref is not None and ref() in (loop, None):
            del _loops[loop._context]


def _enter_for(context):
    # The loop of ``context`` entered as running, or None.
    if not _loops:
        return None
    ref = _loops.get(context)
    loop = ref() if ref is not None else None
    if loop is None or not loop._enter_external():
        return None
    return loop


def _wrap_runner(cls, name, context_of):
    original = cls.__dict__.get(name) or getattr(cls, name)
    if getattr(original, "_coop_wrapped", False):
        return

    def run(self, *args, **kwargs):
        loop = _enter_for(context_of(self))
        if loop is None:
            return original(self, *args, **kwargs)
        try:
            return original(self, *args, **kwargs)
        finally:
            loop._leave_external()

    run.__name__ = original.__name__
    run.__qualname__ = getattr(original, "__qualname__", name)
    run.__doc__ = original.__doc__
    run._coop_wrapped = True
    setattr(cls, name, run)


# g_application_run() iterates the global default context.
_wrap_runner(Gio.Application, "run", lambda app: GLib.MainContext.default())
_wrap_runner(GLib.MainLoop, "run", lambda main_loop: main_loop.get_context())
_wrap_runner(GLib.MainContext, "iteration", lambda context: context)


def _usec(when):
    # asyncio time (seconds, CLOCK_MONOTONIC) to a GSource ready time.
    return max(0, math.ceil(when * 1e6))


def _format_handle(handle):
    cb = handle._callback
    if isinstance(getattr(cb, "__self__", None), asyncio.Task):
        return repr(cb.__self__)
    return str(handle)


def _glib_error(domain, code, message):
    return GLib.Error.new_literal(GLib.quark_from_string(domain), message, code)


def _report_callback_error(handle, exc):
    # What Handle._run() does with an exception from its callback (the
    # C runner calls this with the handle it ran).
    cb = format_helpers._format_callback_source(handle._callback, handle._args)
    context = {
        "message": f"Exception in callback {cb}",
        "exception": exc,
        "handle": handle,
    }
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    handle._loop.call_exception_handler(context)


class _SocketTransport(selector_events._SelectorSocketTransport):
    """asyncio's socket transport; _read_ready, _read_ready__data_received,
    write, is_closing and abort are compiled (coop/_transport.c)."""


# The compiled methods mirror CPython 3.11's (the Python on Debian 12):
# another Python gets asyncio's class as it is.
if _speedups is not None and sys.version_info[:2] == (3, 11):
    _speedups.compile_transport(_SocketTransport)
else:
    _SocketTransport = None

if _speedups is not None:
    _speedups.setup(events.Handle, events.TimerHandle, asyncio.Future, asyncio.Task,
                    heapq.heappush, heapq.heappop, _report_callback_error,
                    asyncio.BaseEventLoop.call_soon, _PyCore._call_soon,
                    asyncio.BaseEventLoop.call_soon_threadsafe, _PyCore.call_at,
                    asyncio.BaseEventLoop.call_later,
                    asyncio.BaseEventLoop.create_task, _PyCore._run_iterations)
