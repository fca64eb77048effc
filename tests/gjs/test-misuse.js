// SPDX-License-Identifier: LGPL-2.1-or-later
// Mistakes that would otherwise fail late or hang, refused at once with a
// GLib.Error that says why: run_in_thread with a JavaScript function, and
// awaiting a future whose main context nobody iterates (or another thread
// does).
import GLib from 'gi://GLib';
import Coop from 'gi://Coop?version=1';
import {check, checkRejects, run} from './harness.js';

run('misuse', async loop => {
    // run_in_thread: the function would run on a worker thread.
    let called = false;
    try {
        loop.run_in_thread(() => {
            called = true;
            return [true, null];
        });
        check(false, 'run_in_thread with a JS function throws');
    } catch (e) {
        check(e instanceof GLib.Error && e.matches(Coop.Error, Coop.Error.NOT_SUPPORTED),
            `NOT_SUPPORTED: ${e}`);
        check(/main thread/.test(e.message), `the message says why: ${e.message}`);
    }
    check(!called, 'the function never ran');

    // A loop of a context nobody iterates: the await fails instead of
    // hanging, even though the future is completed later.
    const context = new GLib.MainContext();
    const other = Coop.Loop.new(context);
    const stray = Coop.Future.new(other);
    const e = await checkRejects(stray, Coop.Error, Coop.Error.INVALID_STATE,
        'awaiting a future of an uniterated context');
    check(e !== null && /nobody iterates/.test(e.message), `the message says why: ${e?.message}`);
    stray.set_int64(1);   // completing it later changes nothing

    // A context acquired by this thread (iterated by hand) is fine too.
    context.acquire();
    const byHand = Coop.Future.new(other);
    const promise = byHand.to_promise();
    byHand.set_string('hand');
    while (context.iteration(false))
        ;
    context.release();
    check(await promise === 'hand', 'a context iterated by hand');

    other.close();
});
