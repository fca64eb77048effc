// SPDX-License-Identifier: LGPL-2.1-or-later
// Bindings under the garbage collector: futures, loops, promises and
// callbacks dropped in several orders while work is pending, with
// System.gc() between the steps.  Nothing may crash; run-gjs.sh's caller
// (meson) sees GLib criticals on stderr, and the test checks its own
// stderr stays free of them by running the churn in a child gjs.
import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Coop from 'gi://Coop?version=1';
import System from 'system';
import {check, checkEqual, run} from './harness.js';

function iterate(n = 10) {
    const ctx = GLib.MainContext.default();
    for (let i = 0; i < n; i++)
        ctx.iteration(false);
}

// Pending work held only by JS objects, dropped in `order`.
function churn(loop, order) {
    const seen = [];
    const objs = {};
    objs.future = Coop.Future.new(loop);
    objs.sleep = Coop.sleep(loop, 2000);
    objs.gather = Coop.gather(loop, [objs.future, objs.sleep], true);
    objs.limited = Coop.wait_for(objs.future, 5000);
    objs.promise = objs.limited.then(v => seen.push(`then ${v}`), e => seen.push(`err ${e}`));
    objs.fromPromise = Coop.Future.from_promise(new Promise(resolve => {
        objs.resolve = resolve;
    }), loop);
    objs.sleep.connect('done', () => seen.push('sleep'));
    objs.future.set_int64(7);
    for (const name of order) {
        if (name === 'resolve' && objs.resolve)
            objs.resolve(3);
        delete objs[name];
        System.gc();
        iterate(3);
    }
    return seen;
}

const NAMES = ['future', 'sleep', 'gather', 'limited', 'promise', 'fromPromise', 'resolve'];

function* orders() {
    // Forward, backward, and a few rotations: each object goes first once.
    for (let r = 0; r < NAMES.length; r++) {
        const rot = NAMES.slice(r).concat(NAMES.slice(0, r));
        yield rot;
        yield rot.slice().reverse();
    }
}

run('gc', async loop => {
    let n = 0;
    for (const order of orders()) {
        churn(loop, order);
        n++;
    }
    System.gc();
    iterate(50);
    check(n === 2 * NAMES.length, `${n} drop orders`);

    // A loop of its own, closed with JS callbacks pending on its futures.
    const ctx = new GLib.MainContext();
    const other = Coop.Loop.new(ctx);
    ctx.acquire();   // iterated by hand below: its futures may be awaited
    const futures = [];
    const calls = [];
    for (let i = 0; i < 50; i++) {
        const f = Coop.Future.new(other);
        f.then(v => calls.push(v), e => calls.push(e));
        futures.push(f);
    }
    const sleeps = [];
    for (let i = 0; i < 50; i++)
        sleeps.push(Coop.sleep(other, 1000 * 1000 * 1000));
    System.gc();
    other.close();
    System.gc();
    check(sleeps.every(s => s.is_cancelled()), 'closing the loop cancels its sleeps');
    futures.length = 0;
    sleeps.length = 0;
    System.gc();
    while (ctx.iteration(false))
        ;
    ctx.release();
    checkEqual(calls.length, 0, 'no then() callback of a closed loop runs');

    // Awaits abandoned midway: promises that will never settle, dropped.
    for (let i = 0; i < 100; i++) {
        const f = Coop.Future.new(loop);
        (async () => {
            try {
                await f;
            } catch (e) {}
        })();
        if (i % 2)
            f.cancel(null);
    }
    System.gc();
    iterate(20);
    System.gc();

    // The same churn in a child gjs: its stderr must show no GLib warning
    // or critical.
    const script = `
        import Coop from 'gi://Coop?version=1';
        import GLib from 'gi://GLib';
        import System from 'system';
        const loop = Coop.Loop.get_default();
        for (let i = 0; i < 20; i++) {
            const f = Coop.Future.new(loop);
            const l = Coop.wait_for(f, 1000);
            l.then(() => {}, () => {});
            Coop.gather(loop, [f, Coop.sleep(loop, 500)], true);
            if (i % 2) f.set_int64(i);
            System.gc();
            GLib.MainContext.default().iteration(false);
        }
        const end = Coop.sleep(loop, 5000);
        loop.run_until_complete(end);
        System.gc();
        print('clean exit');
    `;
    const [file, stream] = Gio.File.new_tmp('coop-gc-XXXXXX.js');
    stream.get_output_stream().write_all(new TextEncoder().encode(script), null);
    stream.close(null);
    const proc = Gio.Subprocess.new(['gjs', '-m', file.get_path()],
        Gio.SubprocessFlags.STDOUT_PIPE | Gio.SubprocessFlags.STDERR_PIPE);
    const [, out, err] = proc.communicate_utf8(null, null);
    file.delete(null);
    check(proc.get_successful(), `the child gjs exits cleanly: ${err}`);
    check(out.includes('clean exit'), 'the child ran to its end');
    const bad = err.split('\n').filter(l => /CRITICAL|WARNING/.test(l));
    checkEqual(bad.length, 0, `no GLib warning in the child: ${bad.join(' | ')}`);
});
