#!/usr/bin/python3
# asyncio on Coop: coop.run(), asyncio's own primitives on the GLib main
# loop, `await` on a Coop.Future (here a Coop.sleep under asyncio), and on
# a GIO call made without its callback.
# SPDX-License-Identifier: LGPL-2.1-or-later
import asyncio

import coop
from gi.repository import Coop, Gio


async def worker(n, results):
    await asyncio.sleep(0.01 * n)
    results.append(n)


async def main():
    loop = asyncio.get_running_loop()
    assert isinstance(loop, coop.EventLoop), loop
    # The package ships the compiled hot path, and the loop uses it.
    from coop import _speedups
    assert isinstance(loop, _speedups.LoopCore), type(loop).__mro__
    results = []
    async with asyncio.TaskGroup() as group:
        for n in (3, 1, 2):
            group.create_task(worker(n, results))
    assert results == [1, 2, 3], results
    # A Coop future, awaited from asyncio code.
    await Coop.sleep(Coop.Loop.get_default(), 10 * 1000)
    try:
        await asyncio.wait_for(Coop.sleep(Coop.Loop.get_default(), 10 * 1000 * 1000), 0.02)
        raise AssertionError("wait_for did not time out")
    except TimeoutError:
        pass
    # GIO's own asynchronous call, awaited.
    ok, contents, etag = await Gio.File.new_for_path(__file__).load_contents_async()
    assert ok and contents.startswith(b"#!/usr/bin/python3"), contents[:20]
    return "done"


assert coop.run(main()) == "done"
print("python asyncio on Coop (%s): ok" % coop.__file__)
