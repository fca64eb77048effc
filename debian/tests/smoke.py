#!/usr/bin/python3
# Coop from Python at the GObject-introspection level: a loop, futures, the
# done signal, a sleep under a time limit, errors as GLib.Error.
# SPDX-License-Identifier: LGPL-2.1-or-later
import gi

gi.require_version("Coop", "1")
from gi.repository import Coop, GLib  # noqa: E402

loop = Coop.Loop.get_default()

future = Coop.Future.new(loop)
seen = []
future.connect("done", lambda f: seen.append(f.get_string()))
loop.call_soon(lambda _data: future.set_string("hello"), None)
assert loop.run_until_complete(future)
assert future.get_string() == "hello"
while GLib.MainContext.default().iteration(False):
    pass
assert seen == ["hello"], seen

# A 10 s sleep under a 20 ms limit times out.
limited = Coop.wait_for(Coop.sleep(loop, 10 * GLib.USEC_PER_SEC), 20 * 1000)
try:
    loop.run_until_complete(limited)
    raise AssertionError("the time limit did not fire")
except GLib.Error as error:
    assert error.matches(GLib.quark_from_string("g-io-error-quark"), 24), error  # TIMED_OUT

loop.close()
print("python: Coop %s from %s: ok" % (gi.Repository.get_default().get_version("Coop"),
                                       gi.Repository.get_default().get_typelib_path("Coop")))
