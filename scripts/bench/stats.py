#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""stats.py: the arithmetic and the table of `make bench` (scripts/bench/run.py
imports it; standalone bench scripts may call it as a command or import it).

  stats.py pair ROWS NAME VARIANT UNIT GOAL BARE WITH
      BARE and WITH are comma lists (from Python: lists, where None marks a
      failed run), one value per interleaved round, paired by position; a
      round where either side has no value is left out. UNIT ending in "/s" means higher is better; anything else
      (ns, us) means lower is better. The ratio of a round is the variant's
      speed over bare's (so < 1 means slower); prints and appends one row with
      the paired median and min-max of those ratios. GOAL: ">=0.97" or "-".
  stats.py value ROWS NAME VARIANT BARE WITH VALUE UNIT GOAL
      one derived figure (instructions per call, bytes per connection ...);
      GOAL "<=60" / "==0" / "-".
  stats.py table ROWS OUT_MD
      prints the aligned table and writes it (markdown) to OUT_MD.
"""
import statistics
import sys


def fmt(x):
    if isinstance(x, str):
        return x
    if abs(x) >= 100000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def check(goal, v):
    if goal in ("-", ""):
        return "info"
    for op in (">=", "<=", "=="):
        if goal.startswith(op):
            g = float(goal[len(op):])
            ok = {">=": v >= g, "<=": v <= g, "==": v == g}[op]
            return "PASS" if ok else "FAIL"
    return "?"


def append(rows, fields):
    with open(rows, "a") as f:
        f.write("\t".join(fields) + "\n")
    print("  " + " | ".join(fields), flush=True)


def samples(values):
    """A comma list or a sequence of numbers -> floats, None where missing."""
    if isinstance(values, str):
        values = values.split(",")
        if values and values[-1] == "":
            values.pop()  # "1,2," from a shell loop
    return [None if v is None or v == "" else float(v) for v in values]


def pair(rows, name, variant, unit, goal, bare, with_):
    both = [(bi, wi) for bi, wi in zip(samples(bare), samples(with_))
            if bi is not None and wi is not None]
    n = len(both)
    if n == 0:
        append(rows, [name, variant, "n/a", "n/a", "no data", goal, "ERROR"])
        return
    b, w = [x[0] for x in both], [x[1] for x in both]
    # Every paired unit is a rate (req/s, MiB/s, req/CPU-s): more is better,
    # so the ratio is with/bare. Anything else (a time) is bare/with.
    higher = "/" in unit
    ratios = [(wi / bi) if higher else (bi / wi) for bi, wi in zip(b, w)]
    med = statistics.median(ratios)
    cell = f"{med:.3f} ({min(ratios):.3f}–{max(ratios):.3f}, n={n})"
    append(rows, [name, variant, f"{fmt(statistics.median(b))} {unit}",
                  f"{fmt(statistics.median(w))} {unit}", cell, goal if goal != "-" else "",
                  check(goal, med)])


def value(rows, name, variant, bare, with_, v, unit, goal):
    try:
        val = float(v)
        cell = f"{fmt(val)} {unit}".strip()
    except ValueError:
        val, cell = None, v
    res = check(goal, val) if val is not None else ("ERROR" if goal != "-" else "info")
    append(rows, [name, variant, bare, with_, cell, goal if goal != "-" else "", res])


def table(rows, out_md):
    head = ["benchmark", "variant", "bare", "with preload", "ratio / delta (median, min–max)",
            "goal", "result"]
    data = [l.rstrip("\n").split("\t") for l in open(rows) if l.strip()]
    data = [d + [""] * (len(head) - len(d)) for d in data]
    w = [max(len(r[i]) for r in [head] + data) for i in range(len(head))]
    line = lambda r: " | ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
    print(line(head))
    print("-+-".join("-" * x for x in w))
    for r in data:
        print(line(r))
    passed = sum(r[6] == "PASS" for r in data)
    failed = sum(r[6] in ("FAIL", "ERROR") for r in data)
    print(f"\ngoals: {passed} passed, {failed} failed")
    with open(out_md, "w") as f:
        f.write("| " + " | ".join(head) + " |\n")
        f.write("|" + "|".join("---" for _ in head) + "|\n")
        for r in data:
            f.write("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |\n")
        f.write(f"\ngoals: {passed} passed, {failed} failed\n")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"pair": pair, "value": value, "table": table}[cmd](*args)
