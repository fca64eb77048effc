#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The D-Bus futures from Python, through the typelib: calls with their
# typed results, D-Bus errors, bus names, an export's properties and
# signals, against a private dbus-daemon (skipped without one).
import ctypes
import shutil
import signal
import subprocess
import sys
import unittest

import gi
gi.require_version("Coop", "1")
gi.require_version("Gio", "2.0")
from gi.repository import Coop, Gio, GLib  # noqa: E402

XML = """
<node>
  <interface name='org.coop.Py'>
    <method name='Unserved'/>
    <property name='Count' type='i' access='read'/>
    <signal name='Ticked'><arg type='i'/></signal>
  </interface>
</node>
"""


def die_with_parent():
    # PR_SET_PDEATHSIG: the daemon goes with the test, even if it crashes.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


@unittest.skipIf(shutil.which("dbus-daemon") is None, "no dbus-daemon")
class DBus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        cls.address = cls.daemon.stdout.readline().decode().strip()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.terminate()
        cls.daemon.wait()
        cls.daemon.stdout.close()

    def setUp(self):
        self.context = GLib.MainContext.new()
        self.context.push_thread_default()
        self.loop = Coop.Loop.new(self.context)

    def tearDown(self):
        self.loop.close()
        self.context.pop_thread_default()

    def connect(self):
        future = Coop.dbus_connection_new_for_address(
            self.loop, self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None)
        self.loop.run_until_complete(future)
        return Coop.dbus_connection_new_for_address_finish(future)

    def test_call(self):
        bus = self.connect()
        call = Coop.dbus_connection_call(
            self.loop, bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus", "GetNameOwner", GLib.Variant("(s)", ("org.freedesktop.DBus",)),
            GLib.VariantType("(s)"), Gio.DBusCallFlags.NONE, -1)
        self.loop.run_until_complete(call)
        self.assertEqual(Coop.dbus_connection_call_finish(call).unpack(), ("org.freedesktop.DBus",))

        missing = Coop.dbus_connection_call(
            self.loop, bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus", "GetNameOwner", GLib.Variant("(s)", ("org.coop.Nobody",)),
            None, Gio.DBusCallFlags.NONE, -1)
        with self.assertRaises(GLib.Error) as caught:
            self.loop.run_until_complete(missing)
        self.assertEqual(Gio.DBusError.get_remote_error(caught.exception),
                         "org.freedesktop.DBus.Error.NameHasNoOwner")
        bus.close_sync(None)

    def test_names_and_export(self):
        service = self.connect()
        client = self.connect()
        owning = Coop.bus_own_name(self.loop, service, "org.coop.Py",
                                   Gio.BusNameOwnerFlags.DO_NOT_QUEUE)
        self.loop.run_until_complete(owning)
        owner_id = Coop.bus_own_name_finish(owning)
        self.assertGreater(owner_id, 0)

        watch = Coop.bus_watch_name(self.loop, client, "org.coop.Py",
                                    Gio.BusNameWatcherFlags.NONE)
        self.loop.run_until_complete(Coop.wait_for(watch, 10 * GLib.USEC_PER_SEC))
        self.assertEqual(Coop.bus_watch_name_finish(watch), service.get_unique_name())

        export = Coop.DBusExport.new_for_xml(self.loop, service, "/org/coop/Py", XML, "org.coop.Py")
        export.register()
        export.set_property("Count", GLib.Variant("i", 5))
        get = Coop.dbus_connection_call(
            self.loop, client, "org.coop.Py", "/org/coop/Py", "org.freedesktop.DBus.Properties",
            "Get", GLib.Variant("(ss)", ("org.coop.Py", "Count")), GLib.VariantType("(v)"),
            Gio.DBusCallFlags.NONE, -1)
        self.loop.run_until_complete(get)
        self.assertEqual(Coop.dbus_connection_call_finish(get).unpack(), (5,))
        self.assertTrue(export.emit_signal("Ticked", GLib.Variant("(i)", (1,))))

        # A method without a task body (bindings cannot give one) is unknown.
        unserved = Coop.dbus_connection_call(
            self.loop, client, "org.coop.Py", "/org/coop/Py", "org.coop.Py", "Unserved",
            None, None, Gio.DBusCallFlags.NONE, -1)
        with self.assertRaises(GLib.Error) as caught:
            self.loop.run_until_complete(unserved)
        self.assertEqual(Gio.DBusError.get_remote_error(caught.exception),
                         "org.freedesktop.DBus.Error.UnknownMethod")

        export.unregister()
        lost = Coop.bus_wait_name_lost(self.loop, owner_id)
        Coop.bus_unown_name(owner_id)
        self.loop.run_until_complete(lost)
        closing = Coop.dbus_connection_close(self.loop, client)
        self.loop.run_until_complete(closing)
        service.close_sync(None)


if __name__ == "__main__":
    sys.exit(unittest.main())
