// SPDX-License-Identifier: LGPL-2.1-or-later
// A few helpers for the GJS tests: checks that count failures, and a
// runner that drives an async test function on the default Coop loop and
// exits non-zero if anything failed.
import GLib from 'gi://GLib';
import Coop from 'gi://Coop?version=1';
import System from 'system';

let failures = 0;
let checks = 0;

export function check(condition, what) {
    checks++;
    if (!condition) {
        failures++;
        printerr(`FAIL: ${what}`);
    }
}

export function checkEqual(actual, expected, what) {
    check(actual === expected, `${what}: got ${actual}, expected ${expected}`);
}

// Awaits `promise`, which must reject with a GLib.Error of domain/code.
export async function checkRejects(promise, domain, code, what) {
    try {
        const value = await promise;
        check(false, `${what}: resolved with ${value} instead of rejecting`);
        return null;
    } catch (e) {
        check(e instanceof GLib.Error, `${what}: ${e} is a GLib.Error`);
        check(e instanceof GLib.Error && e.matches(domain, code),
            `${what}: ${e} matches (${domain}, ${code})`);
        return e;
    }
}

// Runs the loop until a number of microseconds passed.
export function spin(loop, usec = 1000) {
    const nap = Coop.sleep(loop, usec);
    while (!nap.is_done())
        GLib.MainContext.default().iteration(true);
}

// Runs `main` (an async function) on the default loop, then exits.
export function run(name, main) {
    const loop = Coop.Loop.get_default();
    const finished = Coop.Future.new(loop);
    main(loop).then(() => finished.set_none(), e => {
        failures++;
        printerr(`FAIL: ${name} threw ${e}\n${e.stack ?? ''}`);
        finished.set_none();
    });
    // Bounded, so that a promise that never settles fails instead of hanging.
    const limit = Coop.wait_for(finished, 20 * 1000000);
    try {
        loop.run_until_complete(limit);
    } catch (e) {
        failures++;
        printerr(`FAIL: ${name} did not finish: ${e}`);
    }
    print(`${name}: ${checks} checks, ${failures} failed`);
    System.exit(failures > 0 ? 1 : 0);
}
