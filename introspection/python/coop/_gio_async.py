# SPDX-License-Identifier: LGPL-2.1-or-later
"""Awaiting GIO-style asynchronous calls, as PyGObject 3.50 allows.

Inside a coroutine (or any callback) running on a :class:`coop.EventLoop`,
a call such as ``file.load_contents_async()`` or ``Gio.bus_get(...)`` whose
callback is left out returns an asyncio future; awaiting it gives what the
matching ``_finish`` function returns, or raises its ``GLib.Error``.
Cancelling the future (so cancelling the task that awaits it) cancels the
operation through its ``Gio.Cancellable`` (the caller's, or one made for the
call) and the future ends once GIO has reported the operation's end.

Everywhere else the call is untouched: with a callback (even ``None``),
outside a running loop, on another asyncio loop, or on PyGObject 3.50 and
later, which do this themselves.

PyGObject 3.42 binds every method as a ``gi.FunctionInfo`` when it makes a
class (``_setup_methods()``) and every namespace function on its first
lookup (``IntrospectionModule.__getattr__``).  Those two places are where
a function that has the shape of a GIO asynchronous call gets a small
Python wrapper instead; everything else is left as PyGObject made it.  The
wrapper's only cost when the feature is not used is one Python call and a
look at the running loop.
"""

import asyncio
from asyncio import events

import gi
from gi import module as _gi_module
from gi import types as _gi_types
from gi._gi import (CallbackInfo, Direction, FunctionInfo, ObjectInfo,
                    TypeTag)
from gi.repository import Gio, GLib

from ._loop import EventLoop

__all__ = ["GioFuture"]

_get_running_loop = events._get_running_loop
_CANCELLED = Gio.IOErrorEnum.CANCELLED
_IO_ERROR = Gio.io_error_quark()


class GioFuture(asyncio.Future):
    """The future a GIO asynchronous call made without a callback returns.

    ``cancel()`` asks GIO to stop (it cancels :attr:`cancellable`) and
    returns ``False``: the future stays pending until GIO calls back, then
    it is cancelled if the operation ended with ``G_IO_ERROR_CANCELLED``,
    or holds whatever else the operation ended with.  A task awaiting it
    ends with ``CancelledError`` either way, after the operation is over
    (a stream is free for the next call then).
    """

    def __init__(self, loop, cancellable, finish, source):
        super().__init__(loop=loop)
        self.cancellable = cancellable
        self._finish = finish
        self._source = source
        self._stop_requested = False
        self._stop_message = None

    def cancel(self, msg=None):
        if self.done():
            return False
        if not self._stop_requested:
            self._stop_requested = True
            self._stop_message = msg
            self.cancellable.cancel()
        return False

    def _gio_done(self, source, result, *_):
        # The GAsyncReadyCallback, on the loop's thread and context.
        finish, self._finish = self._finish, None
        owner, self._source = self._source, None
        try:
            if owner is not None:
                value = finish(owner, result)
            else:
                value = finish(result)
        except GLib.Error as error:
            if self.done() or self._loop.is_closed():
                return
            if self._stop_requested and error.matches(_IO_ERROR, _CANCELLED):
                super().cancel(self._stop_message)
            else:
                self.set_exception(error)
            return
        except BaseException as exc:  # a binding failure in the finish call
            if not (self.done() or self._loop.is_closed()):
                self.set_exception(exc)
            return
        if not (self.done() or self._loop.is_closed()):
            self.set_result(value)


class _AsyncShape:
    # Where the callback and the cancellable are among a function's Python
    # arguments, and its finish function.
    __slots__ = ("callback_pos", "callback_name", "user_data_name",
                 "cancellable_pos", "cancellable_name", "finish", "is_method")

    def __init__(self, callback_pos, callback_name, user_data_name,
                 cancellable_pos, cancellable_name, finish, is_method):
        self.callback_pos = callback_pos
        self.callback_name = callback_name
        self.user_data_name = user_data_name
        self.cancellable_pos = cancellable_pos
        self.cancellable_name = cancellable_name
        self.finish = finish
        self.is_method = is_method


def _interface_of(arg):
    # The (name, namespace) of an argument's callback or object type, or None.
    type_info = arg.get_type()
    if type_info.get_tag() != TypeTag.INTERFACE:
        return None
    iface = type_info.get_interface()
    if not isinstance(iface, (CallbackInfo, ObjectInfo)):
        return None
    return iface.get_name(), iface.get_namespace()


def _async_shape(info, finish):
    # The shape of a GIO asynchronous call: exactly one GAsyncReadyCallback
    # and one GCancellable among the arguments (as PyGObject 3.50 asks), a
    # finish function.  Python positions follow PyGObject's rules: output
    # arguments, array lengths and destroy notifiers are not Python
    # arguments (gi/docstring.py lists them the same way).
    if not isinstance(finish, FunctionInfo):
        return None
    args = info.get_arguments()
    hidden = set()
    for arg in args:
        hidden.add(arg.get_destroy())
        hidden.add(arg.get_type().get_array_length())
    is_method = info.is_method()
    pos = 1 if is_method else 0
    callback = cancellable = None
    for i, arg in enumerate(args):
        if arg.get_direction() == Direction.OUT or i in hidden:
            continue
        iface = _interface_of(arg)
        if iface == ("AsyncReadyCallback", "Gio"):
            if callback is not None:
                return None
            callback = (pos, arg)
        elif iface == ("Cancellable", "Gio"):
            if cancellable is not None:
                return None
            cancellable = (pos, arg)
        pos += 1
    if callback is None or cancellable is None:
        return None
    closure = callback[1].get_closure()
    user_data_name = args[closure].get_name() if 0 <= closure < len(args) else None
    return _AsyncShape(callback[0], callback[1].get_name(), user_data_name,
                       cancellable[0], cancellable[1].get_name(), finish,
                       finish.is_method())


