#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""flood.py: the production rows of `make bench` — what the shim writes and
costs when clients abort by the thousand, and on connection churn.

  scripts/bench/flood.py [--build DIR] [--rows FILE] [--quick]

Rows (appended to ROWS through scripts/bench/stats.py, then the table of
ROWS is printed, in the same format as scripts/bench/run.sh):

  abort flood, bytes       20,000 clients that abort (SO_LINGER 0) spread over
                           13 s against a server under the shim (default
                           limits): bytes of records written; goal <= 100 KB.
  abort flood, summary     the summary records' counts summed over every key:
                           must equal the number of clients exactly.
  abort flood, conns/s     the same server, unpaced, bare and preloaded side
                           by side (both flooded at the same time, so the
                           machine's other load weighs on both): connections
                           per CPU second of the server (its own user +
                           system time, so a client that cannot keep up does
                           not hide the cost); shim / bare >= 0.95.
  abort flood, calls       the same flood, unpaced, with the server under
                           strace -f -c, bare and preloaded one after the
                           other: the system calls the shim adds per aborted
                           connection (shim - bare, per syscall, / clients).
                           Gated: the calls made once per connection or more
                           often (at least once per two connections); the few
                           written records' own calls, the load's and the
                           summary's are in an info row with everything;
                           goal <= 2 (fstat at accept, getpid at close).
  nginx churn              nginx + wrk -H 'Connection: close' (a new
                           connection per request: accept and close on every
                           one), bare and preloaded side by side; >= 0.97.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from servers import free_ports, nginx_conf, wait_file, wait_port  # noqa: E402  (after the line above on purpose)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATS = os.path.join(ROOT, "scripts", "bench", "stats.py")


def stats(*args):
    subprocess.run([sys.executable, STATS, *map(str, args)], check=False)


def start_server(build, n, preload, logdir, wrap=(), stdout=subprocess.PIPE, secs=10):
    """The flood server (preloaded or not, under the command wrap when given),
    waiting for n aborting clients."""
    helper = os.path.join(build, "helpers", "flood")
    port_file = os.path.join(logdir, f"port.{time.monotonic_ns()}")
    env = dict(os.environ, RSTWATCH_LOG=os.path.join(logdir, "%p.jsonl"))
    env.pop("RSTWATCH_RATE", None)
    if preload:
        env["LD_PRELOAD"] = preload
    srv = subprocess.Popen(list(wrap) + [helper, "serve", port_file, str(n)], env=env,
                           stdout=stdout, text=True)
    if not wait_file(port_file, secs=secs):
        srv.kill()
        raise RuntimeError("flood server did not start")
    return srv, open(port_file).read().strip()


def finish(srv):
    out, _ = srv.communicate(timeout=300)
    return dict(kv.split("=", 1) for kv in out.split())


def flood(build, n, seconds, preload, logdir):
    """One flood: the server (preloaded or not) takes n aborting clients."""
    srv, port = start_server(build, n, preload, logdir)
    args = [os.path.join(build, "helpers", "flood"), "abort", port, str(n)]
    subprocess.run(args + ([str(seconds)] if seconds else []), check=True)
    return finish(srv)


def flood_pair(build, n, shim, logdir):
    """Bare and preloaded servers flooded at the same time, so that whatever else
    the machine does weighs on both alike; returns their outputs."""
    helper = os.path.join(build, "helpers", "flood")
    servers = {v: start_server(build, n, shim if v == "shim" else None, logdir)
               for v in ("bare", "shim")}
    clients = [subprocess.Popen([helper, "abort", port, str(n)]) for _, port in servers.values()]
    for c in clients:
        c.wait()
    return {v: finish(srv) for v, (srv, _) in servers.items()}


def strace_counts(build, n, preload, logdir):
    """System calls of the flood server under strace -f -c: {name: calls}."""
    out = os.path.join(logdir, f"strace.{time.monotonic_ns()}")
    helper = os.path.join(build, "helpers", "flood")
    srv, port = start_server(build, n, preload, logdir, wrap=["strace", "-f", "-c", "-o", out],
                             stdout=subprocess.DEVNULL, secs=30)
    subprocess.run([helper, "abort", port, str(n)], check=True)
    srv.wait(timeout=600)
    calls = {}
    for line in open(out):
        f = line.split()
        # "% time  seconds  usecs/call  calls  [errors]  syscall"
        if len(f) in (5, 6) and f[3].isdigit() and f[-1] != "total":
            calls[f[-1]] = calls.get(f[-1], 0) + int(f[3])
    return calls


def extra_calls(rows, build, n, shim, tmp):
    name = f"abort flood: the shim's extra system calls per aborted connection ({n} clients"
    if not shutil.which("strace"):
        stats("value", rows, name + ")", "rstwatch", "-", "-", "strace missing", "", "<=2")
        return
    logdir = os.path.join(tmp, "strace")
    os.makedirs(logdir)
    bare = strace_counts(build, n, None, logdir)
    with_shim = strace_counts(build, n, shim, logdir)
    extra = {k: with_shim.get(k, 0) - bare.get(k, 0) for k in set(bare) | set(with_shim)}
    per_conn = {k: v / n for k, v in extra.items() if v * 2 >= n}
    detail = ", ".join(f"{k} {v:.3f}" for k, v in sorted(per_conn.items()))
    stats("value", rows, f"{name}, strace -f -c: {detail})", "rstwatch", "-", "-",
          f"{sum(per_conn.values()):.2f}", "calls", "<=2")
    stats("value", rows, f"abort flood: every extra system call, the written records', the "
          f"load's and the summary's included, per aborted connection ({n} clients)",
          "rstwatch", "-", "-", f"{sum(extra.values()) / n:.3f}", "calls", "-")


def records(logdir):
    recs = []
    for f in glob.glob(os.path.join(logdir, "*.jsonl")):
        with open(f) as fp:
            recs += [json.loads(line) for line in fp if line.strip()]
    return recs


def churn(rows, shim, tmp, rounds, secs, cpu, loadcpu):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    name = "nginx churn + wrk -H 'Connection: close' (c32)"
    if not os.path.exists(nginx) or not shutil.which("wrk"):
        stats("value", rows, name, "rstwatch", "-", "-", "nginx or wrk missing", "", ">=0.97")
        return
    procs, ports = {}, dict(zip(("bare", "shim"), free_ports(2)))
    for v in ("bare", "shim"):
        d = os.path.join(tmp, "ngx-" + v)
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(nginx_conf(d, ports[v], 4096,
                               location='default_type text/plain; return 200 "ok\\n";'))
        env = dict(os.environ, RSTWATCH_LOG=os.path.join(tmp, "log", "%p.jsonl"))
        if v == "shim":
            env["LD_PRELOAD"] = shim
        procs[v] = subprocess.Popen(["taskset", "-c", str(cpu), nginx, "-p", d, "-e",
                                     os.path.join(d, "error.log"), "-c",
                                     os.path.join(d, "nginx.conf")],
                                    env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not (wait_port(ports["bare"]) and wait_port(ports["shim"])):
            stats("value", rows, name, "rstwatch", "-", "-", "nginx did not start", "", ">=0.97")
            return
        bare, with_shim = [], []
        for r in range(rounds):
            order = ("bare", "shim") if r % 2 == 0 else ("shim", "bare")
            ws = {}
            for v in order:  # both at once: the same CPUs at the same time
                ws[v] = subprocess.Popen(
                    ["taskset", "-c", str(loadcpu), "wrk", "-t1", "-c32", f"-d{secs}s",
                     "-H", "Connection: close", f"http://127.0.0.1:{ports[v]}/"],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            res = {}
            for v, p in ws.items():
                out = p.communicate()[0]
                res[v] = next((float(line.split()[1]) for line in out.splitlines()
                               if line.startswith("Requests/sec:")), 0.0)
            bare.append(res["bare"])
            with_shim.append(res["shim"])
        stats("pair", rows, name, "rstwatch", "req/s", ">=0.97",
              ",".join(map(str, bare)), ",".join(map(str, with_shim)))
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--rows", help="append rows here (default: a fresh file under BUILD/bench)")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    a = ap.parse_args()
    build = os.path.join(ROOT, a.build) if not os.path.isabs(a.build) else a.build
    shim = os.path.join(build, "librstwatch.so")
    for f in (shim, os.path.join(build, "helpers", "flood")):
        if not os.path.exists(f):
            sys.exit(f"flood.py: missing {f} (run 'make all check-helpers')")
    os.makedirs(os.path.join(build, "bench"), exist_ok=True)
    rows = a.rows or os.path.join(build, "bench", "flood-rows.tsv")
    if not a.rows:
        open(rows, "w").close()
    n, secs, rounds = (5000, 4, 3) if a.quick else (20000, 13, 5)
    ncpu = os.cpu_count() or 1
    cpu, loadcpu = ncpu - 1, 0
    tmp = tempfile.mkdtemp(prefix="rstwatch-flood.")
    os.chmod(tmp, 0o755)
    try:
        # 1. paced: what the default limits write, and that nothing is lost from the counts
        logdir = os.path.join(tmp, "paced")
        os.makedirs(logdir)
        flood(build, n, secs, shim, logdir)
        size = sum(os.path.getsize(f) for f in glob.glob(os.path.join(logdir, "*.jsonl")))
        recs = records(logdir)
        counted = sum(c["n"] for r in recs if r["type"] == "summary" for c in r["counts"])
        written = sum(1 for r in recs if r["type"] != "summary")
        stats("value", rows, f"abort flood: {n} clients in {secs} s, bytes written "
              f"({written} records + summaries)", "rstwatch", "-", "-", size, "B",
              f"<={100 * 1024 * n // 20000}")
        stats("value", rows, f"abort flood: summary counts (clients: {n})", "rstwatch", "-", "-",
              counted, "", f"=={n}")
        # 2. unpaced: the server's connection rate per CPU second, bare vs shim at once
        bare, with_shim = [], []
        for r in range(rounds):
            logdir = os.path.join(tmp, f"rate.{r}")
            os.makedirs(logdir)
            out = flood_pair(build, n, shim, logdir)
            bare.append(float(out["bare"]["cpu_rate"].rstrip("/s")))
            with_shim.append(float(out["shim"]["cpu_rate"].rstrip("/s")))
        stats("pair", rows, f"abort flood: server conns per CPU second ({n} clients, unpaced)",
              "rstwatch", "conn/s", ">=0.95", ",".join(map(str, bare)),
              ",".join(map(str, with_shim)))
        # 3. the system calls the shim adds per aborted connection
        extra_calls(rows, build, n, shim, tmp)
        # 4. nginx connection churn
        os.makedirs(os.path.join(tmp, "log"), exist_ok=True)
        churn(rows, shim, tmp, rounds, 3 if a.quick else 5, cpu, loadcpu)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not a.rows:
        stats("table", rows, os.path.join(build, "bench", "flood-results.md"))


if __name__ == "__main__":
    main()
