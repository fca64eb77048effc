// SPDX-License-Identifier: LGPL-2.1-or-later
// `await` on Coop futures with the override loaded: values, errors with
// their registered domain, cancellation, sleep, gather, wait_for,
// as_completed, and then() used directly.
import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Coop from 'gi://Coop?version=1';
import {check, checkEqual, checkRejects, run} from './harness.js';

run('await', async loop => {
    check(typeof Coop.Future.from_promise === 'function', 'the override is loaded (GJS_PATH)');

    const settled = (setter, ...args) => {
        const f = Coop.Future.new(loop);
        f[setter](...args);
        return f;
    };
    checkEqual(await settled('set_int64', 42), 42, 'int64');
    checkEqual(await settled('set_int64', -7), -7, 'negative int64');
    checkEqual(await settled('set_double', 0.25), 0.25, 'double');
    checkEqual(await settled('set_string', 'hello'), 'hello', 'string');
    checkEqual(await settled('set_boolean', false), false, 'boolean');
    checkEqual(await settled('set_object', loop), loop, 'object');
    checkEqual(await settled('set_none'), null, 'none');
    const bytes = await settled('set_value', new GLib.Bytes([1, 2, 3]));
    checkEqual(bytes?.get_size?.(), 3, 'boxed GBytes');

    // Errors are exceptions of a registered domain.
    const failed = Coop.Future.new(loop);
    failed.set_error(new GLib.Error(Coop.Error, Coop.Error.LOOP_CLOSED, 'closed'));
    const e = await checkRejects(failed, Coop.Error, Coop.Error.LOOP_CLOSED, 'Coop.Error');
    check(e?.domain === Coop.Error || e?.domain === GLib.quark_from_string('coop-error-quark'),
        'the domain is Coop.Error');
    const empty = Coop.Queue.new(loop, 0, Coop.QueueOrder.FIFO);
    try {
        empty.get_nowait();
        check(false, 'get_nowait on an empty queue throws');
    } catch (err) {
        check(err.matches(Coop.Error, Coop.Error.QUEUE_EMPTY), `a thrown Coop.Error: ${err}`);
    }

    empty.put_nowait('item', 0);
    const [taken, item] = empty.get_nowait();   // gjs keeps the boolean return
    check(taken && item === 'item', `get_nowait: ${taken}, ${item}`);
    empty.shutdown(false);
    try {
        empty.get_nowait();
        check(false, 'get_nowait on a shut-down queue throws');
    } catch (err) {
        check(err.matches(Coop.Error, Coop.Error.QUEUE_SHUT_DOWN), `QUEUE_SHUT_DOWN: ${err}`);
    }

    const cancelled = Coop.Future.new(loop);
    loop.call_soon(() => cancelled.cancel('no more'));
    await checkRejects(cancelled, Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED, 'cancelled');

    // Coop's own timers and combinators.
    const started = loop.time();
    checkEqual(await Coop.sleep(loop, 5000), null, 'sleep');
    check(loop.time() - started >= 5000, 'slept at least 5 ms');

    const one = Coop.Future.new(loop);
    const two = Coop.Future.new(loop);
    loop.call_later(2000, () => two.set_string('two'));
    loop.call_soon(() => one.set_int64(1));
    const gathered = await Coop.gather(loop, [one, two, Coop.sleep(loop, 1000)], false);
    check(Array.isArray(gathered) && gathered.length === 3, 'gather gives an array of futures');
    checkEqual(gathered[0], one, 'in order');
    const values = await Promise.all(gathered);
    checkEqual(values.join(','), '1,two,', 'their results, awaited in turn');

    const bad = Coop.Future.new(loop);
    loop.call_soon(() => bad.set_error(new GLib.Error(Coop.Error, Coop.Error.FAILED, 'child')));
    await checkRejects(Coop.gather(loop, [Coop.sleep(loop, 1000), bad], false),
        Coop.Error, Coop.Error.FAILED, 'gather fails with its child');

    const never = Coop.Future.new(loop);
    await checkRejects(Coop.wait_for(never, 2000), Gio.IOErrorEnum, Gio.IOErrorEnum.TIMED_OUT,
        'wait_for times out');
    check(never.is_cancelled(), 'wait_for cancelled what it waited for');

    // Deadlines from one base: with call_later each would count from its
    // own call, and a slow machine can spend a millisecond between them.
    const base = loop.time();
    const racers = [3000, 1000, 2000].map(usec => {
        const f = Coop.Future.new(loop);
        loop.call_at(base + usec, () => f.set_int64(usec));
        return f;
    });
    const order = [];
    for (const next of Coop.AsCompleted.new(loop, racers))
        order.push(await next);
    checkEqual(order.join(','), '1000,2000,3000', 'as_completed, iterated');

    // then() used directly returns a promise, and fires on a done future.
    const done = settled('set_string', 'done');
    const chained = await done.then(v => `${v}!`);
    checkEqual(chained, 'done!', 'then() chains like a promise');
    checkEqual(await done, 'done', 'a done future can be awaited again');
    checkEqual(await done.to_promise(), 'done', 'to_promise()');
    const twice = Coop.Future.new(loop);
    const both = Promise.all([twice.then(), twice.then()]);
    twice.set_int64(2);
    checkEqual((await both).join(','), '2,2', 'two awaiters of one future');
});
