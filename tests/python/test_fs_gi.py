#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The file calls and Coop.FutureListModel from PyGObject: the _bytes
# variants, whole files, stat, and a list model of results.
import os
import tempfile
import unittest

import gi
gi.require_version("Coop", "1")
from gi.repository import Coop, Gio, GLib  # noqa: E402


class FsFromPython(unittest.TestCase):
    def setUp(self):
        self.context = GLib.MainContext.new()
        self.context.push_thread_default()
        self.loop = Coop.Loop.new(self.context)
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.loop.close()
        self.context.pop_thread_default()
        self.dir.cleanup()

    def run_until(self, future):
        self.loop.run_until_complete(future)
        return future

    def test_save_load_stat(self):
        path = os.path.join(self.dir.name, "f")
        self.run_until(Coop.fs_save(self.loop, path, GLib.Bytes.new(b"hello"), True))
        loaded = self.run_until(Coop.fs_load(self.loop, path))
        self.assertEqual(loaded.get_bytes().get_data(), b"hello")
        stat = self.run_until(Coop.fs_stat_path(self.loop, path))
        st = stat.get_value()
        self.assertEqual(st.size, 5)
        self.assertEqual(st.ino, os.stat(path).st_ino)
        self.assertIn(Coop.Loop.get_fs_backend(self.loop), ("io_uring", "threads"))

    def test_fd_calls(self):
        path = os.path.join(self.dir.name, "g")
        fd = self.run_until(Coop.fs_open(self.loop, path, os.O_RDWR | os.O_CREAT, 0o600)).get_int64()
        written = self.run_until(Coop.fs_write_bytes(self.loop, fd, GLib.Bytes.new(b"abcdef"), 0))
        self.assertEqual(written.get_int64(), 6)
        self.run_until(Coop.fs_fsync(self.loop, fd, False))
        data = self.run_until(Coop.fs_read_bytes(self.loop, fd, 3, 2)).get_bytes().get_data()
        self.assertEqual(data, b"cde")
        self.run_until(Coop.fs_close(self.loop, fd))
        with self.assertRaises(GLib.Error):
            self.run_until(Coop.fs_load(self.loop, os.path.join(self.dir.name, "missing"))).get_bytes()

    def test_future_list_model(self):
        model = Coop.FutureListModel.new(Gio.SimpleAction)
        changes = []
        model.connect("items-changed", lambda m, pos, removed, added: changes.append((pos, removed, added)))
        futures = [Coop.Future.new(self.loop) for _ in range(3)]
        for f in futures:
            model.add(f)
        futures[2].set_object(Gio.SimpleAction.new("two", None))
        futures[0].set_object(Gio.SimpleAction.new("zero", None))
        futures[1].cancel(None)
        while model.get_n_pending() > 0:
            self.context.iteration(True)
        self.assertEqual([model.get_item(i).get_name() for i in range(model.get_n_items())], ["two", "zero"])
        self.assertEqual(changes, [(0, 0, 1), (1, 0, 1)])
        self.assertEqual(model.props.n_failed, 1)


if __name__ == "__main__":
    unittest.main()
