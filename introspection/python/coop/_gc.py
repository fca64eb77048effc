# SPDX-License-Identifier: LGPL-2.1-or-later
"""The pace of CPython's cyclic garbage collector while event loops live.

Why: a loop with thousands of tasks in flight keeps tens of thousands of
young objects alive at any instant (each runnable task's handle, its step
wrapper, the coroutine of the ``sleep()`` it awaits, ...).  CPython's
collector walks every live young object at each generation-1 collection,
finds them all alive, and promotes them to the old generation, where they
die soon after - but they count as new old objects, so they also bring on
full collections.  At 10,000 churning tasks that is some 20 collections of
3 ms and two of 12 ms per second, walked in the middle of whatever runs: a
60 Hz frame source is late by that much (bench/run's respons workload).

What: while at least one :class:`coop.EventLoop` is open, the collector's
second threshold (how many young collections make a generation-1 one)
adapts to what those collections find.  One that reclaims nothing doubles
it, up to ``_CAP`` times the application's own value; one that reclaims
garbage (of generation 1 or 2) halves it, down to the application's
value.  A program that makes cyclic garbage keeps its usual pace; one whose
young objects are only in flight stops walking them every few
milliseconds.  The youngest generation's collections, which stay small,
and the old generation's rule (``gc.get_threshold()[2]`` and CPython's
25 % growth test) are left alone.

The application's value is the one it last set (``gc.set_threshold()``,
noticed at the next collection); it is put back when the last loop closes.
``coop.set_gc_pacing(False)`` (or ``COOP_PY_GC_PACING=0`` in the
environment) turns the pacing off.

The callback runs inside a collection, on whatever thread triggered it:
it reads and writes module globals only and takes no lock (a lock held by
the allocating thread would deadlock it).
"""

import gc
import os
import threading

# How far the generation-1 threshold may grow over the application's value:
# CPython's 10 becomes at most 1,280 (a generation-1 collection after that
# many young ones, some seconds apart under heavy churn).
_CAP = 128

_lock = threading.Lock()        # guards _loops and _enabled, not the callback
_loops = 0                      # open EventLoops
_enabled = os.environ.get("COOP_PY_GC_PACING", "1") != "0"
_base = None                    # the application's threshold1
_set = None                     # the threshold1 this module last set


def _on_collection(phase, info):
    global _base, _set
    if phase != "stop" or info["generation"] == 0:
        return
    t0, t1, t2 = gc.get_threshold()
    if t1 != _set:
        _base = t1              # the application set it since
    if not _base:
        return                  # 0: the application's own choice, kept
    if info["collected"]:
        new = max(t1 // 2, _base)
    elif info["generation"] == 1:
        new = min(t1 * 2, _base * _CAP)
    else:
        return
    _set = new
    if new != t1:
        gc.set_threshold(t0, new, t2)


def _start():
    global _base, _set
    _base = _set = gc.get_threshold()[1]
    gc.callbacks.append(_on_collection)


def _stop():
    global _base, _set
    try:
        gc.callbacks.remove(_on_collection)
    except ValueError:
        pass
    t0, t1, t2 = gc.get_threshold()
    if t1 == _set and _base is not None:
        gc.set_threshold(t0, _base, t2)
    _base = _set = None


def loop_opened():
    """Called by each EventLoop when it is made."""
    global _loops
    with _lock:
        _loops += 1
        if _loops == 1 and _enabled:
            _start()


def loop_closed():
    """Called by each EventLoop when it is closed."""
    global _loops
    with _lock:
        _loops -= 1
        if _loops == 0 and _enabled:
            _stop()


def set_pacing(enabled):
    global _enabled
    enabled = bool(enabled)
    with _lock:
        if enabled == _enabled:
            return
        _enabled = enabled
        if _loops:
            (_start if enabled else _stop)()


def get_pacing():
    return _enabled
