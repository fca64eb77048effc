#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""gtk_demo.py: hundreds of asyncio tasks inside a GTK 4 application.

The Python twin of examples/gtk/coop-gtk-demo.c.  ``coop.install()`` makes
asyncio's loop a ``coop.EventLoop`` on the default GLib main context, the
context ``Gtk.Application.run()`` iterates: asyncio tasks, timers and I/O
run whenever GTK's own main loop turns.  No second thread, no polling, no
``run_forever()``.

The Start button starts a few hundred asyncio tasks (300 by default) in an
``asyncio.TaskGroup`` held by a supervisor task.  Each task works in steps:
a random ``await asyncio.sleep()`` (one step in four awaits a
``Coop.sleep()`` instead: a future made by C code, awaited from Python) and
a little CPU work.  A grid shows every task's progress, a progress bar and
counters the totals, and a tick callback measures the longest gap between
two frames with the wall clock: it stays around one frame while the tasks
churn, so the window never freezes.  Cancel cancels the supervisor; the
task group cancels every worker, which sees ``CancelledError`` at its
``await`` and cleans up.

Self-driving mode (COOP_GTK_AUTOTEST=1 or --autotest; the convention of
tests/gtk/run-gtk-app.sh): presses Start once the window is on screen, waits
until COOP_GTK_DEMO_READY_AT percent of the steps are done (default 25),
watches SIGUSR1, prints READY, waits for SIGUSR1, presses Cancel (or closes
the window with COOP_GTK_DEMO_AUTOTEST_CLOSE=1), checks that every task
ended and the counts add up, and exits 0 (1 with a message otherwise, or
after COOP_GTK_AUTOTEST_TIMEOUT seconds).  Exits 77 if GTK 4 cannot be
imported.  The driver is itself an asyncio task.

Run from a build tree:

    PYTHONPATH=introspection/python GI_TYPELIB_PATH=_build/src \\
    LD_LIBRARY_PATH=_build/src /usr/bin/python3 examples/python/gtk_demo.py
