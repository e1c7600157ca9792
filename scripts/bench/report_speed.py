#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""report_speed.py: how fast `rstwatch report` reads a big log, and how big the
pictures of a busy day get. Prints one row per measurement:

    report speed       190 MB  best of 3  1.02 s wall (186 MB/s), 0.95 s CPU (200 MB/s)
    html at 60000      1.9 MB  (goal <= 5 MB)   export 0.41 s
    chrome at 60000    32.0 MB (capped, goal: loadable)
    html render        0.84 s more than an empty page in headless Chromium (goal < 3 s)

    scripts/bench/report_speed.py [--build DIR] [--megabytes 190] [--records 60000] [--runs 3]

The logs come from scripts/bench/gen_log.py (kept in BUILD/bench/ between
runs). Standalone on purpose: scripts/bench/run.sh (or its successor) calls it
for its row. Exit status 0; 1 when a goal is missed.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def generate(path, args):
    if not os.path.exists(path):
        tmp = path + ".tmp"
        with open(tmp, "w") as out:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_log.py")] + args, stdout=out, check=True)
        os.rename(tmp, path)
    return path


def timed(cmd, **kw):
    return timed_cpu(cmd, **kw)[0]


def timed_cpu(cmd, **kw):
    """Wall seconds and CPU seconds (user + system) of one run of cmd."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, **kw)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def render_cost(page):
    """Wall and CPU seconds of rendering page's DOM in headless Chromium."""
    render = os.path.join(ROOT, "tests", "browser", "render.sh")
    return timed_cpu([render, "dom", page])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--megabytes", type=float, default=190)
    ap.add_argument("--records", type=int, default=60000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build) if not os.path.isabs(args.build) else args.build
    rstwatch = os.path.join(build, "rstwatch")
    cache = os.path.join(build, "bench")
    os.makedirs(cache, exist_ok=True)
    missed = False

    big = generate(os.path.join(cache, "report-%gmb.jsonl" % args.megabytes), ["--megabytes", str(args.megabytes)])
    size_mb = os.path.getsize(big) / 1e6
    runs = [timed_cpu([rstwatch, "report", big]) for _ in range(args.runs)]
    wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    # On a shared machine the wall clock includes waiting for a CPU; the CPU time does not.
    missed |= size_mb / cpu < 100
    print("report speed       %4.0f MB  best of %d  %.2f s wall (%4.0f MB/s), %.2f s CPU (%4.0f MB/s)   (goal >= 100 MB/s)"
          % (size_mb, args.runs, wall, size_mb / wall, cpu, size_mb / cpu))

    day = generate(os.path.join(cache, "day-%d.jsonl" % args.records), ["--records", str(args.records), "--hosts", "3"])
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "page.html")
        secs = timed([rstwatch, "export", "--format", "html", "-o", page, day])
        html_mb = os.path.getsize(page) / 1e6
        missed |= html_mb > 5
        print("html at %-6d     %.1f MB  (goal <= 5 MB)   export %.2f s" % (args.records, html_mb, secs))
        trace = os.path.join(tmp, "trace.json")
        secs = timed([rstwatch, "export", "--format", "chrome", "-o", trace, day])
        print("chrome at %-6d   %.1f MB (capped)   export %.2f s" % (args.records, os.path.getsize(trace) / 1e6, secs))
        if shutil.which("chromium") or shutil.which("chromium-browser"):
            empty = os.path.join(tmp, "empty.html")
            with open(empty, "w") as f:
                f.write("<!DOCTYPE html><title>empty</title>")
            base = [render_cost(empty) for _ in range(2)]
            full = [render_cost(page) for _ in range(2)]
            wall = min(f[0] for f in full) - min(b[0] for b in base)
            cpu = min(f[1] for f in full) - min(b[1] for b in base)
            # A machine busier than its CPUs stretches the wall clock; judge by CPU time there.
            busy = os.getloadavg()[0] > (os.cpu_count() or 1)
            missed |= (cpu if busy else wall) >= 3
            print("html render        %.2f s more than an empty page in headless Chromium, %.2f s more CPU (goal < 3 s%s)"
                  % (wall, cpu, "; machine busy: judged by CPU" if busy else ""))
        else:
            print("html render        skipped (chromium is not installed)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
