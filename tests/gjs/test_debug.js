// SPDX-License-Identifier: LGPL-2.1-or-later
// The task dump and future descriptions from GJS.
// Run by meson with GI_TYPELIB_PATH pointing at the build tree.
imports.gi.versions.Coop = '1';
const Coop = imports.gi.Coop;
const GLib = imports.gi.GLib;

function check(cond, what) {
    if (!cond)
        throw new Error(`failed: ${what}`);
}

const context = GLib.MainContext.new();
context.push_thread_default();
const loop = Coop.Loop.new(context);

const nap = Coop.sleep(loop, 5 * GLib.USEC_PER_SEC);
check(nap.describe().startsWith('sleep, due in '), nap.describe());

const lock = Coop.Lock.new(loop);
check(lock.try_acquire(), 'try_acquire');
const request = lock.acquire();
check(request.describe().includes('(locked, 1 waiting)'), request.describe());

loop.set_debug(Coop.DebugFlags.SLOW | Coop.DebugFlags.STALL);
check(loop.get_debug() === (Coop.DebugFlags.SLOW | Coop.DebugFlags.STALL), 'get_debug');
const dump = loop.dump_tasks();
check(dump.startsWith('Coop loop ') && dump.includes('0 live tasks') &&
      dump.includes('debug: slow stall'), dump);
loop.set_debug(Coop.DebugFlags.NONE);

nap.cancel(null);
request.cancel(null);
check(nap.describe().endsWith('[cancelled]'), nap.describe());

loop.close();
context.pop_thread_default();
print('ok');
