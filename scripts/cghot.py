#!/usr/bin/env python3
"""Code footprint per token of a hop, from callgrind.

Run the overhead benchmark with each hop under callgrind, one dump per
counted run (docs/benchmarks.md, "Where the CPU gap against the proxy
lives", hopsys session):

    RUNNEL_BENCH_HOP_WRAP="valgrind --tool=callgrind --dump-instr=yes \
        --cache-sim=yes --callgrind-out-file=/tmp/cg/cg.%p" \
    GODEBUG=asyncpreemptoff=1 ./bench.test -test.run '^$' \
        -test.bench 'GatewayOverhead/c=1$' -test.benchtime 1x

then `scripts/cghot.py TOKENS /tmp/cg/cg.PID.1 ...` (TOKENS: the run's
output tokens, 5,000 at c=1). For each file it prints instructions and
simulated cache misses per token, the distinct 64-byte lines of code
the run executed, and the hot lines (holding an instruction that ran at
least once a token on average) by function. Function names are
callgrind's, so inlined code counts under its caller.
"""
import collections
import sys


def num(s):
    return int(s, 16) if s.startswith("0x") else int(s)


def parse(path):
    """Returns (events, totals, Ir by instruction address, function by address)."""
    ir = collections.Counter()
    fn_at = {}
    names = {}
    events, totals = [], []
    cur, fn, with_line, in_call = 0, "?", False, False

    def name(v):
        k, _, rest = v.partition(")")
        if v.startswith("(") and rest.strip():
            names[k] = rest.strip()
        return k if v.startswith("(") else v

    for line in open(path):
        if line.startswith("positions:"):
            with_line = "line" in line
        elif line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            totals = [int(x) for x in line.split()[1:]]
        elif line.startswith("fn="):
            fn = name(line[3:].strip())
        elif line.startswith("cfn="):
            name(line[4:].strip())
        elif line.startswith("calls="):
            in_call = True
        elif line[:1] and line[:1] in "0123456789+-*":
            parts = line.split()
            a = parts[0]
            if a.startswith("+"):
                cur += num(a[1:])
            elif a.startswith("-"):
                cur -= num(a[1:])
            elif a != "*":
                cur = num(a)
            if in_call:  # a call's inclusive cost, not this instruction's
                in_call = False
                continue
            costs = parts[2:] if with_line else parts[1:]
            if costs:
                ir[cur] += int(costs[0])
                fn_at[cur] = fn
    fn_at = {a: names.get(f, f) for a, f in fn_at.items()}
    return events, totals, ir, fn_at


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tokens = int(sys.argv[1])
    for path in sys.argv[2:]:
        events, totals, ir, fn_at = parse(path)
        per = ", ".join("%s %.1f" % (e, t / tokens) for e, t in zip(events, totals))
        lines = {a >> 6 for a, n in ir.items() if n > 0}
        hot = {}
        for a, n in ir.items():
            if n >= tokens:
                hot[a >> 6] = fn_at[a]
        print("%s: per token %s" % (path, per))
        print("  code lines run %d (%d KiB), hot %d (%d KiB)" % (len(lines), len(lines) * 64 >> 10, len(hot), len(hot) * 64 >> 10))
        for f, n in collections.Counter(hot.values()).most_common(40):
            print("  %4d  %s" % (n, f))


if __name__ == "__main__":
    main()
