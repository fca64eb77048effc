// SPDX-License-Identifier: LGPL-2.1-or-later
// The installed GJS override: await on Coop futures, a JS promise handed to
// Coop as a future, and errors as GLib.Error exceptions.
import Coop from 'gi://Coop?version=1';
import GLib from 'gi://GLib';
import System from 'system';

const loop = Coop.Loop.get_default();

async function main() {
    const future = Coop.Future.new(loop);
    future.set_int64(42);
    if (await future !== 42)
        throw new Error('await on a finished future');
    await Coop.sleep(loop, 1000);
    const fromJs = Coop.Future.from_promise(Promise.resolve('js'), loop);
    const [a, b] = await Coop.gather(loop, [fromJs, Coop.sleep(loop, 1000)], false);
    if (await a !== 'js')
        throw new Error('promise → future');
    const failing = Coop.Future.new(loop);
    failing.cancel('stop');
    try {
        await failing;
        throw new Error('a cancelled future resolved');
    } catch (e) {
        if (!(e instanceof GLib.Error))
            throw e;
    }
    return 'ok';
}

const result = loop.run_until_complete(main());
print(`await.js: ${result}`);
System.exit(0);
