#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs CPython's own asyncio tests (Debian's libpython3.11-testsuite)
against coop.EventLoop.

test_events' event-loop test mixins get a Coop-backed class of their own;
other modules that create loops through the policy (asyncio.run,
IsolatedAsyncioTestCase, new_event_loop) run with coop's policy as the
default one.  Tests that examine a stock loop's internals (TestLoop, mocked
selectors, proactor) do not apply to a third-party loop and are not run.

Usage: cpython_conformance.py [--json FILE] [--expect FILE] [module ...]
Exit status: 0 when every failure is listed in the --expect file (one test
id per line, '#' comments giving the reason), 1 otherwise, 77 when the test
suite is not installed.
"""
import argparse
import asyncio
import json
import os
import sys
import unittest

try:
    from test.test_asyncio import test_events, utils as test_utils  # noqa: F401
except ImportError:
    print("1..0 # SKIP CPython's test suite (libpython3.11-testsuite) is not installed")
    sys.exit(77)

import coop

# Every "reset to the default policy" gets coop's.
asyncio.DefaultEventLoopPolicy = coop.EventLoopPolicy
asyncio.events.DefaultEventLoopPolicy = coop.EventLoopPolicy
asyncio.set_event_loop_policy(None)


class CoopEventLoopTests(test_events.UnixEventLoopTestsMixin,
                         test_events.SubprocessTestsMixin,
                         test_utils.TestCase):
    def create_event_loop(self):
        return coop.EventLoop()


from test.test_asyncio import test_sock_lowlevel, test_sendfile, test_server  # noqa: E402


class CoopSockTests(test_sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    def create_event_loop(self):
        return coop.EventLoop()


class CoopSendfileTests(test_sendfile.SendfileTestsBase, test_utils.TestCase):
    def create_event_loop(self):
        return coop.EventLoop()


class CoopStartServerTests(test_server.BaseStartServer, unittest.TestCase):
    def new_loop(self):
        return coop.EventLoop()


# Test case classes of our own for modules whose loops are made by class.
OWN_CLASSES = {
    "test_events": CoopEventLoopTests,
    # The policy tests and get_event_loop() tests, with Coop's policy as
    # asyncio's default one (set_event_loop(None) semantics and all).
    "test_events.PolicyTests": test_events.PolicyTests,
    "test_events.TestPyGetEventLoop": test_events.TestPyGetEventLoop,
    "test_events.TestCGetEventLoop": getattr(test_events, "TestCGetEventLoop", None),
    "test_sock_lowlevel": CoopSockTests,
    "test_sendfile": CoopSendfileTests,
    "test_server": CoopStartServerTests,
}

# How many Coop loops each module really created (a module that creates
# only stock loops would prove nothing).
_created = [0]
_init = coop.EventLoop.__init__


def _counting_init(self, *args, **kwargs):
    _created[0] += 1
    _init(self, *args, **kwargs)


coop.EventLoop.__init__ = _counting_init

# Modules whose tests get their loops from the policy.
POLICY_MODULES = [
    "test_taskgroups", "test_timeouts", "test_waitfor", "test_streams",
    "test_subprocess", "test_locks", "test_queues", "test_context",
    "test_futures2", "test_threads",
]


def load(name):
    loader = unittest.defaultTestLoader
    if name in OWN_CLASSES:
        if OWN_CLASSES[name] is None:
            return unittest.TestSuite()
        return loader.loadTestsFromTestCase(OWN_CLASSES[name])
    module = __import__("test.test_asyncio." + name, fromlist=["*"])
    return loader.loadTestsFromModule(module)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    parser.add_argument("--expect")
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args()
    modules = args.modules or list(OWN_CLASSES) + POLICY_MODULES

    expected = set()
    if args.expect:
        for line in open(args.expect):
            line = line.split("#", 1)[0].strip()
            if line:
                expected.add(line)

    report = {}
    unexpected = []
    for name in modules:
        suite = load(name)
        _created[0] = 0
        with open(os.devnull, "w") as sink:
            result = unittest.TextTestRunner(stream=sink, verbosity=0).run(suite)
        failed = [t.id() for t, _ in result.failures + result.errors]
        skipped = len(result.skipped)
        passed = result.testsRun - len(failed) - skipped - len(result.expectedFailures)
        report[name] = {"run": result.testsRun, "passed": passed, "skipped": skipped,
                        "failed": failed, "coop_loops": _created[0]}
        for test_id in failed:
            short = test_id.replace("test.test_asyncio.", "").replace("__main__.", "")
            if short not in expected:
                unexpected.append(short)
                for t, tb in result.failures + result.errors:
                    if t.id() == test_id:
                        print(f"# {short}\n" + "".join("#   " + l + "\n" for l in tb.splitlines()[-12:]))
        print(f"{name}: {passed} passed, {len(failed)} failed, {skipped} skipped "
              f"of {result.testsRun} ({_created[0]} Coop loops)", flush=True)

    total_run = sum(r["run"] for r in report.values())
    total_passed = sum(r["passed"] for r in report.values())
    total_failed = sum(len(r["failed"]) for r in report.values())
    print(f"total: {total_passed} passed, {total_failed} failed "
          f"({len(unexpected)} unexpected) of {total_run}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    for u in unexpected:
        print("unexpected failure:", u)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
