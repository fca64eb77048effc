// Coop from GJS at the GObject-introspection level: a loop, futures, the
// done signal, a sleep under a time limit, errors as GLib.Error.
// SPDX-License-Identifier: LGPL-2.1-or-later
imports.gi.versions.Coop = '1';
const {Coop, GLib, Gio} = imports.gi;

function check(condition, what) {
    if (!condition)
        throw new Error(`check failed: ${what}`);
}

const loop = Coop.Loop.get_default();

const future = Coop.Future.new(loop);
const seen = [];
future.connect('done', f => seen.push(f.get_string()));
loop.call_soon(() => future.set_string('hello'));
check(loop.run_until_complete(future), 'run_until_complete');
check(future.get_string() === 'hello', 'result');
while (GLib.MainContext.default().iteration(false))
    ;
check(seen.length === 1 && seen[0] === 'hello', 'done signal');

// A 10 s sleep under a 20 ms limit times out.
const limited = Coop.wait_for(Coop.sleep(loop, 10 * GLib.USEC_PER_SEC), 20 * 1000);
let timedOut = false;
try {
    loop.run_until_complete(limited);
} catch (e) {
    timedOut = e instanceof GLib.Error && e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.TIMED_OUT);
}
check(timedOut, 'the time limit fires as G_IO_ERROR_TIMED_OUT');

loop.close();
print('gjs: Coop ok');
