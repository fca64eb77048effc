# SPDX-License-Identifier: LGPL-2.1-or-later
"""Awaiting GIO's own asynchronous calls on coop.EventLoop (pytest).

Inside a running coop loop a GIO ``*_async`` call (or a constructor such as
``Gio.DBusConnection.new_for_address``, or ``Gio.bus_get``) made without
its callback returns a future whose result is the ``_finish`` value; its
errors are GLib.Error; cancelling the awaiting task cancels the GIO
operation.  Everywhere else the call is what PyGObject makes it.  Real
files, real sockets and a private dbus-daemon.
"""
import asyncio
import gc
import os
import shutil
import subprocess
import weakref

import pytest

import coop
from gi.repository import Gio, GLib

PRIORITY = GLib.PRIORITY_DEFAULT


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
        loop.close()


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello from a file\n")
    return Gio.File.new_for_path(str(path))


def _is_io_error(error, code):
    return isinstance(error, GLib.Error) and error.matches(Gio.io_error_quark(), code)


async def _connected_pair():
    # A listening socket and a client connected to it, both through awaited
    # GIO calls.
    listener = Gio.SocketListener()
    port = listener.add_any_inet_port(None)
    client = Gio.SocketClient()
    accepted = asyncio.ensure_future(listener.accept_async())
    connection = await client.connect_to_host_async("127.0.0.1", port)
    server, source = await accepted
    assert source is None
    return listener, connection, server


# --- the awaited form ----------------------------------------------------------

def test_load_contents(loop, text_file):
    async def main():
        future = text_file.load_contents_async()
        assert asyncio.isfuture(future) and not future.done()
        ok, contents, etag = await future
        assert ok and contents == b"hello from a file\n" and etag
        # The caller's cancellable is the one used.
        cancellable = Gio.Cancellable()
        future = text_file.load_contents_async(cancellable)
        assert future.cancellable is cancellable
        assert (await future)[1] == b"hello from a file\n"
        future = text_file.load_contents_async(cancellable=None)
        assert isinstance(future.cancellable, Gio.Cancellable)
        assert (await future)[1] == b"hello from a file\n"

    loop.run_until_complete(main())


def test_static_function_of_an_interface(loop):
    # Gio.File.new_tmp_async(): static, on an interface, its finish static.
    async def main():
        tmp, iostream = await Gio.File.new_tmp_async(None, PRIORITY)
        try:
            assert isinstance(tmp, Gio.File) and isinstance(iostream, Gio.FileIOStream)
            assert await iostream.close_async(PRIORITY) is True
        finally:
            os.unlink(tmp.get_path())

    loop.run_until_complete(main())


def test_error_is_glib_error(loop, tmp_path):
    missing = Gio.File.new_for_path(str(tmp_path / "missing"))

    async def main():
        with pytest.raises(GLib.Error) as info:
            await missing.load_contents_async()
        assert _is_io_error(info.value, Gio.IOErrorEnum.NOT_FOUND)

    loop.run_until_complete(main())


def test_socket_connect_write_read(loop):
    async def main():
        listener, connection, server = await _connected_pair()
        assert isinstance(connection, Gio.SocketConnection)
        written = await connection.get_output_stream().write_bytes_async(
            GLib.Bytes.new(b"ping"), PRIORITY)
        assert written == 4
        data = await server.get_input_stream().read_bytes_async(4, PRIORITY)
        assert data.get_data() == b"ping"
        assert await connection.close_async(PRIORITY) is True
        assert await server.close_async(PRIORITY) is True
        listener.close()

    loop.run_until_complete(main())


def test_connect_refused_is_glib_error(loop):
    async def main():
        listener = Gio.SocketListener()
        port = listener.add_any_inet_port(None)
        listener.close()              # nobody listens on the port now
        with pytest.raises(GLib.Error) as info:
            await Gio.SocketClient().connect_to_host_async("127.0.0.1", port)
        assert _is_io_error(info.value, Gio.IOErrorEnum.CONNECTION_REFUSED)

    loop.run_until_complete(main())


