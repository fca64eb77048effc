#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Introspection smoke test: the typelib loads and the core API is callable
# from PyGObject.  (Full Python integration is a later piece of work.)
import sys
import unittest

import gi
gi.require_version("Coop", "1")
from gi.repository import Coop, GLib, GObject  # noqa: E402


class GiSmoke(unittest.TestCase):
    def setUp(self):
        self.context = GLib.MainContext.new()
        self.context.push_thread_default()
        self.loop = Coop.Loop.new(self.context)

    def tearDown(self):
        self.loop.close()
        self.context.pop_thread_default()

    def test_future_value(self):
        future = Coop.Future.new(self.loop)
        self.assertEqual(future.get_state(), Coop.FutureState.PENDING)
        future.set_int64(2 ** 40)
        self.assertTrue(future.is_done())
        self.assertEqual(future.get_int64(), 2 ** 40)
        self.assertEqual(future.props.state, Coop.FutureState.FINISHED)

    def test_call_soon_and_run(self):
        order = []
        future = Coop.Future.new(self.loop)

        def first(_data):
            order.append(1)

        def second(_data):
            order.append(2)
            future.set_string("done")

        self.loop.call_soon(first, None)
        self.loop.call_soon(second, None)
        self.assertEqual(order, [])
        self.assertTrue(self.loop.run_until_complete(future))
        self.assertEqual(order, [1, 2])
        self.assertEqual(future.get_string(), "done")

    def test_gio_wrappers(self):
        # The GIO wrappers and their typed getters, from a binding.
        import os
        import tempfile
        from gi.repository import Gio
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "f")
            gfile = Gio.File.new_for_path(path)
            data = GLib.Bytes.new(b"from python")
            saved = Coop.file_replace_contents(self.loop, gfile, data, None, False,
                                               Gio.FileCreateFlags.NONE, None)
            self.assertTrue(self.loop.run_until_complete(saved))
            loaded = Coop.file_load_contents(self.loop, gfile, None)
            self.assertTrue(self.loop.run_until_complete(loaded))
            self.assertEqual(loaded.get_bytes().get_data(), b"from python")
            info = Coop.file_query_info(self.loop, gfile, "standard::size",
                                        Gio.FileQueryInfoFlags.NONE, GLib.PRIORITY_DEFAULT, None)
            self.assertTrue(self.loop.run_until_complete(info))
            self.assertEqual(info.get_file_info().get_size(), 11)
            missing = Coop.file_query_exists(self.loop, Gio.File.new_for_path(path + "x"), None)
            self.assertTrue(self.loop.run_until_complete(missing))
            self.assertFalse(missing.get_boolean())
            enum = Coop.file_enumerate_children(self.loop, Gio.File.new_for_path(tmp), "standard::name",
                                                Gio.FileQueryInfoFlags.NONE, GLib.PRIORITY_DEFAULT, None)
            self.assertTrue(self.loop.run_until_complete(enum))
            batch = Coop.file_enumerator_next_files(self.loop, enum.get_file_enumerator(), 10,
                                                    GLib.PRIORITY_DEFAULT, None)
            self.assertTrue(self.loop.run_until_complete(batch))
            self.assertEqual([i.get_name() for i in batch.get_file_infos()], ["f"])

    def test_errors_are_exceptions(self):
        future = Coop.Future.new(self.loop)
        future.cancel("stop")
        with self.assertRaises(GLib.Error) as cm:
            future.propagate()
        self.assertTrue(cm.exception.matches(Gio_error_quark(), 19))  # G_IO_ERROR_CANCELLED
        with self.assertRaises(GLib.Error) as cm:
            getattr(Coop, "await")(Coop.Future.new(self.loop))
        self.assertEqual(cm.exception.domain, "coop-error-quark")
        self.assertEqual(cm.exception.code, Coop.Error.NOT_IN_TASK)

    def test_done_signal(self):
        future = Coop.Future.new(self.loop)
        seen = []
        future.connect("done", lambda f: seen.append(f.get_int64()))
        future.set_int64(5)
        self.assertEqual(seen, [])          # never inside set_*()
        while self.context.iteration(False):
            pass
        self.assertEqual(seen, [5])

    def test_fiber_entry_points_skipped(self):
        # They run C on a fiber (a binding's callback would be refused with
        # NOT_SUPPORTED), so they are not introspected at all: bindings
        # bridge their own coroutines through Coop.Future.
        for cls, name in ((Coop.Task, "new"), (Coop.Task, "new_full"),
                          (Coop.Task, "new_for_gtask"),
                          (Coop.TaskGroup, "spawn"),
                          (Coop.Server, "new_tcp"), (Coop.Server, "new_unix")):
            self.assertNotIn(name, vars(cls), name)
        self.assertFalse(hasattr(Coop.TaskGroup, "spawn"))

    def test_sleep_and_wait_for(self):
        never = Coop.Future.new(self.loop)
        limited = Coop.wait_for(never, 1000)
        with self.assertRaises(GLib.Error) as cm:
            self.loop.run_until_complete(limited)
        self.assertTrue(never.is_cancelled())
        nap = Coop.sleep(self.loop, 1000)
        self.assertTrue(self.loop.run_until_complete(nap))


class GiSync(unittest.TestCase):
    """The synchronisation types through introspection (their futures are
    driven with the loop here; awaiting them from asyncio is separate)."""

    def setUp(self):
        self.context = GLib.MainContext.new()
        self.context.push_thread_default()
        self.loop = Coop.Loop.new(self.context)

    def tearDown(self):
        self.loop.close()
        self.context.pop_thread_default()

    def test_lock_fifo(self):
        lock = Coop.Lock.new(self.loop)
        first = lock.acquire()
        second = lock.acquire()
        self.assertTrue(first.is_done())
        self.assertFalse(second.is_done())
        self.assertTrue(lock.is_locked())
        lock.release()
        self.assertTrue(second.is_done())
        lock.release()
        self.assertFalse(lock.is_locked())

    def test_queue(self):
        queue = Coop.Queue.new(self.loop, 2, Coop.QueueOrder.FIFO)
        queue.put_nowait("a", 0)
        queue.put_nowait("b", 0)
        with self.assertRaises(GLib.Error) as cm:
            queue.put_nowait("c", 0)
        self.assertEqual(cm.exception.code, Coop.Error.QUEUE_FULL)
        got = queue.get()
        self.assertTrue(self.loop.run_until_complete(got))
        self.assertEqual(got.get_string(), "a")
        self.assertEqual(queue.get_size(), 1)

    def test_event_and_group(self):
        event = Coop.Event.new(self.loop)
        waiting = event.wait()
        self.assertFalse(waiting.is_done())
        event.set()
        self.assertTrue(waiting.is_done())
        group = Coop.TaskGroup.new(self.loop)
        member = Coop.Future.new(self.loop)
        self.assertTrue(group.add(member))
        group.close()
        member.set_int64(1)
        self.assertTrue(group.is_done())

    def test_as_completed(self):
        futures = [Coop.Future.new(self.loop) for _ in range(3)]
        it = Coop.AsCompleted.new(self.loop, futures)
        nxt = it.next()
        futures[2].set_int64(2)
        self.assertTrue(self.loop.run_until_complete(nxt))
        self.assertEqual(nxt.get_object(), futures[2])


def Gio_error_quark():
    from gi.repository import Gio
    return Gio.io_error_quark()


if __name__ == "__main__":
    unittest.main(verbosity=2)
