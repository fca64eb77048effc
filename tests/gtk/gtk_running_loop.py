# SPDX-License-Identifier: LGPL-2.1-or-later
"""asyncio from GTK signal handlers, run by tests/gtk/run-gtk-app.sh.

With coop.install() and Gtk.Application.run(), a button's "clicked"
handler, a GLib.timeout_add() callback and a handler inside a modal
dialog's nested GLib.MainLoop call asyncio.get_running_loop(),
asyncio.create_task(), asyncio.ensure_future() and asyncio.timeout() as a
coroutine would; after run() returns there is no running loop again.
GIO's own *_async calls (and Gdk's) made without a callback return
awaitable futures there, from a handler and inside a task.

Follows run-gtk-app.sh's convention: drives itself, prints READY, waits for
SIGUSR1, exits 0 if all went well (77 without GTK 4).
"""
import asyncio
import os
import signal
import sys

import gi

try:
    gi.require_version("Gtk", "4.0")
    from gi.repository import Gtk
except (ImportError, ValueError):
    print("GTK 4 is not available", file=sys.stderr)
    sys.exit(77)

import coop  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

TIMEOUT = int(os.environ.get("COOP_GTK_AUTOTEST_TIMEOUT", "60"))


class App(Gtk.Application):
    def __init__(self, loop):
        super().__init__(application_id="org.example.CoopRunningLoop")
        self.loop = loop
        self.seen = []        # (where, what a handler found)
        self.errors = []
        self.pending = 0      # tasks the handlers created, not yet run
        self.all_ran = None   # an asyncio.Event, once the tasks all ran
        self.window = None
        self.gio_future = None
        self.connect("activate", self.on_activate)

    def check(self, where):
        # What any handler does: asyncio as inside a coroutine.
        try:
            running = asyncio.get_running_loop()
            task = asyncio.create_task(self.work(where))
            future = asyncio.ensure_future(self.work(where + "/ensure_future"))
            asyncio.timeout(5)
            self.pending += 2
            self.seen.append((where, running is self.loop))
            return task, future
        except BaseException as exc:
            self.errors.append(f"{where}: {exc!r}")
            return None, None

    async def work(self, where):
        async with asyncio.timeout(TIMEOUT):
            await asyncio.sleep(0)
        self.seen.append((where + "/task", asyncio.get_running_loop() is self.loop))
        self.pending -= 1
        if self.pending == 0 and self.all_ran is not None:
            self.all_ran.set()

    def on_activate(self, app):
        self.window = Gtk.Window(application=self, title="asyncio in GTK handlers")
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=12)
        box.set_margin_top(24)
        box.set_margin_bottom(24)
        box.set_margin_start(24)
        box.set_margin_end(24)
        self.label = Gtk.Label(label="asyncio.get_running_loop() from GTK handlers")
        self.button = Gtk.Button(label="Create a task")
        self.button.connect("clicked", self.on_clicked)
        box.append(self.label)
        box.append(self.button)
        self.window.set_child(box)
        self.window.present()
        self.hold()
        asyncio.ensure_future(self.drive())

    def on_clicked(self, button):
        self.check("clicked")
        # A GIO call without its callback, from a signal handler.
        self.gio_future = Gio.File.new_for_path(__file__).load_contents_async()

    def on_timeout(self):
        self.check("timeout_add")
        return GLib.SOURCE_REMOVE

    def modal(self):
        # A modal dialog waited for in a nested main loop, from a handler.
        dialog = Gtk.Window(transient_for=self.window, modal=True, title="Modal")
        ok = Gtk.Button(label="OK")
        nested = GLib.MainLoop()

        def on_ok(button):
            self.check("modal")
            dialog.destroy()
            nested.quit()

        ok.connect("clicked", on_ok)
        dialog.set_child(ok)
        dialog.present()
        GLib.idle_add(lambda: (ok.activate(), GLib.SOURCE_REMOVE)[1])
        nested.run()
        self.seen.append(("after modal", asyncio.get_running_loop() is self.loop))

    async def drive(self):
        try:
            self.button.activate()
            done = asyncio.get_running_loop().create_future()
            GLib.timeout_add(1, lambda: (self.on_timeout(), done.set_result(None))[0])
            await done
            modal_closed = asyncio.get_running_loop().create_future()
            GLib.idle_add(lambda: (self.modal(), modal_closed.set_result(None))[0] or GLib.SOURCE_REMOVE)
            await modal_closed
            # GIO's own asynchronous calls, awaited: the one the click
            # handler started, and one made here.
            if not asyncio.isfuture(self.gio_future):
                raise AssertionError(f"clicked: load_contents_async() gave {self.gio_future!r}")
            _, contents, _ = await self.gio_future
            self.seen.append(("gio from handler", contents.startswith(b"# SPDX")))
            _, contents, _ = await Gio.File.new_for_path(__file__).load_contents_async()
            self.seen.append(("gio in task", contents.startswith(b"# SPDX")))
            # Another namespace's: Gdk.Clipboard.read_text_async().
            clipboard = self.window.get_clipboard()
            clipboard.set("copied by coop")
            text = await clipboard.read_text_async()
            self.seen.append(("gdk clipboard", text == "copied by coop"))
            self.all_ran = asyncio.Event()
            if self.pending > 0:
                await self.all_ran.wait()
            self.label.set_label(f"{len(self.seen)} checks from GTK handlers")
            # Photograph, then finish on SIGUSR1.
            usr1 = asyncio.get_running_loop().create_future()
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1,
                                 lambda: (usr1.done() or usr1.set_result(None), GLib.SOURCE_REMOVE)[1])
            print("READY", flush=True)
            await usr1
        except BaseException as exc:
            self.errors.append(f"drive: {exc!r}")
        finally:
            self.window.destroy()
            self.release()


def main():
    loop = coop.install()
    app = App(loop)
    GLib.timeout_add_seconds(TIMEOUT, lambda: (app.errors.append("timed out"), app.quit())[1])
    status = app.run([])
    expected = {"clicked", "clicked/task", "clicked/ensure_future/task",
                "timeout_add", "timeout_add/task", "timeout_add/ensure_future/task",
                "modal", "modal/task", "modal/ensure_future/task", "after modal",
                "gio from handler", "gio in task", "gdk clipboard"}
    where = {w for w, _ in app.seen}
    if status != 0 or app.errors or where != expected or not all(ok for _, ok in app.seen):
        print(f"FAILED: status {status}, errors {app.errors}, seen {sorted(app.seen)}",
              file=sys.stderr)
        return 1
    try:
        asyncio.get_running_loop()
        print("FAILED: a running loop after Gtk.Application.run() returned", file=sys.stderr)
        return 1
    except RuntimeError:
        pass
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
