/* test-tasks.vala: what Vala gets beyond the GIR (src/Coop-1-custom.vala):
 * Vala functions as C tasks that call Coop.await, timeout scopes, a server
 * whose handler is a Vala task, `yield future.wait ()`
 * (coop_future_wait_async), and a D-Bus method served by a Vala task.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

void check (bool condition, string what) {
    if (!condition) {
        printerr ("FAIL: %s\n", what);
        Process.exit (1);
    }
}

/* An async Vala method awaiting Coop futures with yield. */
async string waits (Coop.Loop loop) throws Error {
    var nap = Coop.sleep (loop, 1000);
    check (yield nap.wait (), "a sleep finished");
    var word = new Coop.Future (loop);
    loop.call_soon (() => { word.set_string ("yielded"); });
    yield word.wait ();
    return word.get_string ();
}

int main () {
    var context = new MainContext ();
    context.push_thread_default ();
    var loop = new Coop.Loop (context);

    /* A Vala lambda as a task body: it runs on a fiber and awaits. */
    int steps = 0;
    var task = new Coop.Task (loop, (self) => {
        try {
            Coop.await (Coop.sleep (loop, 1000));
            steps++;
            Coop.await (Coop.sleep (loop, 1000));
            steps++;
            self.set_int64 (steps);
        } catch (Error e) {
            self.set_error (e.copy ());
        }
    });
    try {
        check (loop.run_until_complete (task), "the task finished");
        check (task.get_int64 () == 2, "the task awaited twice");
    } catch (Error e) {
        check (false, e.message);
    }

    /* A timeout scope around an await that would never finish. */
    var timed = new Coop.Task.full (loop, "timed", 0, (self) => {
        Error? failure = null;
        try {
            var scope = Coop.Timeout.enter (2000);
            try {
                Coop.await (new Coop.Future (loop));
            } catch (Error e) {
                failure = e.copy ();   /* cancelled by the scope's deadline */
            }
            /* exit () turns the deadline's cancellation into TIMED_OUT. */
            self.set_boolean (!scope.exit (ref failure) && failure is IOError.TIMED_OUT);
        } catch (Error e) {
            self.set_error (e.copy ());
        }
    });
    try {
        loop.run_until_complete (timed);
        check (timed.get_boolean (), "the scope timed out");
    } catch (Error e) {
        check (false, "timeout scope: " + e.message);
    }

    /* A server whose handler is a Vala task, and a client task: a line,
     * echoed over real TCP. */
    try {
        var server = new Coop.Server.tcp (loop, "127.0.0.1", 0, 0, (conn, stream) => {
            try {
                var line = stream.read_line ();
                Coop.await (line);
                unowned Value? value = line.get_value ();
                var data = (Bytes) value.get_boxed ();
                stream.write (new Bytes (("echo: " + (string) data.get_data ()).data));
                Coop.await (stream.drain ());
            } catch (Error e) {
                conn.set_error (e.copy ());
            }
        });
        var port = server.get_port ();
        var client = new Coop.Task (loop, (self) => {
            try {
                var opening = Coop.Stream.open_tcp (loop, "127.0.0.1", port);
                Coop.await (opening);
                var stream = (Coop.Stream) opening.get_object ();
                stream.write (new Bytes ("hello\n".data));
                var reply = stream.read_line ();
                Coop.await (reply);
                var data = (Bytes) reply.get_value ().get_boxed ();
                self.set_string ((string) data.get_data ());
                stream.close ();
            } catch (Error e) {
                self.set_error (e.copy ());
            }
        });
        check (loop.run_until_complete (client), "the client finished");
        check (client.get_string () == "echo: hello\n", "echoed: " + client.get_string ());
        server.close ();
        loop.run_until_complete (server.wait_closed ());
    } catch (Error e) {
        check (false, "server: " + e.message);
    }

    /* yield on futures, from an async method driven by the loop. */
    var done = new Coop.Future (loop);
    waits.begin (loop, (obj, res) => {
        try {
            done.set_string (waits.end (res));
        } catch (Error e) {
            done.set_error (e.copy ());
        }
    });
    try {
        loop.run_until_complete (done);
        check (done.get_string () == "yielded", "yield future.wait ()");
    } catch (Error e) {
        check (false, "yield: " + e.message);
    }

    /* A cancelled wait leaves the future alone. */
    var pending = new Coop.Future (loop);
    var stop = new Cancellable ();
    var outcome = new Coop.Future (loop);
    pending.wait.begin (stop, (obj, res) => {
        try {
            pending.wait.end (res);
            outcome.set_string ("finished");
        } catch (IOError.CANCELLED e) {
            outcome.set_string ("cancelled");
        } catch (Error e) {
            outcome.set_string (e.message);
        }
    });
    stop.cancel ();
    try {
        loop.run_until_complete (outcome);
        check (outcome.get_string () == "cancelled", "the wait was cancelled");
        check (pending.get_state () == Coop.FutureState.PENDING, "the future itself is still pending");
    } catch (Error e) {
        check (false, e.message);
    }

    /* A D-Bus method served by a Vala task that awaits, on a private bus. */
    if (Environment.find_program_in_path ("dbus-daemon") != null) {
        try {
            var launcher = new SubprocessLauncher (SubprocessFlags.STDOUT_PIPE | SubprocessFlags.STDERR_SILENCE);
            var daemon = launcher.spawnv ({ "dbus-daemon", "--session", "--nofork", "--print-address" });
            var address = new DataInputStream (daemon.get_stdout_pipe ()).read_line ().strip ();
            var flags = DBusConnectionFlags.AUTHENTICATION_CLIENT | DBusConnectionFlags.MESSAGE_BUS_CONNECTION;
            var service_bus = new DBusConnection.for_address_sync (address, flags);
            var client_bus = new DBusConnection.for_address_sync (address, flags);
            var export = new Coop.DBusExport.for_xml (loop, service_bus, "/org/coop/Vala",
                "<node><interface name='org.coop.Vala'><method name='Twice'>" +
                "<arg type='i' direction='in'/><arg type='i' direction='out'/>" +
                "</method></interface></node>", "org.coop.Vala");
            export.add_method ("Twice", (invocation, parameters) => {
                Coop.await (Coop.sleep (loop, 1000));
                return new Variant ("(i)", parameters.get_child_value (0).get_int32 () * 2);
            });
            export.register ();
            var call = Coop.dbus_connection_call (loop, client_bus, service_bus.get_unique_name (),
                                                  "/org/coop/Vala", "org.coop.Vala", "Twice",
                                                  new Variant ("(i)", 21), new VariantType ("(i)"),
                                                  DBusCallFlags.NONE, -1);
            loop.run_until_complete (call);
            var reply = Coop.dbus_connection_call_finish (call);
            check (reply.get_child_value (0).get_int32 () == 42, "a D-Bus method served by a Vala task");
            export.unregister ();
            client_bus.close_sync ();
            service_bus.close_sync ();
            daemon.force_exit ();
            daemon.wait ();
        } catch (Error e) {
            check (false, "D-Bus: " + e.message);
        }
    }

    loop.close ();
    context.pop_thread_default ();
    print ("vala tasks: all checks passed\n");
    return 0;
}
