#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# TLS from PyGObject: Coop.Stream.open_tls against a Python ssl server
# (a thread), with a test CA in a Gio.TlsFileDatabase.
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

import gi
gi.require_version("Coop", "1")
from gi.repository import Coop, Gio, GLib  # noqa: E402

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls-peer.py")


class GiTls(unittest.TestCase):
    def setUp(self):
        if not Gio.TlsBackend.get_default().supports_tls():
            self.skipTest("no GIO TLS backend")
        self.dir = tempfile.TemporaryDirectory()
        subprocess.run([sys.executable, PEER, "certs", self.dir.name], check=True)
        self.context = GLib.MainContext.new()
        self.context.push_thread_default()
        self.loop = Coop.Loop.new(self.context)

    def tearDown(self):
        self.loop.close()
        self.context.pop_thread_default()
        self.dir.cleanup()

    def serve_one(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(self.dir.name, "server.pem"),
                            os.path.join(self.dir.name, "server.key"))
        ctx.set_alpn_protocols(["x-coop-test"])
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)

        def run():
            raw, _ = ls.accept()
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(conn.recv(100).upper())
            except (ssl.SSLError, OSError):
                pass   # the client refused our certificate
            ls.close()

        thread = threading.Thread(target=run)
        thread.start()
        return ls.getsockname()[1], thread

    def test_open_tls(self):
        port, thread = self.serve_one()
        db = Gio.TlsFileDatabase.new(os.path.join(self.dir.name, "ca.pem"))
        opened = Coop.Stream.open_tls(self.loop, "localhost", port, db, ["x-coop-test"])
        self.assertTrue(self.loop.run_until_complete(opened))
        stream = opened.get_object()
        conn = stream.get_tls_connection()
        self.assertEqual(conn.get_negotiated_protocol(), "x-coop-test")
        self.assertIsNotNone(conn.get_peer_certificate())
        stream.write(GLib.Bytes.new(b"hello\n"))
        line = stream.read_line()
        self.assertTrue(self.loop.run_until_complete(line))
        self.assertEqual(line.get_value().get_data(), b"HELLO\n")
        stream.close()
        self.assertTrue(self.loop.run_until_complete(stream.wait_closed()))
        thread.join()

    def test_bad_certificate(self):
        port, thread = self.serve_one()
        opened = Coop.Stream.open_tls(self.loop, "localhost", port, None, None)
        with self.assertRaises(GLib.Error) as cm:
            self.loop.run_until_complete(opened)
            opened.propagate()
        self.assertEqual(cm.exception.domain, "g-tls-error-quark")
        self.assertIn("not signed by a trusted certificate authority", cm.exception.message)
        thread.join()


if __name__ == "__main__":
    unittest.main(verbosity=2)
