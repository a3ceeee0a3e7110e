#!/usr/bin/env python3
"""Code lines a hop runs once a call, from callgrind.

    scripts/cgcall.py CALLS FILE [OTHER [N]]

FILE is a callgrind dump with --dump-instr=yes (cghot.py's runs of the
overhead benchmark, or BenchmarkCallSetup's) of CALLS calls. A call's
lines are the distinct 64-byte lines of code holding an instruction that
ran at least 0.9 and fewer than 10 times a call: each call's work, not
each token's (50 tokens a call in the overhead benchmark), nor the
process's start. It prints them by package and function; with OTHER (the
proxy's dump of the same run, or the base's), the difference, package by
package, then the N functions that differ most (docs/benchmarks.md,
issue 13, callfoot session).
"""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cghot import parse  # noqa: E402


def package(fn):
    parts = fn.split("(")[0].rstrip(".").split("/")
    return "/".join(parts[:-1] + [parts[-1].split(".")[0]])


def call_lines(path, calls):
    """Returns (lines by function, instructions a call by function)."""
    _, _, ir, fn_at = parse(path)
    most = {}  # line -> (function, the most any of its instructions ran)
    work = collections.Counter()
    for a, n in ir.items():
        if n < 0.9 * calls:
            continue
        fn = fn_at[a].rstrip("'0123456789")
        f, m = most.get(a >> 6, (fn, 0))
        most[a >> 6] = (f, max(m, n))
        work[fn] += n
    lines = collections.Counter(f for f, m in most.values() if m < 10 * calls)
    return lines, collections.Counter({f: n / calls for f, n in work.items()})


def by_package(c):
    out = collections.Counter()
    for f, n in c.items():
        out[package(f)] += n
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    calls = int(sys.argv[1])
    a, ai = call_lines(sys.argv[2], calls)
    print("%s: %d lines a call" % (sys.argv[2], sum(a.values())))
    if len(sys.argv) < 4:
        for p, n in by_package(a).most_common(30):
            print("  pkg %5d  %s" % (n, p))
        for f, n in a.most_common(60):
            print("  fn  %5d  %6.0f Ir  %s" % (n, ai[f], f))
        return
    b, bi = call_lines(sys.argv[3], calls)
    print("%s: %d lines a call" % (sys.argv[3], sum(b.values())))
    pa, pb = by_package(a), by_package(b)
    for p in sorted(set(pa) | set(pb), key=lambda p: pb[p] - pa[p]):
        if pa[p] != pb[p]:
            print("  pkg %5d %5d %+5d  %s" % (pa[p], pb[p], pa[p] - pb[p], p))
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    for f in sorted(set(a) | set(b), key=lambda f: -abs(a[f] - b[f]))[:n]:
        print("  fn  %4d %4d %+4d  Ir %6.0f %6.0f  %s" % (a[f], b[f], a[f] - b[f], ai[f], bi[f], f))


if __name__ == "__main__":
    main()
