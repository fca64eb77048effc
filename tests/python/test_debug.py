#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The task dump and future descriptions through introspection.
import sys
import unittest

import gi
gi.require_version("Coop", "1")
from gi.repository import Coop, GLib  # noqa: E402


class Debug(unittest.TestCase):
    def setUp(self):
        self.context = GLib.MainContext.new()
        self.context.push_thread_default()
        self.loop = Coop.Loop.new(self.context)

    def tearDown(self):
        self.loop.close()
        self.context.pop_thread_default()

    def test_describe(self):
        nap = Coop.sleep(self.loop, 5 * GLib.USEC_PER_SEC)
        self.assertTrue(nap.describe().startswith("sleep, due in "))
        lock = Coop.Lock.new(self.loop)
        self.assertTrue(lock.try_acquire())
        request = lock.acquire()
        self.assertIn("(locked, 1 waiting)", request.describe())
        both = Coop.gather(self.loop, [nap, request], False)
        self.assertIn("gather of 2, 2 pending", both.describe())
        nap.cancel(None)
        request.cancel(None)
        self.assertIn("[cancelled]", nap.describe())

    def test_dump(self):
        dump = self.loop.dump_tasks()
        self.assertTrue(dump.startswith("Coop loop "), dump)
        self.assertIn("0 live tasks", dump)
        self.assertEqual(self.loop.list_tasks(), [])

    def test_debug_flags(self):
        self.assertEqual(self.loop.get_debug(), Coop.DebugFlags.NONE)
        self.loop.set_debug(Coop.DebugFlags.SLOW | Coop.DebugFlags.BACKTRACES)
        self.assertEqual(self.loop.get_debug(), Coop.DebugFlags.SLOW | Coop.DebugFlags.BACKTRACES)
        self.loop.set_slow_duration(20000)
        self.assertEqual(self.loop.get_slow_duration(), 20000)
        self.assertIn("debug: slow backtraces", self.loop.dump_tasks())
        self.loop.set_debug(Coop.DebugFlags.NONE)

    def test_dump_signal(self):
        import signal
        self.assertTrue(self.loop.install_dump_signal(signal.SIGUSR1))
        self.assertTrue(self.loop.install_dump_signal(0))


if __name__ == "__main__":
    sys.exit(unittest.main())
