# SPDX-License-Identifier: MIT
"""unit_runner.py: runs CPython's own test modules (from the interpreter's
test package) and writes one line per test event to a results file, so that
differential.py can compare a bare run with a run under the shim test by test.

    python3.11 unit_runner.py --results FILE [--timeout S]
                              [--skip-file F] [--only-file F] MODULE...

Results lines (written with one os.write each, so they survive a crash):
    start ID        the test began
    ok|fail|error|skip|xfail|xpass ID
                    its outcome (a failing subTest writes "fail ID")
A "start" without an outcome means the process died or hung in that test.
Errors outside a test (setUpClass, setUpModule) get their own ID, e.g.
"setUpClass (test.test_x.Class)".

Mimics regrtest's defaults: no optional resources (-u), quiet support.verbose,
faulthandler on, and a per-test timeout that kills the process.
"""
import argparse
import faulthandler
import importlib
import os
import signal
import sys
import unittest

from test import support


def flatten(suite):
    """Yields the test cases of a (nested) suite in order."""
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from flatten(item)
        else:
            yield item


def read_ids(path):
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip()}


class LineResult(unittest.TestResult):
    """A TestResult that appends one line per event to a file descriptor."""

    def __init__(self, fd, timeout):
        super().__init__()
        self.fd = fd
        self.timeout = timeout

    def emit(self, word, test):
        tid = test.id() if hasattr(test, "id") else str(test)
        os.write(self.fd, f"{word} {tid}\n".encode("utf-8", "replace"))

    def startTest(self, test):
        super().startTest(test)
        if self.timeout:
            faulthandler.dump_traceback_later(self.timeout, exit=True)
        self.emit("start", test)

    def stopTest(self, test):
        super().stopTest(test)
        faulthandler.cancel_dump_traceback_later()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.emit("ok", test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.emit("fail", test)
        self.explain(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self.emit("error", test)
        self.explain(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.emit("skip", test)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.emit("xfail", test)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.emit("xpass", test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            # A failing subtest fails its test; the test gets no addSuccess.
            self.emit("fail", test)
            self.explain(subtest, err)

    def explain(self, test, err):
        """The traceback goes to stderr (the job's log) for diagnosis."""
        sys.stderr.write(f"=== {test}\n{self._exc_info_to_string(err, test)}\n")
        sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--timeout", type=float, default=0)
    ap.add_argument("--skip-file")
    ap.add_argument("--only-file")
    ap.add_argument("modules", nargs="+")
    args = ap.parse_args()

    faulthandler.enable(all_threads=True)
    # A job started in the background by a shell inherits SIGINT ignored, and
    # then Python installs no KeyboardInterrupt handler: tests that interrupt
    # themselves (_thread.interrupt_main) would wait forever.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # regrtest -u network: test_socketserver needs it as a whole; the one
    # internet test it enables skips itself when there is no internet.
    support.use_resources = ["network"]
    support.verbose = 0

    skip = read_ids(args.skip_file) or set()
    only = read_ids(args.only_file)
    fd = os.open(args.results, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    loader = unittest.TestLoader()
    tests = []
    for name in args.modules:
        try:
            module = importlib.import_module(name)
        except unittest.SkipTest:
            os.write(fd, f"skip {name}\n".encode())
            continue
        for case in flatten(loader.loadTestsFromModule(module)):
            tid = case.id()
            if tid in skip or (only is not None and tid not in only):
                continue
            tests.append(case)

    result = LineResult(fd, args.timeout)
    unittest.TestSuite(tests).run(result)
    os.write(fd, b"done\n")
    os.close(fd)
    # Exit without waiting for stray non-daemon threads a failing test left.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