def _finish_name(name):
    if name.endswith("_async"):
        name = name[:-6]
    return name + "_finish"


def _start(loop, original, shape, args, kwargs):
    # The awaited form: the call made with our callback and a cancellable,
    # while the loop's context is the thread-default one (where GIO will
    # call back).
    pos = shape.cancellable_pos
    name = shape.cancellable_name
    if len(args) > pos:
        cancellable = args[pos]
        if cancellable is None:
            cancellable = Gio.Cancellable()
            args = args[:pos] + (cancellable,) + args[pos + 1:]
    else:
        cancellable = kwargs.get(name)
        if cancellable is None:
            cancellable = kwargs[name] = Gio.Cancellable()
    owner = args[0] if shape.is_method else None
    future = GioFuture(loop, cancellable, shape.finish, owner)
    kwargs[shape.callback_name] = future._gio_done
    context = loop._context
    context.push_thread_default()
    try:
        original(*args, **kwargs)
    finally:
        context.pop_thread_default()
    return future


_NOT_ASYNC = object()

_DOC = """A GIO asynchronous call, as PyGObject makes it (its signature:
``help(f.__wrapped__)``).  Made without its callback inside a running
coop.EventLoop, it returns an asyncio future of what the matching
``_finish`` returns; cancelling the future cancels the call."""


def _awaitable(original, finish_of):
    # A wrapper for a function that may be a GIO asynchronous call.  Its
    # shape is worked out at the first call made inside a coop loop (so a
    # program that never does that never pays for it).  ``finish_of()``
    # gives the finish function.
    shape = None

    def call(*args, **kwargs):
        nonlocal shape
        loop = _get_running_loop()
        if loop is None or not isinstance(loop, EventLoop):
            return original(*args, **kwargs)
        if shape is None:
            shape = _async_shape(original, finish_of()) or _NOT_ASYNC
        if (shape is _NOT_ASYNC or len(args) > shape.callback_pos or
                (kwargs and (shape.callback_name in kwargs or
                             shape.user_data_name in kwargs))):
            return original(*args, **kwargs)
        return _start(loop, original, shape, args, kwargs)

    call.__name__ = original.__name__
    call.__qualname__ = original.__name__
    # Not PyGObject's docstring: it is built on request (about 0.1 ms), which
    # would slow the making of every class.  ``__wrapped__.__doc__`` has it.
    call.__doc__ = _DOC
    call.__wrapped__ = original
    return call


def _wrap_methods(cls, names):
    # After PyGObject set a class's methods: wrap those that may be
    # asynchronous calls, ``x_async`` (or ``x`` when there is no
    # ``x_async``) beside an ``x_finish``: one string test per method.
    attrs = cls.__dict__
    for finish_name in names:
        if not finish_name.endswith("_finish"):
            continue
        base = finish_name[:-7]
        name = base + "_async"
        original = attrs.get(name)
        if original is None:
            name = base
            original = attrs.get(name)
        finish = attrs.get(finish_name)
        if not (isinstance(original, FunctionInfo) and isinstance(finish, FunctionInfo)):
            continue
        if finish.is_constructor():
            # PyGObject calls a constructor bound to its class.
            def finish_of(cls=cls, finish_name=finish_name):
                return getattr(cls, finish_name)
        else:
            def finish_of(finish=finish):
                return finish
        call = _awaitable(original, finish_of)
        setattr(cls, name, call if original.is_method() else staticmethod(call))


def _setup_methods(cls):
    # MetaClassHelper._setup_methods(), plus the wrapping, in one pass over
    # the class's methods.
    names = []
    for info in cls.__info__.get_methods():
        name = info.__name__
        setattr(cls, name, info)
        names.append(name)
    _wrap_methods(cls, names)


def _wrap_function(namespace, value):
    finish = _gi_module.repository.find_by_name(namespace, _finish_name(value.get_name()))
    if not isinstance(finish, FunctionInfo):
        return None
    return _awaitable(value, lambda: finish)


def _install():
    if gi.version_info >= (3, 50, 0) or getattr(_gi_types.MetaClassHelper, "_coop_async", False):
        return
    original_getattr = _gi_module.IntrospectionModule.__getattr__

    def __getattr__(self, name):
        value = original_getattr(self, name)
        if type(value) is FunctionInfo:
            wrapper = _wrap_function(self._namespace, value)
            if wrapper is not None:
                self.__dict__[name] = value = wrapper
        return value

    _gi_types.MetaClassHelper._setup_methods = _setup_methods
    _gi_types.MetaClassHelper._coop_async = True
    _gi_module.IntrospectionModule.__getattr__ = __getattr__

    # What PyGObject made before coop was imported.
    for namespace, module in list(_gi_module._introspection_modules.items()):
        for name, value in list(module.__dict__.items()):
            if type(value) is FunctionInfo:
                wrapper = _wrap_function(namespace, value)
                if wrapper is not None:
                    module.__dict__[name] = wrapper
            elif (isinstance(value, type) and "__info__" in value.__dict__ and
                    value.__module__ == "gi.repository." + namespace and
                    hasattr(value.__info__, "get_methods")):
                _wrap_methods(value, [info.__name__ for info in value.__info__.get_methods()])


_install()
