#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""depgraph.py: the shim's module dependency graph, and a check that it has no cycle.

Two graphs over the modules of shim/ (a module is NAME.c with its NAME.h):
  * symbols: module A depends on B when A's object file imports a symbol that
    B's object file defines (`nm` of BUILD/shim/*.o);
  * includes: A depends on B when A.c or A.h includes "B.h".
Each must be acyclic: dependencies point down (docs/design.md "The shim's layers").
A header-only module (ring.h, prng.h) counts under its own name; NAME.c
including its own header is not an edge.

Usage: depgraph.py [--build DIR] [--print]
Exit status 0 when both graphs are acyclic, 1 with each cycle printed.
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def symbol_graph(build):
    defs, imports = {}, collections.defaultdict(set)
    # only the objects of today's sources: a stale object of a removed file is no module
    objs = sorted(o for o in glob.glob(os.path.join(build, "shim", "*.o"))
                  if os.path.exists(os.path.join(ROOT, "shim", os.path.basename(o)[:-2] + ".c")))
    if not objs:
        sys.exit("depgraph.py: no objects in %s/shim (run make first)" % build)
    for o in objs:
        mod = os.path.basename(o)[:-2]
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBRCVW" and f[1].isupper():
                defs.setdefault(f[2], mod)
            elif len(f) == 2 and f[0] == "U":
                imports[mod].add(f[1])
    g = collections.defaultdict(set)
    for mod in (os.path.basename(o)[:-2] for o in objs):
        g[mod]
        for sym in imports[mod]:
            d = defs.get(sym)
            if d and d != mod:
                g[mod].add(d)
    return g


def include_graph():
    g = collections.defaultdict(set)
    for path in sorted(glob.glob(os.path.join(ROOT, "shim", "*.[ch]"))):
        mod = os.path.splitext(os.path.basename(path))[0]
        g[mod]
        with open(path, encoding="utf-8") as f:
            for m in re.finditer(r'^#include "([^"/]+)\.h"', f.read(), re.M):
                if m.group(1) != mod and os.path.exists(os.path.join(ROOT, "shim", m.group(1) + ".h")):
                    g[mod].add(m.group(1))
    return g


def cycles(g):
    """Every strongly connected component of more than one module."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--print", action="store_true", help="print both graphs")
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(ROOT, a.build)
    bad = 0
    for name, g in (("symbols", symbol_graph(build)), ("includes", include_graph())):
        if a.print:
            print("# %s" % name)
            for m in sorted(g):
                print("%-12s -> %s" % (m, " ".join(sorted(g[m]))))
        for c in cycles(g):
            bad += 1
            print("cycle in the %s graph: %s" % (name, " <-> ".join(c)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
