#!/usr/bin/env -S gjs -m
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Coop from JavaScript: await Coop futures, a Coop sleep and a gather in
// an async function, and hand a JS promise to Coop as a future.
//
//   gjs -m examples/gjs/coop-await.js
//
// (From a build tree: run it inside `meson devenv -C _build`.)
import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Coop from 'gi://Coop?version=1';
import System from 'system';

// Promises become futures through the override (overrides/Coop.js); without
// it, the first promise given to Coop would fail with an unrelated TypeError.
if (typeof Coop.Future.from_promise !== 'function') {
    printerr('The Coop GJS override is not loaded: install gir1.2-coop-1, run inside ' +
             '`meson devenv -C _build`, or put the directory holding overrides/Coop.js on GJS_PATH.');
    System.exit(1);
}

// JS promise jobs run when the default main context iterates, so JS code
// uses the loop of the default context.
const loop = Coop.Loop.get_default();
const ms = 1000;   // Coop counts time in microseconds

// A future completed later by a plain loop callback.
function answerLater(value, delayUsec) {
    const future = Coop.Future.new(loop);
    loop.call_later(delayUsec, () => future.set_int64(value));
    return future;
}

// A JS async function whose promise Coop waits for, as a future.
async function fetchName() {
    await Coop.sleep(loop, 20 * ms);
    return 'coop';
}

async function main() {
    const started = loop.time();
    const elapsed = () => `${((loop.time() - started) / ms).toFixed(1)} ms`;

    print(`answer: ${await answerLater(42, 10 * ms)} (after ${elapsed()})`);

    await Coop.sleep(loop, 50 * ms);
    print(`slept 50 ms (after ${elapsed()})`);

    // gather runs them together: 30 ms, not 10 + 20 + 30.
    const futures = await Coop.gather(loop, [
        answerLater(1, 10 * ms),
        Coop.Future.from_promise(fetchName(), loop),
        Coop.sleep(loop, 30 * ms),
    ], false);
    const [one, name] = await Promise.all(futures);
    print(`gathered: ${one}, ${name} (after ${elapsed()})`);

    // Errors are exceptions; Coop's cancellation and timeouts are GIO's.
    try {
        await Coop.wait_for(Coop.Future.new(loop), 10 * ms);
    } catch (e) {
        if (!e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.TIMED_OUT))
            throw e;
        print(`wait_for: timed out (after ${elapsed()})`);
    }
    try {
        Coop.Queue.new(loop, 0, Coop.QueueOrder.FIFO).get_nowait();
    } catch (e) {
        print(`queue: ${e.matches(Coop.Error, Coop.Error.QUEUE_EMPTY) ? 'empty' : e}`);
    }
}

let failed = false;
// run_until_complete also takes a promise (the override wraps it).
loop.run_until_complete(main().catch(e => {
    printerr(`error: ${e}`);
    failed = true;
}));
print(failed ? 'failed' : 'done');
if (failed)
    System.exit(1);
