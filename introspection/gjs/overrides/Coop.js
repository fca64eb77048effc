// SPDX-License-Identifier: LGPL-2.1-or-later
//
// GJS override for the Coop namespace.  gjs loads overrides/Coop.js from
// its own overrides directory (<datadir>/gjs-1.0/overrides) or from a
// directory on GJS_PATH, the first time `gi://Coop` (or imports.gi.Coop) is
// imported, and calls _init() with the namespace as `this`.  It is a
// legacy script (not an ES module) because that is what gjs 1.74 loads as
// an override.
//
// What it adds:
//  - Coop.Future.prototype.then returns a real Promise, and an array of
//    futures (the result of Coop.gather and Coop.wait, which a GValue
//    cannot carry into JS) arrives as a JS array of Coop.Future;
//  - Coop.Future.from_promise(promise, loop): a JS promise (or any value)
//    as a Coop.Future, so C code and the combinators can wait for JS work;
//  - Coop.Future.prototype.to_promise();
//  - Coop.Loop.prototype.run_until_complete also takes a promise;
//  - Coop.run(main, {loop, timeout}): asyncio.run() for a script: runs an
//    async function (or a promise) to its end on the default loop, then
//    shuts the loop down (Coop.Loop.shutdown: Coop's tasks cancelled and
//    awaited, the thread pool waited for, the loop closed);
//  - Coop.AsCompleted is iterable: for (const f of asCompleted) await f;
//  - Coop.Queue.prototype.get_nowait throws QUEUE_EMPTY / QUEUE_SHUT_DOWN
//    (gjs 1.74 converts the caller-allocated out GValue of a failed call
//    and throws its own conversion error instead of the GError);
//  - then() (so `await`) rejects at once with INVALID_STATE a future whose
//    main context nobody on this thread iterates, instead of never settling;
//  - Coop.Loop.prototype.run_in_thread throws NOT_SUPPORTED: its function
//    runs on a worker thread, where no JavaScript may run;
//  - Coop.Server.new_tcp_with_callback / new_unix_with_callback take a
//    handler that may be an async function (its promise is the connection's
//    future).

/* exported _init */

const {GLib} = imports.gi;

let Coop;

// What from_promise() settled a future with, for JS readers: the value or
// the exception itself (the GValue holds what C can read, if anything).
// Keyed by the future's JS wrapper: only JS code that holds the future can
// await it, and while it holds it the wrapper stays the same object.
const jsOutcomes = new WeakMap();

function resultOf(future, value) {
    if (value !== null)
        return value;
    try {
        return future.get_futures();
    } catch (e) {
        return null;   // finished with no value (or a raw pointer)
    }
}

function asGError(error) {
    if (error instanceof GLib.Error)
        return error;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new GLib.Error(Coop.Error, Coop.Error.FAILED, message);
}

// Why a future cannot be awaited from JavaScript, or null if it can.  GJS
// runs JavaScript on the main thread and its promise jobs when the default
// main context iterates, so a future's callbacks must come from the default
// context or from one this thread owns (acquired and iterated by hand).  A future of
// a context nobody iterates would never settle: the await would hang
// silently (Python raises RuntimeError for the same mistake).
// Loops found on the default context (a loop keeps its context for life),
// so that most awaits cost one lookup here.
const defaultContextLoops = new WeakSet();

function notAwaitable(future) {
    const loop = future.get_loop();
    if (defaultContextLoops.has(loop) || loop.is_closed())
        return null;   // a closed loop's future never settles, as documented
    // Boxed MainContext wrappers have no identity in GJS: ownership tells
    // whether the future's context is the default one.
    const context = loop.get_context();
    if (context.is_owner())
        return null;   // this thread is iterating it
    const main = GLib.MainContext.default();
    const mainOwned = main.is_owner();
    if (!context.acquire()) {
        return 'Cannot await a Coop.Future whose main context another thread iterates: its ' +
            'callbacks would run on that thread, where no JavaScript may run. Await futures ' +
            'of Coop.Loop.get_default()';
    }
    const isDefault = !mainOwned && main.is_owner();
    context.release();
    if (isDefault) {
        defaultContextLoops.add(loop);
        return null;   // GJS iterates it (or will: its job queue needs it)
    }
    return 'Cannot await a Coop.Future whose main context nobody iterates: it would never ' +
        'settle (GJS iterates only the default main context). Await futures of ' +
        'Coop.Loop.get_default(), or acquire the loop\'s context and iterate it on this thread';
}

