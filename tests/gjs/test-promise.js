// SPDX-License-Identifier: LGPL-2.1-or-later
// JS promises as Coop futures (Coop.Future.from_promise, run_until_complete
// with a promise), and misuse: late settlements, closed loops, calls that
// need a C task.
import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Coop from 'gi://Coop?version=1';
import {check, checkEqual, checkRejects, run} from './harness.js';

const delay = (loop, usec, value) => new Promise(resolve =>
    loop.call_later(usec, () => resolve(value)));

run('promise', async loop => {
    // Resolved: C reads the GValue, JS gets back the very value.
    const number = Coop.Future.from_promise(delay(loop, 1000, 42), loop);
    check(number instanceof Coop.Future, 'from_promise gives a Coop.Future');
    checkEqual(number.is_done(), false, 'pending until the promise settles');
    checkEqual(await number, 42, 'awaited from JS');
    checkEqual(number.get_double(), 42, 'read from C as a number');
    const text = Coop.Future.from_promise(Promise.resolve('text'));
    checkEqual(await text, 'text', 'a string, on the default loop');
    checkEqual(text.get_string(), 'text', 'the string from C');
    const plain = {a: 1};
    const object = Coop.Future.from_promise(Promise.resolve(plain), loop);
    checkEqual(await object, plain, 'a plain JS object comes back as itself');
    const nothing = Coop.Future.from_promise(Promise.resolve(), loop);
    checkEqual(await nothing, undefined, 'undefined stays undefined in JS');
    checkEqual(nothing.get_state(), Coop.FutureState.FINISHED, 'finished with no value');
    checkEqual(await Coop.Future.from_promise(7, loop), 7, 'a plain value');

    // Rejected: JS gets its own exception back, C a GError.
    const thrown = new TypeError('bad type');
    const failing = Coop.Future.from_promise(Promise.reject(thrown), loop);
    try {
        await failing;
        check(false, 'a rejected promise rejects the future');
    } catch (e) {
        checkEqual(e, thrown, 'JS gets the original exception');
    }
    const cError = failing.get_error();
    check(cError?.matches(Coop.Error, Coop.Error.FAILED), 'C sees COOP_ERROR_FAILED');
    check(cError?.message.includes('bad type'), `with the message: ${cError?.message}`);
    const gerror = new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_FOUND, 'missing');
    const gfailing = Coop.Future.from_promise(Promise.reject(gerror), loop);
    await checkRejects(gfailing, Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_FOUND, 'a GLib.Error rejection');
    check(gfailing.get_error()?.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_FOUND),
        'C sees the GLib.Error');

    // Promises in Coop's combinators.
    const gathered = await Coop.gather(loop, [
        Coop.Future.from_promise(delay(loop, 2000, 'slow'), loop),
        Coop.Future.from_promise(delay(loop, 1000, 'fast'), loop),
    ], false);
    checkEqual((await Promise.all(gathered)).join(','), 'slow,fast', 'gather of promises');
    const forever = Coop.Future.from_promise(new Promise(() => {}), loop);
    await checkRejects(Coop.wait_for(forever, 1000), Gio.IOErrorEnum, Gio.IOErrorEnum.TIMED_OUT,
        'wait_for on a promise that never settles');
    check(forever.is_cancelled(), 'the future was cancelled');
    // A promise that settles after its future was cancelled changes nothing.
    let settle;
    const late = Coop.Future.from_promise(new Promise(resolve => { settle = resolve; }), loop);
    late.cancel('gone');
    settle('too late');
    await Coop.sleep(loop, 1000);
    check(late.is_cancelled(), 'a late settlement is dropped');

    // then() on a future that is already done still fires, later.
    const done = Coop.Future.new(loop);
    done.set_int64(3);
    let fired = false;
    const chained = done.then(v => { fired = true; return v; });
    check(!fired, 'never inside then()');
    checkEqual(await chained, 3, 'then() on a done future fires');

    // A future of a closed loop never settles; nothing crashes.
    const context = new GLib.MainContext();
    const other = Coop.Loop.new(context);
    const stranded = Coop.Future.new(other);
    let heard = false;
    context.acquire();   // as a context iterated by hand: then() accepts it
    stranded.then(() => { heard = true; }, () => { heard = true; });
    context.release();
    other.close();
    stranded.set_int64(1);   // completing it after the close queues nothing
    await Coop.sleep(loop, 2000);
    check(!heard, 'a closed loop runs no then() callback');

    // What needs a C task says so in the Coop.Error domain.
    try {
        Coop.await(Coop.Future.new(loop));
        check(false, 'Coop.await outside a C task throws');
    } catch (e) {
        check(e.matches(Coop.Error, Coop.Error.NOT_IN_TASK), `NOT_IN_TASK: ${e}`);
    }
    check(Coop.Task.new_full === undefined && Coop.TaskGroup.prototype.spawn === undefined,
        'C fiber entry points are not introspected');
});
