// SPDX-License-Identifier: LGPL-2.1-or-later
// `await future` through coop_future_then() alone, without the override:
// values, errors with their domain, cancellation, and the destroy notifies
// (each then() holds one reference on its future until both of its
// closures are released, so the reference count shows they were).
import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Coop from 'gi://Coop?version=1';
import System from 'system';
import {check, checkEqual, checkRejects, run} from './harness.js';

run('native-then', async loop => {
    check(Coop.Future.from_promise === undefined, 'the override is not loaded here');

    const settled = (setter, ...args) => {
        const f = Coop.Future.new(loop);
        f[setter](...args);
        return f;
    };
    checkEqual(await settled('set_int64', 42), 42, 'int64');
    checkEqual(await settled('set_double', 2.5), 2.5, 'double');
    checkEqual(await settled('set_string', 'hello'), 'hello', 'string');
    checkEqual(await settled('set_boolean', true), true, 'boolean');
    checkEqual(await settled('set_object', loop), loop, 'object');
    checkEqual(await settled('set_none'), null, 'none');

    // Pending first, completed later from a callback of the loop.
    const later = Coop.Future.new(loop);
    loop.call_later(1000, () => later.set_string('later'));
    checkEqual(await later, 'later', 'a pending future');

    const failed = Coop.Future.new(loop);
    failed.set_error(new GLib.Error(Coop.Error, Coop.Error.QUEUE_FULL, 'full'));
    const e = await checkRejects(failed, Coop.Error, Coop.Error.QUEUE_FULL, 'Coop.Error');
    checkEqual(e?.message, 'full', 'the error message');

    const cancelled = Coop.Future.new(loop);
    cancelled.cancel('stop');
    await checkRejects(cancelled, Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED, 'cancelled');

    // An array of futures has no element type in a GValue: null here, the
    // futures through get_futures() (the override does that for you).
    const a = settled('set_int64', 1);
    const gather = Coop.gather(loop, [a, Coop.sleep(loop, 1000)], false);
    checkEqual(await gather, null, 'gather without the override');
    checkEqual(gather.get_futures()[0], a, 'get_futures()');

    // Destroy notifies: one reference per pending then(), all given back
    // once the callbacks ran, for the callback that fired and the other.
    // (Futures made with GObject construction, not Coop.Future.new(),
    // whose recycling pool holds a reference of its own.)
    const yieldToLoop = () => Coop.sleep(loop, 1000);
    const shared = new Coop.Future({loop});
    const base = System.refcount(shared);
    const waiters = [];
    for (let i = 0; i < 500; i++)
        waiters.push((async () => await shared)());
    await yieldToLoop();
    checkEqual(System.refcount(shared) - base, 500, 'each pending then() holds the future');
    shared.set_string('many');
    const values = await Promise.all(waiters);
    check(values.every(v => v === 'many'), 'all 500 awaits got the value');
    await yieldToLoop();
    checkEqual(System.refcount(shared), base, 'fulfilled: every then() let go');

    const failing = new Coop.Future({loop});
    const failingBase = System.refcount(failing);
    const rejections = [];
    for (let i = 0; i < 100; i++)
        rejections.push(failing.then(null, err => err));
    await yieldToLoop();
    failing.set_error(new GLib.Error(Coop.Error, Coop.Error.FAILED, 'x'));
    await yieldToLoop();
    checkEqual(System.refcount(failing), failingBase, 'rejected: every then() let go');

    // A loop closed under pending futures drops their then()s.
    const context = new GLib.MainContext();
    const other = Coop.Loop.new(context);
    const orphan = new Coop.Future({loop: other});
    const orphanBase = System.refcount(orphan);
    let ran = false;
    orphan.then(() => { ran = true; }, () => { ran = true; });
    checkEqual(System.refcount(orphan), orphanBase + 1, 'then() holds the future');
    other.close();
    checkEqual(System.refcount(orphan), orphanBase, 'closing the loop released the then()');
    orphan.then(() => { ran = true; }, () => { ran = true; });
    checkEqual(System.refcount(orphan), orphanBase, 'then() on a closed loop releases at once');
    await yieldToLoop();
    check(!ran, 'no callback ran for the closed loop');
});
