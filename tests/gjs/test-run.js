// SPDX-License-Identifier: LGPL-2.1-or-later
// Coop.run(): asyncio.run() for GJS scripts.  It runs main to its end, then
// shuts the loop down (Coop.Loop.shutdown): the loop ends closed, and what
// was still pending on it (a sleep nobody finished) ends with it.
import GLib from 'gi://GLib';
import Coop from 'gi://Coop?version=1';
import System from 'system';

let failures = 0;
function check(condition, what) {
    if (!condition) {
        failures++;
        printerr(`FAIL: ${what}`);
    }
}

const first = Coop.Loop.get_default();
let forgotten = null;
const value = Coop.run(async () => {
    const loop = Coop.Loop.get_default();
    check(loop === first, 'main runs on the default loop');
    forgotten = Coop.sleep(loop, 3600 * 1000000);   // left pending
    await Coop.sleep(loop, 1000);
    return 'done';
});
check(value === 'done', `Coop.run returns main's value: ${value}`);
check(first.is_closed(), 'the loop is shut down and closed');
check(forgotten.is_cancelled(), 'a sleep left pending ended with the loop');

// The default context gets a fresh loop; a failing main throws its own
// exception, and the loop is shut down all the same.
const second = Coop.Loop.get_default();
check(second !== first && !second.is_closed(), 'a fresh default loop');
const thrown = new RangeError('out of range');
try {
    Coop.run(async () => {
        await Coop.sleep(second, 1000);
        throw thrown;
    });
    check(false, 'a failing main throws');
} catch (e) {
    check(e === thrown, `the very exception: ${e}`);
}
check(second.is_closed(), 'closed after a failure too');

// A shutdown from inside a callback of the context is refused.
const third = Coop.Loop.get_default();
let refused = null;
Coop.run(async () => {
    await new Promise(resolve => third.call_soon(() => {
        try {
            third.shutdown(0);
        } catch (e) {
            refused = e;
        }
        resolve();
    }));
});
check(refused instanceof GLib.Error && refused.matches(Coop.Error, Coop.Error.INVALID_STATE),
    `shutdown from a callback: ${refused}`);
check(third.is_closed(), 'and the run still shut it down');

print(`run: ${failures} failed`);
System.exit(failures > 0 ? 1 : 0);
