# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyGObject override for the Coop namespace.

Adds Python-shaped results to Coop.Future (set_result(), result(),
set_exception(), exception(), done(), cancelled()) that keep Python values
intact, and makes any Coop.Future awaitable from asyncio code.
"""

import asyncio
import threading

from gi.repository import GLib, GObject

from ..module import get_introspection_module
from ..overrides import override

Coop = get_introspection_module("Coop")

__all__ = []

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

# Python exceptions given to set_exception(), kept with the wrapper: C sees
# a GError carrying the exception's text, Python gets the object back.
_PY_EXC = "_coop_py_exception"
# Set by coop.wrap_future(): cancels the asyncio side when Python cancels
# the Coop future.
_ON_CANCEL = "_coop_on_cancel"
# Set on futures made by Coop.gather() from Python: (the futures, wait_all),
# so that their result is the values, as asyncio.gather()'s.
_GATHER = "_coop_gather"


def _python_value(value):
    # A GValue's Python form after PyGObject's own conversion.
    if isinstance(value, GLib.Bytes):
        data = value.get_data()
        return bytes(data) if data is not None else b""
    return value


class Future(Coop.Future):
    """A Coop future, with asyncio-style helpers for Python.

    ``await future`` works in any coroutine running on :class:`coop.EventLoop`
    (and on other asyncio loops when the future's own loop runs in another
    thread).  Results keep their Python value: ints of any size, bytes,
    floats, strings, GObjects and any other Python object round-trip through
    :meth:`set_result` and :meth:`result`.
    """

    def set_result(self, value):
        """Finishes the future with ``value``.

        ``None``, ``bool``, ``int`` in 64 bits, ``float``, ``str``, ``bytes``
        and GObjects are stored as the matching GValue, so C code reads them
        with coop_future_get_int64() and friends; anything else (including
        wider ints) is stored as the Python object itself.
        """
        if value is None:
            self.set_none()
        elif value is True or value is False:
            self.set_boolean(value)
        elif type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            self.set_int64(value)
        elif type(value) is float:
            self.set_double(value)
        elif type(value) is str:
            self.set_string(value)
        elif type(value) is bytes:
            gvalue = GObject.Value(GLib.Bytes)
            gvalue.set_boxed(GLib.Bytes.new(value))
            self.set_value(gvalue)
        elif isinstance(value, GObject.Object):
            self.set_object(value)
        else:
            self.set_value(GObject.Value(GObject.TYPE_PYOBJECT, value))

    def set_exception(self, exception):
        """Fails the future with ``exception``.

        A ``GLib.Error`` is stored as it is.  Any other exception reaches C
        code as a ``COOP_ERROR_FAILED`` error with the exception's text, and
        Python code (``result()``, ``await``) gets the exception object back.
        """
        if isinstance(exception, type) and issubclass(exception, BaseException):
            exception = exception()
        if not isinstance(exception, BaseException):
            raise TypeError("set_exception() needs an exception, not %r" % (exception,))
        if isinstance(exception, asyncio.CancelledError):
            raise TypeError("use cancel() to cancel a future")
        if isinstance(exception, GLib.Error):
            error = exception
        else:
            text = "%s: %s" % (type(exception).__name__, exception)
            error = GLib.Error.new_literal(Coop.error_quark(), text, Coop.Error.FAILED)
            setattr(self, _PY_EXC, exception)
        self.set_error(error)

    def cancel(self, message=None):
        """Cancels the future (see ``coop_future_cancel()``); returns whether
        it was pending.

        A future made by ``coop.wrap_future()`` cancels what it follows
        here, at once, rather than from the loop's ready queue: the asyncio
        task sees the cancellation on its next step.
        """
        cancelled = super().cancel(message)
        if cancelled:
            follower = getattr(self, _ON_CANCEL, None)
            if follower is not None:
                follower()
        return cancelled

    def done(self):
        """Whether the future finished, failed or was cancelled."""
        return self.is_done()

    def cancelled(self):
        """Whether the future was cancelled."""
        return self.is_cancelled()

    def exception(self):
        """The exception of a failed future, or ``None`` if it finished.

        Raises ``asyncio.CancelledError`` if it was cancelled and
        ``asyncio.InvalidStateError`` if it is still pending.
        """
        state = self.get_state()
        if state == Coop.FutureState.PENDING:
            raise asyncio.InvalidStateError("Result is not set.")
        if state == Coop.FutureState.CANCELLED:
            raise asyncio.CancelledError(_cancel_message(self))
        if state == Coop.FutureState.FAILED:
            gather = getattr(self, _GATHER, None)
            if gather is not None:
                exc = _gather_error(self, gather[0])
                if exc is not None:
                    return exc
            exc = getattr(self, _PY_EXC, None)
            if exc is not None:
                self.get_error()          # marks it retrieved for C
                return exc
            try:
                self.propagate()
            except GLib.Error as error:
                return error
        return None

    def result(self):
        """The result of a finished future, converted back to Python.

        A future made by ``Coop.gather()`` gives the list of its futures'
        values, as ``asyncio.gather()`` does (with ``wait_all``, errors and
        cancellations are values, as with ``return_exceptions=True``), and
        fails with the error of the future that failed;
        ``get_futures()`` still gives the futures.  ``Coop.wait()`` gives
        the list of the futures that are done, as in C.

        Raises the future's exception if it failed, ``CancelledError`` if it
        was cancelled, and ``asyncio.InvalidStateError`` if it is pending.
        """
        state = self.get_state()
        if state == Coop.FutureState.FINISHED:
            gather = getattr(self, _GATHER, None)
            if gather is not None:
                return [_outcome(f) if gather[1] else f.result() for f in gather[0]]
            value = self.get_value()
            if isinstance(value, GLib.PtrArray):
                # Coop.gather() and Coop.wait(): the futures, as a list.
                return list(self.get_futures())
            return _python_value(value)
        exc = self.exception()
        raise exc

    def __await__(self):
        if not self.is_done():
            # The bridge's result: for a future of another thread's loop it
            # was read on that thread.
            return (yield from _bridge(self).__await__())
        return self.result()

    __iter__ = __await__


Future = override(Future)
__all__.append("Future")


@override(Coop.gather)
def gather(loop, futures, wait_all=False):
    """Waits for ``futures`` (see ``coop_gather()``); awaiting the returned
    future gives their values, as ``asyncio.gather()`` does."""
    futures = list(futures)
    future = Coop.gather(loop, futures, wait_all)
    setattr(future, _GATHER, (futures, bool(wait_all)))
    return future


__all__.append("gather")


def _outcome(future):
    # A gathered future's value, error or cancellation, as asyncio's
    # return_exceptions=True gives it.
    try:
        exc = future.exception()
    except asyncio.CancelledError as cancelled:
        return cancelled
    return exc if exc is not None else future.result()


def _gather_error(gather, futures):
    # The Python form of the error a failed gather copied from one of its
    # futures: that future's own exception (a Python exception given to
    # set_exception() comes back as itself).
    error = gather.get_error()
    for future in futures:
        if future.get_state() != Coop.FutureState.FAILED:
            continue
        mine = future.get_error()
        if (error is not None and mine is not None and mine.domain == error.domain and
                mine.code == error.code and mine.message == error.message):
            gather.get_error()
            return future.exception()
    return None


def _cancel_message(future):
    error = future.get_error()
    return error.message if error is not None else None


def _context_of(loop):
    context = getattr(loop, "context", None)
    return context if isinstance(context, GLib.MainContext) else None


def _copy_state(cfuture, afuture):
    if afuture.done():
        return
    state = cfuture.get_state()
    if state == Coop.FutureState.CANCELLED:
        afuture.cancel(_cancel_message(cfuture))
    elif state == Coop.FutureState.FAILED:
        afuture.set_exception(cfuture.exception())
    else:
        afuture.set_result(cfuture.result())


def _outcome_of(cfuture):
    # A done future's outcome as plain Python, read on its loop's thread.
    state = cfuture.get_state()
    if state == Coop.FutureState.CANCELLED:
        return state, _cancel_message(cfuture)
    if state == Coop.FutureState.FAILED:
        return state, cfuture.exception()
    return state, cfuture.result()


def _apply_outcome(afuture, outcome):
    if afuture.done():
        return
    state, payload = outcome
    if state == Coop.FutureState.CANCELLED:
        afuture.cancel(payload)
    elif state == Coop.FutureState.FAILED:
        afuture.set_exception(payload)
    else:
        afuture.set_result(payload)


def _bridge(cfuture):
    # An asyncio future on the running loop that follows ``cfuture``;
    # cancelling it cancels ``cfuture``.
    loop = asyncio.get_running_loop()
    coop_loop = cfuture.get_loop()
    coop_context = coop_loop.get_context()
    if _context_of(loop) == coop_context:
        afuture = loop.create_future()

        def on_coop_done(cf, *_):
            _copy_state(cf, afuture)

        cfuture.add_done_callback(on_coop_done)

        def on_asyncio_done(af):
            if af.cancelled() and not cfuture.is_done():
                cfuture.cancel(None)

        afuture.add_done_callback(on_asyncio_done)
        return afuture

    if coop_context.acquire():
        # Nobody iterates the future's context: it could never complete.
        coop_context.release()
        raise RuntimeError(
            "awaiting a Coop.Future needs its main context to run: use "
            "coop.run() or coop.EventLoop, or run the future's Coop.Loop in "
            "another thread")
    # The future's loop runs on another thread, and a future belongs to its
    # loop's thread: the done callback is added there and reads the outcome
    # there, which then crosses to this loop; a cancellation goes back
    # through the future's loop.
    afuture = loop.create_future()

    def on_coop_done(cf, *_):
        outcome = _outcome_of(cf)
        try:
            loop.call_soon_threadsafe(_apply_outcome, afuture, outcome)
        except RuntimeError:
            pass  # the awaiting loop is closed: nobody waits any more

    def watch(_data=None):
        cfuture.add_done_callback(on_coop_done)

    coop_loop.call_soon_threadsafe(watch, None)

    def on_asyncio_done(af):
        if af.cancelled():
            cfuture.cancel_threadsafe(None)

    afuture.add_done_callback(on_asyncio_done)
    return afuture