@pytest.fixture
def dbus_address():
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("no dbus-daemon")
    proc = subprocess.Popen([daemon, "--session", "--print-address", "--nofork"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        address = proc.stdout.readline().decode().strip()
        assert address, "dbus-daemon printed no address"
        yield address
    finally:
        proc.terminate()
        proc.wait()
        proc.stdout.close()


def test_dbus_calls(loop, dbus_address, monkeypatch):
    # Methods (call), constructors (new_for_address, DBusProxy.new and
    # new_for_bus) and a namespace function (bus_get) through a private bus.
    flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
             Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", dbus_address)

    async def main():
        connection = await Gio.DBusConnection.new_for_address(dbus_address, flags, None)
        assert isinstance(connection, Gio.DBusConnection)
        reply = await connection.call(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "ListNames", None, GLib.VariantType.new("(as)"), Gio.DBusCallFlags.NONE, -1)
        names = reply.unpack()[0]
        assert "org.freedesktop.DBus" in names
        assert connection.get_unique_name() in names
        bus_id = (await connection.call(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetId", None, GLib.VariantType.new("(s)"), Gio.DBusCallFlags.NONE, -1)).unpack()[0]
        assert len(bus_id) == 32

        proxy = await Gio.DBusProxy.new(
            connection, Gio.DBusProxyFlags.DO_NOT_LOAD_PROPERTIES, None,
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
        assert (await proxy.call("GetId", None, Gio.DBusCallFlags.NONE, -1)).unpack()[0] == bus_id

        bus = await Gio.bus_get(Gio.BusType.SESSION)
        assert isinstance(bus, Gio.DBusConnection)
        proxy = await Gio.DBusProxy.new_for_bus(
            Gio.BusType.SESSION, Gio.DBusProxyFlags.DO_NOT_LOAD_PROPERTIES, None,
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
        assert (await proxy.call("GetId", None, Gio.DBusCallFlags.NONE, -1)).unpack()[0] == bus_id

        # A D-Bus error is a GLib.Error.
        with pytest.raises(GLib.Error) as info:
            await connection.call(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "NoSuchMethod", None, None, Gio.DBusCallFlags.NONE, -1)
        assert info.value.domain == GLib.quark_to_string(Gio.dbus_error_quark())
        await connection.close()
        await bus.close()

    loop.run_until_complete(main())


# --- cancellation -----------------------------------------------------------------

def test_cancel_task_cancels_gio_operation(loop):
    # A read from a socket that never sends: cancelling the awaiting task
    # cancels the GIO read; the task ends with CancelledError once GIO is
    # done with the stream, and nothing is kept.
    async def main():
        listener, connection, server = await _connected_pair()
        stream = connection.get_input_stream()
        started = []

        def start():
            future = stream.read_bytes_async(16, PRIORITY)
            started.append((weakref.ref(future), future.cancellable))
            return future

        async def reader():
            return await start()

        task = asyncio.ensure_future(reader())
        await asyncio.sleep(0)
        assert stream.has_pending()
        task.cancel("stop reading")
        with pytest.raises(asyncio.CancelledError):
            await task
        ref, cancellable = started[0]
        assert cancellable.is_cancelled()
        assert not stream.has_pending()     # the GIO operation is over
        del task
        gc.collect()
        assert ref() is None                # and GIO holds nothing of it
        # The stream works on.
        await server.get_output_stream().write_bytes_async(GLib.Bytes.new(b"late"), PRIORITY)
        assert (await stream.read_bytes_async(16, PRIORITY)).get_data() == b"late"
        listener.close()

    loop.run_until_complete(main())


def test_cancel_with_callers_cancellable(loop):
    async def main():
        listener, connection, server = await _connected_pair()
        stream = connection.get_input_stream()
        cancellable = Gio.Cancellable()

        async def reader():
            return await stream.read_bytes_async(16, PRIORITY, cancellable)

        task = asyncio.ensure_future(reader())
        await asyncio.sleep(0)
        assert stream.has_pending()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancellable.is_cancelled()
        assert not stream.has_pending()
        listener.close()

    loop.run_until_complete(main())


def test_future_cancel_and_timeouts(loop):
    async def main():
        listener, connection, server = await _connected_pair()
        stream = connection.get_input_stream()
        # cancel() asks GIO and returns False: the future ends cancelled
        # when GIO has reported the end.
        future = stream.read_bytes_async(16, PRIORITY)
        assert future.cancel() is False
        assert not future.done()
        with pytest.raises(asyncio.CancelledError):
            await future
        assert future.cancelled() and not stream.has_pending()
        # asyncio.wait_for() and asyncio.timeout() give TimeoutError.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(stream.read_bytes_async(16, PRIORITY), 0)
        assert not stream.has_pending()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await stream.read_bytes_async(16, PRIORITY)
        assert not stream.has_pending()
        # Cancelling the cancellable itself is a GIO error, not an asyncio
        # cancellation.
        cancellable = Gio.Cancellable()
        future = stream.read_bytes_async(16, PRIORITY, cancellable)
        cancellable.cancel()
        with pytest.raises(GLib.Error) as info:
            await future
        assert _is_io_error(info.value, Gio.IOErrorEnum.CANCELLED)
        listener.close()

    loop.run_until_complete(main())


def test_task_group_cancels_pending_gio_calls(loop, tmp_path):
    # A TaskGroup whose one GIO call fails cancels the sibling's pending GIO
    # read; the group ends after both operations are over.
    missing = Gio.File.new_for_path(str(tmp_path / "missing"))

    async def main():
        listener, connection, server = await _connected_pair()
        stream = connection.get_input_stream()

        async def read():
            return await stream.read_bytes_async(16, PRIORITY)

        async def load():
            return await missing.load_contents_async()

        with pytest.raises(ExceptionGroup) as info:
            async with asyncio.TaskGroup() as group:
                reader = group.create_task(read())
                group.create_task(load())
        assert len(info.value.exceptions) == 1
        assert _is_io_error(info.value.exceptions[0], Gio.IOErrorEnum.NOT_FOUND)
        assert reader.cancelled()
        assert not stream.has_pending()
        listener.close()

    loop.run_until_complete(main())


# --- everything else is unchanged -------------------------------------------------

def test_outside_a_loop_unchanged(context, text_file):
    # No running loop: no callback means GIO's fire-and-forget, as always;
    # a callback is called with (source, result).
    assert text_file.load_contents_async(None) is None
    main_loop = GLib.MainLoop.new(context, False)
    got = []

    def callback(source, result, *user_data):
        got.append((source, source.load_contents_finish(result)[1], user_data))
        main_loop.quit()

    assert text_file.load_contents_async(None, callback) is None
    main_loop.run()
    assert got == [(text_file, b"hello from a file\n", ())]
    got.clear()
    assert text_file.load_contents_async(None, callback, "data") is None
    main_loop.run()
    assert got == [(text_file, b"hello from a file\n", ("data",))]


def test_with_a_callback_unchanged(loop, text_file):
    async def main():
        done = loop.create_future()

        def callback(source, result):
            done.set_result(source.load_contents_finish(result)[1])

        assert text_file.load_contents_async(None, callback) is None
        assert await done == b"hello from a file\n"
        done = loop.create_future()
        assert text_file.load_contents_async(cancellable=None, callback=callback) is None
        assert await done == b"hello from a file\n"
        # An explicit None callback is GIO's fire-and-forget, as always.
        assert text_file.load_contents_async(None, None) is None

    loop.run_until_complete(main())


def test_stock_asyncio_loop_unchanged(text_file):
    async def main():
        assert text_file.load_contents_async(None) is None

    stock = asyncio.new_event_loop()
    try:
        stock.run_until_complete(main())
    finally:
        stock.close()


def test_what_is_wrapped():
    # Only calls with a callback, a cancellable and a finish function; the
    # rest stays PyGObject's own FunctionInfo.
    from gi._gi import FunctionInfo
    assert isinstance(Gio.File.load_contents, FunctionInfo)
    assert isinstance(Gio.File.load_contents_finish, FunctionInfo)
    assert isinstance(Gio.File.load_contents_async.__wrapped__, FunctionInfo)
    assert isinstance(Gio.bus_get_sync, FunctionInfo)
    assert isinstance(Gio.bus_get.__wrapped__, FunctionInfo)
    assert Gio.bus_get.__name__ == "bus_get"
    # A function with a callback but no finish function: untouched.
    assert isinstance(Gio.bus_watch_name, FunctionInfo)


# --- loops run by GLib ------------------------------------------------------------

def test_in_glib_main_loop_driven_loop(context, loop, text_file):
    # A GLib.MainLoop runs the coop loop (as Gtk.Application.run() does): a
    # GLib callback starts a task that awaits GIO calls.
    main_loop = GLib.MainLoop.new(context, False)
    got = []

    async def work():
        got.append((await text_file.load_contents_async())[1])
        main_loop.quit()

    def on_idle(*_):
        asyncio.get_running_loop().create_task(work())
        return GLib.SOURCE_REMOVE

    idle = GLib.idle_source_new()
    idle.set_callback(on_idle)
    idle.attach(context)
    main_loop.run()
    assert got == [b"hello from a file\n"]


def test_loop_on_a_context_that_is_not_thread_default(text_file):
    # GIO calls back on the thread-default context of the call: the call is
    # made with the loop's context pushed, so a loop on any context works.
    context = GLib.MainContext.new()
    loop = coop.EventLoop(context)
    try:
        async def main():
            assert GLib.MainContext.get_thread_default() is None
            return (await text_file.load_contents_async())[1]

        assert loop.run_until_complete(main()) == b"hello from a file\n"
    finally:
        loop.close()
