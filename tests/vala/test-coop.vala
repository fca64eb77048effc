/* test-coop.vala: Coop from Vala through the generated coop-1.vapi: a
 * loop, futures, then(), gather, sleep, wait_for and errors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

void check (bool condition, string what) {
    if (!condition) {
        printerr ("FAIL: %s\n", what);
        Process.exit (1);
    }
}

int main () {
    var context = new MainContext ();
    context.push_thread_default ();
    var loop = new Coop.Loop (context);

    /* A future and its typed result. */
    var answer = new Coop.Future (loop);
    check (answer.get_state () == Coop.FutureState.PENDING, "a new future is pending");
    answer.set_int64 (42);
    try {
        check (answer.get_int64 () == 42, "int64 result");
    } catch (Error e) {
        check (false, e.message);
    }

    /* then(): lambdas with their own closures, run from the loop. */
    int64 seen = 0;
    string? rejected = null;
    answer.then ((value) => { seen = value.get_int64 (); },
                 (error) => { rejected = error.message; });
    check (seen == 0, "then never runs inside the call");

    var failing = new Coop.Future (loop);
    failing.then ((value) => { check (false, "a failed future does not fulfil"); },
                  (error) => { rejected = error.message; });
    failing.set_error (new Error (Coop.Error.quark (), Coop.Error.FAILED, "boom"));

    /* gather over a sleep and a result; its result is the array of futures. */
    var nap = Coop.sleep (loop, 2000);
    var word = new Coop.Future (loop);
    word.set_string ("vala");
    var all = Coop.gather (loop, { nap, word }, false);
    try {
        check (loop.run_until_complete (all), "gather finished");
        unowned GenericArray<Coop.Future> futures = all.get_futures ();
        check (futures.length == 2, "gather holds both futures");
        check (futures[1].get_string () == "vala", "gather keeps the order");
        check (nap.is_done (), "the sleep is done");
    } catch (Error e) {
        check (false, e.message);
    }
    check (seen == 42, "then fulfilled with the value");
    check (rejected == "boom", "then rejected with the error");

    /* Errors are GLib.Error in the registered domain; timeouts are GIO's. */
    try {
        new Coop.Future (loop).get_int64 ();
        check (false, "reading a pending future throws");
    } catch (Coop.Error e) {
        check (e is Coop.Error.INVALID_STATE, "INVALID_STATE in the Coop.Error domain");
    } catch (Error e) {
        check (false, "wrong domain: " + e.message);
    }
    var never = new Coop.Future (loop);
    try {
        loop.run_until_complete (Coop.wait_for (never, 1000));
        check (false, "wait_for times out");
    } catch (IOError.TIMED_OUT e) {
        check (never.is_cancelled (), "the timed-out future is cancelled");
    } catch (Error e) {
        check (false, "wrong error: " + e.message);
    }

    loop.close ();
    context.pop_thread_default ();
    print ("vala: all checks passed\n");
    return 0;
}
