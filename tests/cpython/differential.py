#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""differential.py: CPython's own networking tests, bare and under the shim.

A peer's test suite knows corners of the socket API that ours does not. This
runs test_socket, test_socketserver, test_selectors and every module of the
test_asyncio package with Debian's interpreter, once bare and once per shim
mode, and compares the outcome of every test case: a test that passes (or is
skipped, or is an expected failure) bare must end the same way under the shim.
Tests that fail bare on this machine drop out by that comparison, not by a
list. Prints TAP: one line per module x mode (test_asyncio counts as one
module) naming the diverging test ids, then one line per mode checking that
every record the shim wrote is a well-formed schema-v1 JSON line.

A process that crashes or hits the per-test timeout is restarted after that
test, so one crash costs one test, not the module. A test that diverges runs
once more in the same mode before it counts (a timing test can lose to a
loaded machine); one that then ends as it did bare is listed, not failed.

    tests/cpython/differential.py [--jobs N] [--modes a,b] [--modules m,...]

Environment: BUILD (default build), SAN_RUNTIME (libasan.so for a sanitized
build, preloaded before the shim), CPYTHON (default /usr/bin/python3.11: the
interpreter the Debian test package belongs to), KEEP=1 keeps the work dir.
"""
import argparse
import collections
import concurrent.futures
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNNER = os.path.join(HERE, "unit_runner.py")

# name -> RSTWATCH_* settings; None is the bare reference run.
MODES = {
    "bare": None,
    "default": {},
    "record-all": {"RSTWATCH_RECORD": "all"},
    "retry-idempotent": {"RSTWATCH_RETRY": "idempotent", "RSTWATCH_RECORD": "all"},
}
MODULES = ["test_socket", "test_socketserver", "test_selectors", "test_asyncio"]
# Outcomes that a shim run must reproduce exactly when the bare run had them.
STABLE = {"ok", "skip", "xfail"}
RECORD_TYPES = {"reset", "eof", "error", "close", "retry", "inject", "summary"}
PER_TEST_TIMEOUT = 60  # seconds; the slowest of these tests takes a few
MAX_RESUMES = 30  # restarts after a crash, each skipping the tests already seen
SHOW_IDS = 40  # diverging ids printed per module x mode


def test_dir(python):
    out = subprocess.run(
        [python, "-c", "import test, os; print(os.path.dirname(test.__file__))"],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


def expand(modules, tdir):
    """Job units: whole modules, test_asyncio split into its own modules.
    Largest first, so the longest jobs start early (source size is the guide)."""
    units = []
    for m in modules:
        pkg = os.path.join(tdir, m)
        if os.path.isdir(pkg):
            for f in sorted(glob.glob(os.path.join(pkg, "test_*.py"))):
                units.append((m, f"test.{m}.{os.path.basename(f)[:-3]}", os.path.getsize(f)))
        else:
            units.append((m, f"test.{m}", os.path.getsize(pkg + ".py")))
    units.sort(key=lambda u: -u[2])
    return [(m, unit) for m, unit, _ in units]


def parse_results(path):
    """Returns (outcomes {id: word}, last started id without outcome, done?)."""
    outcomes, pending, done = {}, None, False
    if not os.path.exists(path):
        return outcomes, pending, done
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            word, _, tid = line.rstrip("\n").partition(" ")
            if word == "done":
                done = True
            elif word == "start":
                pending = tid
            else:
                if tid == pending:
                    pending = None
                # A failing subtest reports before the test ends: worst wins.
                if outcomes.get(tid) not in ("fail", "error"):
                    outcomes[tid] = word
    return outcomes, pending, done


def describe_exit(rc):
    if rc is None:
        return "hung (job timeout)"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


class Runner:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.shim = os.path.join(ROOT, os.environ.get("BUILD", "build"), "librstwatch.so")
        san = os.environ.get("SAN_RUNTIME", "")
        self.preload = f"{san}:{self.shim}" if san else self.shim
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("RSTWATCH_") and k != "LD_PRELOAD"}
        if san:
            base["ASAN_OPTIONS"] = "detect_leaks=0:verify_asan_link_order=0"
        self.base_env = base

    def env(self, mode, logdir):
        env = dict(self.base_env)
        settings = MODES[mode]
        if settings is not None:
            env["LD_PRELOAD"] = self.preload
            env["RSTWATCH_LOG"] = os.path.join(logdir, "%p.jsonl")
            env.update(settings)
        return env

    def run(self, mode, unit, only=None, tag="main"):
        """Runs one unit in one mode; after a crash or hang, resumes with the
        tests not yet seen. Returns (outcomes, notes, seconds)."""
        jdir = os.path.join(self.work, mode, unit, tag)
        cwd = os.path.join(jdir, "cwd")
        logdir = os.path.join(self.work, mode, unit, "logs")
        os.makedirs(cwd, exist_ok=True)
        os.makedirs(logdir, exist_ok=True)
        results = os.path.join(jdir, "results")
        skipfile = os.path.join(jdir, "skip")
        cmd = [self.args.python, "-X", "faulthandler", RUNNER, "--results", results,
               "--timeout", str(PER_TEST_TIMEOUT), "--skip-file", skipfile]
        if only is not None:
            onlyfile = os.path.join(jdir, "only")
            with open(onlyfile, "w", encoding="utf-8") as f:
                f.write("\n".join(sorted(only)) + "\n")
            cmd += ["--only-file", onlyfile]
        cmd.append(unit)
        notes = []
        crashed = {}
        started = time.monotonic()
        for attempt in range(MAX_RESUMES + 1):
            with open(skipfile, "w", encoding="utf-8") as f:
                seen, _, _ = parse_results(results)
                f.write("\n".join(sorted(set(seen) | set(crashed))) + "\n")
            errpath = os.path.join(jdir, f"stderr.{attempt}")
            with open(errpath, "wb") as err:
                try:
                    proc = subprocess.run(cmd, cwd=cwd, env=self.env(mode, logdir),
                                          stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                          timeout=self.args.job_timeout)
                    rc = proc.returncode
                except subprocess.TimeoutExpired:
                    rc = None
            outcomes, pending, done = parse_results(results)
            if done and rc == 0:
                break
            what = describe_exit(rc)
            with open(errpath, "rb") as err:
                # faulthandler's per-test timeout prints "Timeout (0:01:00)!"
                if rc == 1 and b"Timeout (" in err.read():
                    what = f"timed out after {PER_TEST_TIMEOUT} s"
            if pending is None:
                notes.append(f"{unit}: runner ended ({what}) outside any test;"
                             f" see {jdir}/stderr.{attempt}")
                break
            crashed[pending] = what if what.startswith("timed out") else f"crashed: {what}"
        outcomes, _, _ = parse_results(results)
        outcomes.update(crashed)
        return outcomes, notes, time.monotonic() - started


def divergences(bare, shim):
    """Ids whose bare outcome was stable and whose shim outcome differs."""
    return {tid: (b, shim.get(tid, "not run")) for tid, b in bare.items()
            if b in STABLE and shim.get(tid) != b}


def check_records(logroot):
    """Returns (count by type, count by unit, list of problems)."""
    by_type, by_unit, problems = collections.Counter(), collections.Counter(), []
    for path in glob.glob(os.path.join(logroot, "*", "logs", "*.jsonl")):
        unit = path.split(os.sep)[-3]
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                try:
                    rec = json.loads(raw)
                    ok = (isinstance(rec, dict) and rec.get("v") == 1
                          and rec.get("type") in RECORD_TYPES)
                except ValueError:
                    ok = False
                if not ok:
                    problems.append(f"{path}:{n}: {raw[:120]!r}")
                    continue
                by_type[rec["type"]] += 1
                by_unit[unit] += 1
    return by_type, by_unit, problems


def skip_all(reason):
    """One skipped TAP result, so the runner counts the phase as skipped."""
    print(f"1..1\nok 1 - CPython differential # SKIP {reason}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=os.environ.get("CPYTHON", "/usr/bin/python3.11"))
    ap.add_argument("--jobs", type=int, default=4,
                    help="parallel test processes (most tests wait on sockets and timers)")
    ap.add_argument("--modes", default=",".join(m for m in MODES if m != "bare"))
    ap.add_argument("--modules", default=",".join(MODULES))
    ap.add_argument("--job-timeout", type=float, default=600)
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    modules = [m for m in args.modules.split(",") if m]
    for m in modes:
        if m not in MODES or m == "bare":
            print(f"differential.py: unknown mode '{m}'", file=sys.stderr)
            return 2

    if not os.path.exists(args.python):
        skip_all(args.python + " is not installed")
        return 0
    try:
        tdir = test_dir(args.python)
    except subprocess.CalledProcessError:
        skip_all(args.python + " has no test package")
        return 0
    missing = [m for m in modules
               if not os.path.exists(os.path.join(tdir, m + ".py"))
               and not os.path.isdir(os.path.join(tdir, m))]
    if missing:
        skip_all(f"{tdir} lacks {', '.join(missing)} (Debian package libpython3.11-testsuite)")
        return 0

    work = tempfile.mkdtemp(prefix="rstwatch-cpython.")
    runner = Runner(args, work)
    units = expand(modules, tdir)
    started = time.monotonic()
    jobs = [(mode, m, unit) for m, unit in units for mode in ["bare"] + modes]
    res = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(runner.run, mode, unit): (mode, m, unit)
                   for mode, m, unit in jobs}
        for fut in concurrent.futures.as_completed(futures):
            res[futures[fut]] = fut.result()

        # Second chance for what diverged: a timing test can lose to a loaded
        # machine. Only the diverging ids run again, under the same mode.
        reruns = {}
        for mode in modes:
            for m, unit in units:
                div = divergences(res[("bare", m, unit)][0], res[(mode, m, unit)][0])
                if div:
                    reruns[pool.submit(runner.run, mode, unit, set(div), "rerun")] = (mode, m, unit)
        second = {reruns[f]: f.result()[0] for f in concurrent.futures.as_completed(reruns)}

    total = len(modules) * len(modes) + len(modes)
    print(f"1..{total}")
    n = 0
    failed = 0
    for m in modules:
        for mode in modes:
            n += 1
            bare_all, shim_all, diverged, flaky, notes = {}, {}, {}, [], []
            for mm, unit in units:
                if mm != m:
                    continue
                bare, bnotes, _ = res[("bare", m, unit)]
                shim, snotes, _ = res[(mode, m, unit)]
                notes += bnotes + snotes
                bare_all.update(bare)
                shim_all.update(shim)
                div = divergences(bare, shim)
                again = second.get((mode, m, unit), {})
                for tid, (b, s) in div.items():
                    if again.get(tid) == b:
                        flaky.append(f"{tid} ({s} first, {b} on rerun)")
                    else:
                        diverged[tid] = (b, s, again.get(tid, "not run"))
            stable = sum(1 for v in bare_all.values() if v in STABLE)
            bare_bad = sum(1 for v in bare_all.values() if v not in STABLE)
            desc = (f"{m} [{mode}]: {stable} tests pass or skip bare"
                    f" ({bare_bad} fail bare, excluded)")
            if diverged:
                failed += 1
                print(f"not ok {n} - {desc}; {len(diverged)} end differently under the shim")
                for tid, (b, s, s2) in sorted(diverged.items())[:SHOW_IDS]:
                    print(f"#   {tid}: bare {b}, shim {s} (rerun: {s2})")
                if len(diverged) > SHOW_IDS:
                    print(f"#   ... and {len(diverged) - SHOW_IDS} more")
            else:
                print(f"ok {n} - {desc}; the same under the shim")
            for f in flaky:
                print(f"#   passed on rerun: {f}")
            for note in notes:
                print(f"#   note: {note}")
    for mode in modes:
        n += 1
        by_type, by_unit, problems = check_records(os.path.join(work, mode))
        summary = ", ".join(f"{t}={c}" for t, c in sorted(by_type.items())) or "none"
        if problems:
            failed += 1
            print(f"not ok {n} - [{mode}] every record is a schema-v1 JSON line:"
                  f" {len(problems)} malformed")
            for p in problems[:20]:
                print(f"#   {p}")
        else:
            print(f"ok {n} - [{mode}] every record is a schema-v1 JSON line ({summary})")
        for unit, c in sorted(by_unit.items()):
            print(f"#   {unit}: {c} records")
    elapsed = time.monotonic() - started
    slowest = sorted(((v[2], k) for k, v in res.items()), reverse=True)[:3]
    print(f"# {len(jobs)} jobs on {args.jobs} workers in {elapsed:.0f} s; slowest: "
          + ", ".join(f"{k[2]} [{k[0]}] {s:.0f} s" for s, k in slowest))
    if os.environ.get("KEEP") == "1" or failed:
        print(f"# work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