"""

import argparse
import asyncio
import math
import os
import random
import signal
import sys
import time

import gi

try:
    gi.require_version("Gtk", "4.0")
    from gi.repository import Gtk
except (ImportError, ValueError) as exc:
    print(f"SKIP: GTK 4 cannot be imported: {exc}", file=sys.stderr)
    sys.exit(77)
try:
    # The grid's draw function gets a cairo.Context: PyGObject needs its
    # cairo integration (Debian: python3-gi-cairo) to hand it over.
    gi.require_foreign("cairo")
except ImportError as exc:
    print(f"SKIP: PyGObject has no cairo support (python3-gi-cairo): {exc}", file=sys.stderr)
    sys.exit(77)

import coop  # noqa: E402
from gi.repository import Coop, Gio, GLib  # noqa: E402

APP_ID = "org.coop.PyGtkDemo"
DEFAULT_TASKS = 300
DEFAULT_CPU_USEC = 100
MIN_STEPS, MAX_STEPS = 8, 60
MIN_NAP, MAX_NAP = 0.020, 0.250          # seconds
COOP_SLEEP_EVERY = 4                     # one step in four awaits Coop.sleep()
AUTOTEST_GOAL = 25                       # percent of the steps before READY
SHUTDOWN_LIMIT = 5.0                     # seconds

WAITING, RUNNING, FINISHED, CANCELLED, FAILED = range(5)
COLOURS = {
    WAITING: (0.36, 0.36, 0.38),
    RUNNING: (0.21, 0.52, 0.89),
    FINISHED: (0.20, 0.82, 0.48),
    CANCELLED: (0.90, 0.38, 0.00),
    FAILED: (0.88, 0.11, 0.14),
}
UNFILLED = (0.20, 0.24, 0.32)


def env_int(name, default, low, high):
    try:
        return min(max(int(os.environ[name]), low), high)
    except (KeyError, ValueError):
        return default


def crunch(buffer, usec):
    """Stands for real work: ``usec`` microseconds of arithmetic."""
    until = time.monotonic() + usec / 1e6
    h = 14695981039346656037
    while True:
        for i in range(0, len(buffer), 8):
            h = ((h ^ buffer[i]) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
            buffer[i] = (h >> 32) & 0xFF
        if time.monotonic() >= until:
            return h


class Worker:
    __slots__ = ("index", "n_steps", "step", "state")

    def __init__(self, index):
        self.index = index
        self.n_steps = random.randint(MIN_STEPS, MAX_STEPS)
        self.step = 0
        self.state = WAITING


class Run:
    """One press of Start: the supervisor, its workers and their counts."""

    def __init__(self, n_tasks):
        self.workers = [Worker(i) for i in range(n_tasks)]
        self.n_tasks = n_tasks
        self.steps_total = sum(w.n_steps for w in self.workers)
        self.steps_done = 0
        self.n_started = 0       # created in the task group
        self.n_running = 0       # coroutine entered and not yet returned
        self.n_finished = 0      # ended with a result
        self.n_cancelled = 0     # ended cancelled
        self.n_failed = 0        # ended with another exception
        self.n_done = 0          # done callbacks run
        self.n_cleaned_up = 0    # saw CancelledError in their coroutine
        self.n_coop_sleeps = 0   # Coop.sleep() futures awaited to the end
        self.started = time.monotonic()
        self.ended_at = None
        self.max_gap = 0.0       # seconds, longest gap between frames
        self.supervisor = None
        self.supervisor_done = False
        self.cancel_requested = False
        self.ended = False

    @property
    def active(self):
        return not self.ended

    def check(self):
        """What is wrong with the counts of an ended run, or None."""
        if self.n_started != self.n_tasks:
            return f"{self.n_started} tasks started, {self.n_tasks} asked for"
        if self.n_finished + self.n_cancelled + self.n_failed != self.n_started:
            return (f"finished {self.n_finished} + cancelled {self.n_cancelled} + "
                    f"failed {self.n_failed} != started {self.n_started}")
        if self.n_failed:
            return f"{self.n_failed} tasks failed"
        if self.n_running:
            return f"{self.n_running} tasks still running after the run ended"
        if self.n_cleaned_up > self.n_cancelled:
            return (f"{self.n_cleaned_up} tasks cleaned up after a cancellation, "
                    f"only {self.n_cancelled} cancelled")
        for w in self.workers:
            if w.state == FINISHED and w.step != w.n_steps:
                return f"worker {w.index} finished after {w.step} of {w.n_steps} steps"
            if w.state not in (FINISHED, CANCELLED):
                return f"worker {w.index} did not end"
        return None


class Demo:
    def __init__(self, args):
        self.n_tasks = args.tasks
        self.cpu_usec = args.cpu_usec
        self.autotest = args.autotest
        self.autotest_close = "COOP_GTK_DEMO_AUTOTEST_CLOSE" in os.environ
        self.autotest_timeout = env_int("COOP_GTK_AUTOTEST_TIMEOUT", 60, 1, 3600)
        self.autotest_goal = env_int("COOP_GTK_DEMO_READY_AT", AUTOTEST_GOAL, 1, 99)
        self.exit_status = 0

        # asyncio's loop is now a coop.EventLoop on the default GLib
        # context: the one Gtk.Application.run() iterates.
        self.loop = coop.install()
        self.loop.set_exception_handler(self.on_loop_exception)

        self.run = None
        self.dirty = False
        self.quit_when_ended = False
        self.window = None

        # The frame clock, as the tick callback sees it.
        self.n_frames = 0
        self.last_tick = 0.0
        self.max_gap = 0.0
        self.fps = 0.0
        self.fps_frames = 0
        self.fps_since = 0.0

        # Self-driving mode.
        self.driver = None
        self.driver_reported = False
        self.shown = asyncio.Event()
        self.progressed = asyncio.Event()
        self.run_ended = asyncio.Event()

        self.app = Gtk.Application(application_id=APP_ID,
                                   flags=Gio.ApplicationFlags.NON_UNIQUE)
        self.app.connect("activate", self.on_activate)
        self.app.connect("shutdown", self.on_shutdown)

    def on_loop_exception(self, loop, context):
        # Whatever asyncio could not give to anyone (an exception nobody
        # retrieved, a callback that raised) is a bug in this demo.
        loop.default_exception_handler(context)
        self.exit_status = 1

    # --- the workers ----------------------------------------------------------

    async def work(self, run, worker):
        coop_loop = self.loop.coop_loop
        buffer = bytearray(256)      # a resource the worker holds while it runs
        checksum = 0
        worker.state = RUNNING
        run.n_running += 1
        self.dirty = True
        try:
            while worker.step < worker.n_steps:
                nap = random.uniform(MIN_NAP, MAX_NAP)
                if worker.step % COOP_SLEEP_EVERY == COOP_SLEEP_EVERY - 1:
                    # A future made by C (coop_sleep()), awaited as any
                    # asyncio awaitable; cancelling this task cancels it.
                    await Coop.sleep(coop_loop, int(nap * 1e6))
                    run.n_coop_sleeps += 1
                else:
                    await asyncio.sleep(nap)
                if self.cpu_usec:
                    checksum ^= crunch(buffer, self.cpu_usec)
                worker.step += 1
                run.steps_done += 1
                self.dirty = True
        except asyncio.CancelledError:
            run.n_cleaned_up += 1    # the clean-up a real task would do
            raise
        finally:
            del buffer
            run.n_running -= 1
            self.dirty = True
        return checksum

    def worker_done(self, run, worker, task):
        if task.cancelled():
            worker.state = CANCELLED
            run.n_cancelled += 1
        elif task.exception() is not None:
            worker.state = FAILED
            run.n_failed += 1
            print(f"worker {worker.index} failed: {task.exception()!r}", file=sys.stderr)
        else:
            worker.state = FINISHED
            run.n_finished += 1
        run.n_done += 1
        self.dirty = True
        self.run_maybe_end(run)

    async def supervise(self, run):
        """Runs every worker in a task group.  Cancelling the supervisor
        cancels them all (the group does it), and the supervisor ends once
        they have all cleaned up."""
        async with asyncio.TaskGroup() as group:
            for worker in run.workers:
                task = group.create_task(self.work(run, worker), name=f"worker-{worker.index}")
                task.add_done_callback(lambda t, w=worker: self.worker_done(run, w, t))
                run.n_started += 1
            self.dirty = True

    def supervisor_done(self, run, task):
        if not task.cancelled() and task.exception() is not None:
            print(f"the run failed: {task.exception()!r}", file=sys.stderr)
        run.supervisor_done = True
        self.run_maybe_end(run)

    def run_maybe_end(self, run):
        if run.ended or not run.supervisor_done or run.n_done < run.n_started:
            return
        run.ended = True
        run.ended_at = time.monotonic()
        self.dirty = True
        problem = run.check()
        print(f"run of {run.n_started} tasks ended after {run.ended_at - run.started:.2f} s: "
              f"{run.n_finished} finished, {run.n_cancelled} cancelled ({run.n_cleaned_up} saw "
              f"the cancellation in their coroutine), {run.n_failed} failed; "
              f"{run.steps_done} steps, {run.n_coop_sleeps} of them on Coop.sleep(); "
              f"longest gap between frames {run.max_gap * 1000:.1f} ms"
              + (f"; INCONSISTENT: {problem}" if problem else ""), flush=True)
        if problem:
            self.exit_status = 1
        self.spinner.stop()
        self.update_controls()
        self.run_ended.set()
        if self.quit_when_ended and self.window is not None:
            # Python holds a reference: the "destroy" signal would only
            # come once it is dropped, so forget the window here.
            window, self.window = self.window, None
            window.destroy()

    def start_run(self):
        if self.run is not None and self.run.active:
            return
        self.n_tasks = self.tasks_spin.get_value_as_int()
        run = self.run = Run(self.n_tasks)
        # A GTK signal handler is not a coroutine: no running loop here, so
        # the task is created on the loop explicitly.
        run.supervisor = self.loop.create_task(self.supervise(run), name="supervisor")
        run.supervisor.add_done_callback(lambda t: self.supervisor_done(run, t))
        self.dirty = True
        self.spinner.start()
        self.update_controls()

    def cancel_run(self):
        run = self.run
        if run is None or not run.active or run.cancel_requested:
            return
        run.cancel_requested = True
        run.supervisor.cancel("Cancelled from the window")
        self.update_controls()

    # --- the window ---------------------------------------------------------------

    def build_window(self):
        self.window = win = Gtk.ApplicationWindow(application=self.app,
                                                  title="asyncio tasks in GTK (Python on Coop)")
        win.set_default_size(900, 640)
        win.connect("close-request", self.on_close_request)
        win.connect("destroy", self.on_window_destroy)

        header = Gtk.HeaderBar()
        self.spinner = Gtk.Spinner()
        header.pack_end(self.spinner)
        win.set_titlebar(header)

        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=8,
                      margin_start=12, margin_end=12, margin_top=12, margin_bottom=12)
        win.set_child(box)

        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=8)
        box.append(row)
        row.append(Gtk.Label(label="Tasks:"))
        self.tasks_spin = Gtk.SpinButton.new_with_range(1, 20000, 50)
        self.tasks_spin.set_value(self.n_tasks)
        row.append(self.tasks_spin)
        self.start_button = Gtk.Button.new_with_mnemonic("_Start")
        self.start_button.add_css_class("suggested-action")
        self.start_button.connect("clicked", lambda *_: self.start_run())
        row.append(self.start_button)
        self.cancel_button = Gtk.Button.new_with_mnemonic("_Cancel")
        self.cancel_button.add_css_class("destructive-action")
        self.cancel_button.connect("clicked", lambda *_: self.cancel_run())
        row.append(self.cancel_button)

        self.progress = Gtk.ProgressBar(show_text=True)
        box.append(self.progress)
        self.counts_label = Gtk.Label(xalign=0)
        box.append(self.counts_label)
        self.frames_label = Gtk.Label(xalign=0)
        box.append(self.frames_label)

        self.grid = Gtk.DrawingArea(hexpand=True, vexpand=True)
        self.grid.set_draw_func(self.draw_grid)
        box.append(self.grid)

        legend = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=16)
        for state, text in ((WAITING, "waiting"), (RUNNING, "running (fills up with its steps)"),
                            (FINISHED, "finished"), (CANCELLED, "cancelled"), (FAILED, "failed")):
            r, g, b = (int(c * 255) for c in COLOURS[state])
            label = Gtk.Label()
            label.set_markup(f'<span foreground="#{r:02x}{g:02x}{b:02x}">■</span> {text}')
            legend.append(label)
        box.append(legend)

        win.add_tick_callback(self.on_tick)
        self.update_counts()
        self.update_controls()
        self.update_frames()

    def update_controls(self):
        active = self.run is not None and self.run.active
        self.start_button.set_sensitive(not active)
        self.tasks_spin.set_sensitive(not active)
        self.cancel_button.set_sensitive(active and not self.run.cancel_requested)

    def update_counts(self):
        run = self.run
        if run is None:
            self.counts_label.set_text("Press Start to run the tasks.")
            return
        fraction = run.steps_done / run.steps_total if run.steps_total else 0.0
        self.progress.set_fraction(fraction)
        self.progress.set_text(f"{run.steps_done} / {run.steps_total} steps ({100 * fraction:.0f} %)")
        self.counts_label.set_text(
            f"started {run.n_started} · running {run.n_running} · finished {run.n_finished} · "
            f"cancelled {run.n_cancelled} · failed {run.n_failed}" + (" · ended" if run.ended else ""))
        if 100 * fraction >= self.autotest_goal:
            self.progressed.set()

    def update_frames(self):
        text = (f"frames {self.n_frames} · {self.fps:.0f} fps · longest gap between frames: ")
        run = self.run
        if run is not None:
            text += (f"{run.max_gap * 1000:.1f} ms during the {'last' if run.ended else 'current'} "
                     f"run, {self.max_gap * 1000:.1f} ms since the window opened")
        else:
            text += f"{self.max_gap * 1000:.1f} ms since the window opened"
        self.frames_label.set_text(text)

    def on_tick(self, widget, clock):
        """Called before every frame: measures the time since the previous
        one (wall clock: the frame clock's frame time is smoothed) and
        redraws what changed, at most once per frame however many task
        steps ran in between."""
        now = time.monotonic()
        record = False
        if self.last_tick:
            gap = now - self.last_tick
            # The first frames of a window include its mapping: skip them.
            if self.n_frames > 10 and gap > self.max_gap:
                self.max_gap = gap
                record = True
            if self.run is not None and self.run.active and gap > self.run.max_gap:
                self.run.max_gap = gap
                record = True
        self.last_tick = now
        self.n_frames += 1
        self.fps_frames += 1
        if not self.fps_since:
            self.fps_since = now
        elif now - self.fps_since >= 0.5:
            self.fps = self.fps_frames / (now - self.fps_since)
            self.fps_frames = 0
            self.fps_since = now
        if self.n_frames == 10:
            self.shown.set()
        if self.dirty:
            self.dirty = False
            self.update_counts()
            self.grid.queue_draw()
        if record or self.n_frames % 8 == 0:
            self.update_frames()
        return GLib.SOURCE_CONTINUE

    def draw_grid(self, area, cr, width, height):
        """One cell per task, coloured by its state; a running task's cell
        fills up from the bottom with its steps.  Cells are batched by
        colour: one fill per colour, not per cell."""
        cr.set_source_rgb(0.12, 0.12, 0.14)
        cr.paint()
        run = self.run
        if run is None or run.n_tasks == 0 or width <= 0 or height <= 0:
            return
        cols = max(1, math.ceil(math.sqrt(run.n_tasks * width / height)))
        rows = (run.n_tasks + cols - 1) // cols
        cell_w, cell_h = width / cols, height / rows
        pad = 1.5 if min(cell_w, cell_h) > 8 else 0.5
        w, h = cell_w - 2 * pad, cell_h - 2 * pad
        by_state = {state: [] for state in COLOURS}
        for worker in run.workers:
            by_state[worker.state].append(worker)
        for state, workers in by_state.items():
            if not workers:
                continue
            if state == RUNNING:
                cr.set_source_rgb(*UNFILLED)
                for worker in workers:
                    i = worker.index
                    filled = h * worker.step / max(1, worker.n_steps)
                    cr.rectangle((i % cols) * cell_w + pad, (i // cols) * cell_h + pad, w, h - filled)
                cr.fill()
            cr.set_source_rgb(*COLOURS[state])
            for worker in workers:
                i = worker.index
                x, y = (i % cols) * cell_w + pad, (i // cols) * cell_h + pad
                if state == RUNNING:
                    filled = h * worker.step / max(1, worker.n_steps)
                    cr.rectangle(x, y + h - filled, w, filled)
                else:
                    cr.rectangle(x, y, w, h)
            cr.fill()

    def on_close_request(self, window):
        """Closing the window during a run cancels it; the window goes away
        once every task is done, so no task outlives what it draws into."""
        if self.run is None or not self.run.active:
            self.window = None       # GTK destroys it
            return False
        self.quit_when_ended = True
        self.cancel_run()
        return True

    def on_window_destroy(self, window):
        self.window = None

    # --- self-driving mode -----------------------------------------------------------

    async def drive(self):
        """The test driver, an asyncio task like the workers: it presses the
        buttons as a user would (Gtk.Widget.activate) and awaits what they
        cause, all under one deadline."""
        async with asyncio.timeout(self.autotest_timeout):
            await self.shown.wait()
            self.start_button.activate()
            await self.progressed.wait()
            run = self.run
            await asyncio.sleep(0.1)     # a few more frames, so the screen shows it

            # Watch SIGUSR1 before saying READY: the harness answers with it.
            # GLib's handler, on the default context that GTK iterates.
            go_on = self.loop.create_future()

            def on_sigusr1():
                if not go_on.done():
                    go_on.set_result(None)
                return GLib.SOURCE_REMOVE

            source_id = GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, on_sigusr1)
            try:
                print("READY", flush=True)
                await go_on
            finally:
                if not go_on.done():
                    GLib.source_remove(source_id)
            print(f"continuing: {run.steps_done} of {run.steps_total} steps done, "
                  f"{run.n_finished} finished, {run.n_running} running", flush=True)

            if self.autotest_close:
                print("closing the window", flush=True)
                self.window.close()
            else:
                self.cancel_button.activate()
            await self.run_ended.wait()

        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            raise AssertionError(f"{len(others)} tasks still live after the run ended")
        if not run.cancel_requested:
            raise AssertionError("the run was not cancelled")
        if self.autotest_close and self.window is not None:
            raise AssertionError("the window is still there after the run ended")
        if run.n_cancelled == 0:
            raise AssertionError("Cancel was pressed but no task ended cancelled")
        if run.n_finished == 0:
            raise AssertionError("no task finished before Cancel was pressed")
        if run.n_cleaned_up == 0:
            raise AssertionError("no task saw CancelledError in its coroutine")
        if run.n_coop_sleeps == 0:
            raise AssertionError("no Coop.sleep() future was awaited")
        problem = run.check()
        if problem:
            raise AssertionError(problem)
        print(f"longest gap between frames: {run.max_gap * 1000:.1f} ms during the run, "
              f"{self.max_gap * 1000:.1f} ms since the window opened ({self.fps:.0f} fps)",
              flush=True)

    def driver_done(self, task):
        if task.cancelled():
            print("autotest: the driver was cancelled", file=sys.stderr)
            self.exit_status = 1
        elif isinstance(task.exception(), TimeoutError):
            print(f"autotest: timed out after {self.autotest_timeout} s", file=sys.stderr)
            self.exit_status = 1
        elif task.exception() is not None:
            print(f"autotest: {task.exception()}", file=sys.stderr)
            self.exit_status = 1
        else:
            print("autotest: passed", flush=True)
        self.driver_reported = True
        # Closing the window cancels a run that is still going; the
        # application quits once the window is gone.
        if self.window is not None:
            self.window.close()
        self.app.release()

    # --- the application ---------------------------------------------------------------

    def on_activate(self, app):
        if self.window is not None:
            self.window.present()
            return
        self.build_window()
        self.window.present()
        self.start_button.grab_focus()
        if self.autotest:
            self.driver = self.loop.create_task(self.drive(), name="autotest")
            self.driver.add_done_callback(self.driver_done)
            # The application stays up until the driver has reported, even
            # if the window goes away first.
            app.hold()

    def on_shutdown(self, app):
        """The main loop has stopped: cancel and await whatever still runs,
        then close the loop."""
        pending = []
        if self.run is not None and self.run.active:
            self.cancel_run()
            pending.append(self.run_ended.wait())
        if self.driver is not None and not self.driver_reported:
            self.driver.cancel("The application is shutting down")
            pending.append(asyncio.wait([self.driver]))
        if pending:
            # Nobody iterates the context any more: run it until those end.
            try:
                self.loop.run_until_complete(
                    asyncio.wait_for(asyncio.gather(*pending), SHUTDOWN_LIMIT))
            except TimeoutError:
                print("tasks still running at shutdown", file=sys.stderr)
                self.exit_status = 1
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        asyncio.set_event_loop(None)

    def main(self, argv):
        status = self.app.run(argv)
        if not self.loop.is_closed():     # never activated (--help, ...)
            self.loop.close()
        return status or self.exit_status


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--tasks", type=int,
                        default=env_int("COOP_GTK_DEMO_TASKS", DEFAULT_TASKS, 1, 20000),
                        help=f"how many tasks Start runs (default {DEFAULT_TASKS})")
    parser.add_argument("--cpu-usec", type=int,
                        default=env_int("COOP_GTK_DEMO_CPU_USEC", DEFAULT_CPU_USEC, 0, 100000),
                        help=f"microseconds of CPU work per step (default {DEFAULT_CPU_USEC})")
    parser.add_argument("--autotest", action="store_true",
                        default=os.environ.get("COOP_GTK_AUTOTEST", "0") != "0",
                        help="drive the window by itself (see COOP_GTK_AUTOTEST)")
    args, rest = parser.parse_known_args()
    if not 1 <= args.tasks <= 20000 or not 0 <= args.cpu_usec <= 100000:
        parser.error("--tasks wants 1 to 20000, --cpu-usec 0 to 100000")
    return Demo(args).main([sys.argv[0]] + rest)


if __name__ == "__main__":
    sys.exit(main())