function _init() {
    Coop = this;

    const nativeThen = Coop.Future.prototype.then;
    const nativeRunUntilComplete = Coop.Loop.prototype.run_until_complete;

    // coop_future_then() calls one of its two callbacks from the future's
    // loop and releases both (their destroy notifies) right after, or when
    // the loop is closed while the future is pending.
    Coop.Future.prototype.then = function (onFulfilled, onRejected) {
        const promise = new Promise((resolve, reject) => {
            const why = notAwaitable(this);
            if (why !== null) {
                reject(new GLib.Error(Coop.Error, Coop.Error.INVALID_STATE, why));
                return;
            }
            nativeThen.call(this,
                value => {
                    const outcome = jsOutcomes.get(this);
                    resolve(outcome ? outcome.value : resultOf(this, value));
                },
                error => {
                    const outcome = jsOutcomes.get(this);
                    reject(outcome && 'error' in outcome ? outcome.error : error);
                });
        });
        return onFulfilled || onRejected ? promise.then(onFulfilled, onRejected) : promise;
    };

    Coop.Future.prototype.to_promise = function () {
        return this.then();
    };

    Coop.Future.from_promise = function (promise, loop = null) {
        const future = Coop.Future.new(loop ?? Coop.Loop.get_default());
        Promise.resolve(promise).then(value => {
            if (future.is_done())
                return;   // cancelled (say, by wait_for) meanwhile
            jsOutcomes.set(future, {value});
            if (value === undefined || value === null) {
                future.set_none();
                return;
            }
            try {
                future.set_value(value);
            } catch (e) {
                future.set_none();   // a plain JS object: only JS can read it
            }
        }, error => {
            if (future.is_done())
                return;
            jsOutcomes.set(future, {error});
            future.set_error(asGError(error));
        });
        return future;
    };

    Coop.Loop.prototype.run_until_complete = function (awaitable) {
        if (!(awaitable instanceof Coop.Future))
            awaitable = Coop.Future.from_promise(awaitable, this);
        return nativeRunUntilComplete.call(this, awaitable);
    };

    // A CoopThreadFunc is called on a worker thread of the loop's pool;
    // GJS cannot run JavaScript there (it would report a critical and the
    // future would fail with an unrelated message).  PyGObject can, so
    // the C function does not refuse binding callbacks itself.
    Coop.Loop.prototype.run_in_thread = function () {
        throw new GLib.Error(Coop.Error, Coop.Error.NOT_SUPPORTED,
            'Coop.Loop.run_in_thread cannot run a JavaScript function: it runs on a worker ' +
            'thread and JavaScript runs only on the main thread. Use GIO\'s asynchronous ' +
            'calls (awaited with Gio._promisify), a Gio.Subprocess for blocking work, or a ' +
            'C library function that calls run_in_thread itself');
    };

    // A connection callback may be an async function: its promise becomes
    // the future the server tracks (the stream is closed once it settles).
    for (const name of ['new_tcp_with_callback', 'new_unix_with_callback']) {
        const nativeNew = Coop.Server[name];
        Coop.Server[name] = function (loop, ...args) {
            const callback = args.pop();
            return nativeNew.call(this, loop, ...args, (server, stream) => {
                let result;
                try {
                    result = callback(server, stream);
                } catch (e) {
                    result = Promise.reject(e);
                }
                if (result === undefined || result === null || result instanceof Coop.Future)
                    return result ?? null;
                return Coop.Future.from_promise(result, loop);
            });
        };
    }

    const nativeGetNowait = Coop.Queue.prototype.get_nowait;
    Coop.Queue.prototype.get_nowait = function () {
        if (this.is_empty()) {
            if (this.is_shut_down())
                throw new GLib.Error(Coop.Error, Coop.Error.QUEUE_SHUT_DOWN, 'The queue was shut down');
            throw new GLib.Error(Coop.Error, Coop.Error.QUEUE_EMPTY, 'The queue is empty');
        }
        return nativeGetNowait.call(this);
    };

    // asyncio.run(): main's value (or exception) once it settled, with the
    // loop shut down whatever happened.  `timeout` (microseconds) bounds the
    // shutdown; tasks still pending then are abandoned (one warning).
    Coop.run = function (main, {loop = null, timeout = 300 * 1000000} = {}) {
        loop ??= Coop.Loop.get_default();
        const future = Coop.Future.from_promise(typeof main === 'function' ? main() : main, loop);
        try {
            try {
                nativeRunUntilComplete.call(loop, future);
            } catch (e) {
                const outcome = jsOutcomes.get(future);
                throw outcome && 'error' in outcome ? outcome.error : e;
            }
            return jsOutcomes.get(future)?.value;
        } finally {
            try {
                loop.shutdown(timeout);
            } catch (e) {
                // Called from a callback of the context's main loop (a
                // running GTK application): that loop keeps its Coop loop.
                if (!(e instanceof GLib.Error && e.matches(Coop.Error, Coop.Error.INVALID_STATE)))
                    throw e;
            }
        }
    };

    Coop.AsCompleted.prototype[Symbol.iterator] = function* () {
        while (this.get_n_left() > 0)
            yield this.next();
    };
}
