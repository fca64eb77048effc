#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""echo_server.py: an asyncio TCP echo server running on Coop.

Plain asyncio code (asyncio.start_server, one coroutine per connection,
back-pressure through ``await writer.drain()``) run by ``coop.run()``: the
event loop is a ``coop.EventLoop``, driven by the GLib main context.

    echo_server.py [--host HOST] [--port PORT]

serves until SIGINT or SIGTERM (``--port 0``, the default, lets the system
pick a port; the line "listening on HOST:PORT" says which), and

    echo_server.py --clients N [--messages M]

is a self-test: it also starts N asyncio clients against itself, each
sending M messages of random sizes (the last one 256 KiB, to exercise
back-pressure) and checking that every byte comes back, then stops the
server and exits 0 (1 if an echo was wrong).

Run from a build tree:

    PYTHONPATH=introspection/python GI_TYPELIB_PATH=_build/src \\
    LD_LIBRARY_PATH=_build/src /usr/bin/python3 examples/python/echo_server.py --clients 50
"""

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time

import coop

BIG_MESSAGE = 256 * 1024


class Stats:
    connections = 0
    open_connections = 0
    bytes_echoed = 0


async def handle(reader, writer, stats):
    """One connection: echo everything until the peer closes its side."""
    stats.connections += 1
    stats.open_connections += 1
    try:
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()          # back-pressure: wait for a slow reader
            stats.bytes_echoed += len(data)
    except ConnectionError:
        pass                              # the peer went away: nothing to echo to
    finally:
        stats.open_connections -= 1
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def client(host, port, index, n_messages):
    """Sends n_messages messages and checks each echo; returns bytes sent."""
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0
    try:
        for i in range(n_messages):
            size = BIG_MESSAGE if i == n_messages - 1 else 1 + (index * 7919 + i * 104729) % 4096
            message = os.urandom(size)
            writer.write(message)
            await writer.drain()
            echo = await reader.readexactly(size)
            if echo != message:
                raise AssertionError(f"client {index}: message {i} ({size} bytes) came back different")
            sent += size
        writer.write_eof()
        if await reader.read() != b"":
            raise AssertionError(f"client {index}: data after the last echo")
    finally:
        writer.close()
        await writer.wait_closed()
    return sent


async def main(args):
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await asyncio.start_server(lambda r, w: handle(r, w, stats), args.host, args.port)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port} (asyncio on {type(loop).__name__}: "
          f"Coop loop of the thread-default GLib main context)", flush=True)

    async with server:
        if args.clients:
            start = time.monotonic()
            # All clients at once; the first failure cancels the others.
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(client(host, port, i, args.messages))
                         for i in range(args.clients)]
            elapsed = time.monotonic() - start
            total = sum(task.result() for task in tasks)
            print(f"{args.clients} clients × {args.messages} messages: {total} bytes echoed "
                  f"and checked in {elapsed:.2f} s ({stats.connections} connections served)",
                  flush=True)
            if stats.connections != args.clients:
                raise AssertionError(f"{stats.connections} connections, {args.clients} clients")
        else:
            stop = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
            print(f"stopping: {stats.connections} connections served, "
                  f"{stats.bytes_echoed} bytes echoed", flush=True)
    # Leaving "async with server" closed the listening socket and waited for
    # the connections still being served.
    return 0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="port to listen on (default 0: let the system pick one and print it)")
    parser.add_argument("--clients", type=int, default=0, metavar="N",
                        help="self-test: start N clients against the server, check, exit")
    parser.add_argument("--messages", type=int, default=20, metavar="M",
                        help="messages per client in the self-test (default 20)")
    args = parser.parse_args()
    if args.clients < 0 or args.messages < 1:
        parser.error("--clients wants N >= 0 and --messages M >= 1")
    return args


if __name__ == "__main__":
    try:
        sys.exit(coop.run(main(parse_args())))
    except* AssertionError as group:
        for exc in group.exceptions:
            print(f"echo_server: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
