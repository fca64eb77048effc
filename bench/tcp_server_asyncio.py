#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python peers of the TCP echo benchmark (bench/README.md): stock
asyncio, uvloop, gbulb and asyncio on Coop (--loop), one server program.

asyncio.start_server with a coroutine per connection that echoes with
reader.read / writer.write / writer.drain -- the same shape as the Coop
server.  If the loop's module cannot be imported, prints "n/a" instead of a
port and exits with status 3.
Prints the port on stdout once listening; runs until killed.
"""
import argparse
import asyncio
import os
import resource
import sys


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(echo, '127.0.0.1', port, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--uvloop', action='store_true')
    ap.add_argument('--loop', choices=['asyncio', 'uvloop', 'gbulb', 'coop', 'coop-py'], default='asyncio',
                    help='event loop: stock asyncio, uvloop, gbulb or asyncio on Coop')
    args = ap.parse_args()
    if args.uvloop:
        args.loop = 'uvloop'
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    run = asyncio.run
    try:
        if args.loop == 'uvloop':
            import uvloop
            uvloop.install()
        elif args.loop == 'gbulb':
            import gbulb
            gbulb.install()
        elif args.loop in ('coop', 'coop-py'):
            if args.loop == 'coop-py':
                os.environ['COOP_PY_SPEEDUPS'] = '0'
            import coop
            run = coop.run
    except ImportError:
        print('n/a', flush=True)
        sys.exit(3)
    try:
        run(main(args.port))
    except KeyboardInterrupt:
        pass
