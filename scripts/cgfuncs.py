#!/usr/bin/env python3
"""Self cost a token by function, two callgrind dumps side by side.

    scripts/cgfuncs.py TOKENS BASE BRANCH [PATTERN]

BASE and BRANCH are callgrind dumps (with --cache-sim=yes) of TOKENS
tokens each, or each LONG,SHORT: the difference of two dumps (a run of
more ops less one of fewer, which leaves out the process's start).
Functions whose name holds PATTERN (default: runnel's packages; "" for
all) are listed with what each spent a token by itself (instructions,
D1 and LL misses, callgrind_annotate's self cost), base then branch.
The functions a token runs in BenchmarkCallPathInterleaved
(docs/benchmarks.md, issue 13, fewobj session):

    GOMAXPROCS=1 GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind \
        --cache-sim=yes --D1=32768,8,64 --LL=524288,8,64 --callgrind-out-file=cg.B.3x \
        ./bench.test -test.run '^$' -test.bench 'CallPathInterleaved/openai$' -test.benchtime 3x
    (the same with 1x, and for the other binary)
    scripts/cgfuncs.py 50000 cg.base.3x,cg.base.1x cg.branch.3x,cg.branch.1x
"""
import collections
import re
import subprocess
import sys


def costs(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    events, by = None, collections.defaultdict(lambda: None)
    total = None
    for line in out.splitlines():
        if line.startswith("Events shown:"):
            events = line.split(":", 1)[1].split()
            continue
        if events is None:
            continue
        m = re.match(r"^\s*((?:(?:[\d,]+|\.)\s*(?:\(\s*[\d.]+%\))?\s+){" + str(len(events)) + r"})(.*)$", line)
        if not m:
            continue
        vals = [0 if v == "." else int(v.replace(",", "")) for v in re.findall(r"([\d,]+|\.)(?:\s*\(\s*[\d.]+%\))?", m.group(1))]
        name = m.group(2).strip()
        if name.startswith("PROGRAM TOTALS"):
            total = vals
            continue
        fn = name.split(":", 1)[1] if ":" in name else name
        fn = re.sub(r" \[.*\]$", "", fn).rstrip("'0123456789")
        prev = by[fn] or [0] * len(events)
        by[fn] = [a + b for a, b in zip(prev, vals)]
    return events, total, by


def minus(a, b):
    """a's costs less b's (a run of more ops less one of fewer)."""
    ev, ta, fa = a
    _, tb, fb = b
    out = collections.defaultdict(lambda: None)
    for f in set(fa) | set(fb):
        x, y = fa[f] or [0] * len(ev), fb[f] or [0] * len(ev)
        out[f] = [i - j for i, j in zip(x, y)]
    return ev, [i - j for i, j in zip(ta, tb)], out


def load(arg):
    """A dump, or LONG-SHORT: the difference of two dumps."""
    if "," in arg:
        long, short = arg.split(",")
        return minus(costs(long), costs(short))
    return costs(arg)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    tokens = float(sys.argv[1])
    pat = sys.argv[4] if len(sys.argv) > 4 else "runnel/runnel"
    ev, tb, base = load(sys.argv[2])
    _, tr, branch = load(sys.argv[3])
    show = [e for e in ("Ir", "D1mr", "D1mw", "DLmr", "DLmw") if e in ev]
    idx = [ev.index(e) for e in show]
    print("%-60s " % "per token, base -> branch" + "  ".join("%17s" % e for e in show))
    print("%-60s " % "whole process" + "  ".join("%8.2f %8.2f" % (tb[i] / tokens, tr[i] / tokens) for i in idx))
    names = sorted({f for f in list(base) + list(branch) if pat in f},
                   key=lambda f: -max((base[f] or [0] * len(ev))[0], (branch[f] or [0] * len(ev))[0]))
    sb, sr = [0] * len(ev), [0] * len(ev)
    for f in names:
        b, r = base[f] or [0] * len(ev), branch[f] or [0] * len(ev)
        if max(b[0], r[0]) < tokens:
            continue
        sb = [x + y for x, y in zip(sb, b)]
        sr = [x + y for x, y in zip(sr, r)]
        print("%-60s " % f[-60:] + "  ".join("%8.2f %8.2f" % (b[i] / tokens, r[i] / tokens) for i in idx))
    print("%-60s " % "sum of those (>= 1 Ir a token)" + "  ".join("%8.2f %8.2f" % (sb[i] / tokens, sr[i] / tokens) for i in idx))


if __name__ == "__main__":
    main()
