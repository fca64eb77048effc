# SPDX-License-Identifier: LGPL-2.1-or-later
"""A Coop.Server served from Python: new_tcp_with_callback with a callback
that returns coop.wrap_future(coroutine), Coop stream reads awaited in
asyncio code, and asyncio's own streams as the TCP client."""
import asyncio

import gi
gi.require_version("Coop", "1")
from gi.repository import Coop, Gio, GLib  # noqa: E402

import coop  # noqa: E402


def as_bytes(value):
    return bytes(value.get_data()) if isinstance(value, GLib.Bytes) else bytes(value)


async def echo(stream):
    while True:
        line = as_bytes(await stream.read_line())
        if not line:
            return "eof"
        stream.write(GLib.Bytes.new(b"echo: " + line))
        await stream.drain()


def test_echo_server():
    served = []

    async def main():
        loop = asyncio.get_running_loop()

        def on_connection(server, stream):
            served.append(stream)
            return coop.wrap_future(echo(stream), loop=loop)

        server = Coop.Server.new_tcp_with_callback(loop.coop_loop, "127.0.0.1", 0, 0, on_connection)
        port = server.get_port()
        assert port > 0

        async def client(name):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            replies = []
            for word in (b"one", b"two"):
                writer.write(name + b" " + word + b"\n")
                replies.append(await reader.readline())
            writer.write_eof()
            assert await reader.read() == b""   # the server closed its side
            writer.close()
            await writer.wait_closed()
            return replies

        a, b = await asyncio.gather(client(b"a"), client(b"b"))
        assert a == [b"echo: a one\n", b"echo: a two\n"]
        assert b == [b"echo: b one\n", b"echo: b two\n"]

        # abort_clients() cancels a connection still being served.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while server.get_n_connections() == 0:
            await asyncio.sleep(0.001)
        server.close()
        server.abort_clients()
        await server.wait_closed()
        assert server.get_n_connections() == 0
        assert await reader.read() == b""
        writer.close()
        return len(served)

    assert coop.run(main()) == 3


def test_listen_error():
    async def main():
        loop = asyncio.get_running_loop()
        server = Coop.Server.new_tcp_with_callback(loop.coop_loop, "127.0.0.1", 0, 0,
                                                   lambda server, stream: None)
        try:
            Coop.Server.new_tcp_with_callback(loop.coop_loop, "127.0.0.1", server.get_port(), 0,
                                              lambda server, stream: None)
        except GLib.Error as error:
            assert error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.ADDRESS_IN_USE)
        else:
            raise AssertionError("a second server on the same port must fail")
        finally:
            server.close()

    coop.run(main())
