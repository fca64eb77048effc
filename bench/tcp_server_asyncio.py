#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python peers of the TCP echo benchmark (bench/README.md): stock
asyncio, uvloop, gbulb and asyncio on Coop (--loop), one server program.

asyncio.start_server with a coroutine per connection that echoes with
reader.read / writer.write / writer.drain -- the same shape as the Coop
server.  If the loop's module cannot be imported, prints "n/a" instead of a
port and exits with status 3.
Prints the port on stdout once listening; runs until killed.

--cert FILE --key FILE: the TLS echo benchmark's peers (asyncio's ssl=, TLS
1.3 only).  --udp: the UDP echo benchmark's peers, a datagram endpoint
whose datagram_received() sends every datagram back to its sender.
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


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)

    def error_received(self, exc):
        pass


async def main_udp(port):
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        UdpEcho, local_addr=('127.0.0.1', port))
    print(transport.get_extra_info('sockname')[1], flush=True)
    await asyncio.Event().wait()


async def main(port, ssl_context=None):
    server = await asyncio.start_server(echo, '127.0.0.1', port, backlog=4096, ssl=ssl_context)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--uvloop', action='store_true')
    ap.add_argument('--loop', choices=['asyncio', 'uvloop', 'gbulb', 'coop', 'coop-py'], default='asyncio',
                    help='event loop: stock asyncio, uvloop, gbulb or asyncio on Coop')
    ap.add_argument('--cert', help='serve TLS 1.3 with this certificate (PEM)')
    ap.add_argument('--key', help="the certificate's private key (PEM)")
    ap.add_argument('--udp', action='store_true', help='echo UDP datagrams instead')
    args = ap.parse_args()
    ssl_context = None
    if args.cert:
        import ssl
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.minimum_version = ssl.TLSVersion.TLSv1_3
        ssl_context.load_cert_chain(args.cert, args.key)
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
        run(main_udp(args.port) if args.udp else main(args.port, ssl_context))
    except KeyboardInterrupt:
        pass
