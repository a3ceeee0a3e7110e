#!/usr/bin/env python3
"""Instructions per request of BenchmarkAuthCPU's hops under callgrind.

Run the benchmark with each hop under callgrind (docs/benchmarks.md,
"Auth on against auth off in instructions", authcpu session), keeping its
log; then

    cgauth.py N LOG:DIR [LOG:DIR ...]      per variant: instructions per
        request (median of the runs, and each run), auth on over off, and
        a fit of count/N = P + s*T over the runs' windows T (work per
        request P, work per second s*N)
    cgauth.py --groups N A_GLOB B_GLOB     exclusive instructions per request
        by package group, B - A (e.g. DIR/auth-sqlite-off.*.cg.1 against
        DIR/auth-sqlite.*.cg.1)
    cgauth.py --rates LOG:DIR:N [...]      runs of N requests each at
        different rates (RUNNEL_BENCH_AUTH_RATE, or none): per variant a
        fit of count/N = P + S*T/N over every run (work per request P,
        per second S), and auth on over off from it at 10, 30 and 100
        requests a second
    cgauth.py --calls DUMP...              calls of the SQL store's methods
        from the account code in each dump (callgrind's call counts; its
        inclusive costs are not kept across goroutine stacks)

N is the timed requests (RUNNEL_BENCH_AUTH_REQUESTS). A run's dump is
DIR/auth-VARIANT.PID.cg.1; its window is read from the log's round lines,
whose runs of a variant come in the order of the dumps' times.
"""
import collections, glob, os, re, statistics, sys

VARIANTS = ['none', 'sqlite-off', 'sqlite', 'postgres-off', 'postgres']


def total(path):
    with open(path) as f:
        for line in f:
            if line.startswith('summary:'):
                return int(line.split()[1])
    raise ValueError(path + ': no summary')


def runs(n, pairs):
    """variant -> [(window s, instructions per request)]"""
    out = collections.defaultdict(list)
    for pair in pairs:
        log, d = pair.split(':')[:2]
        wins = collections.defaultdict(list)
        for line in open(log):
            for v, w in re.findall(r' ([a-z-]+) \d+ µs \([^;]*; window ([\d.]+) s[;)]', line):
                wins[v].append(float(w))
        for v, ws in wins.items():
            dumps = sorted(glob.glob(f'{d}/auth-{v}.*.cg.1'), key=os.path.getmtime)
            out[v] += [(w, total(f) / n) for f, w in zip(dumps, ws)]
    return out


def rates(triples):
    """Work per request and per second, fitted over runs of any length.

    A run's count is N*P + S*T (T its window, the settle included), so
    count/N = P + S*(T/N): runs at different rates spread T/N, which the
    runs of one rate do not (their fit in report() is noise)."""
    pts = collections.defaultdict(list)
    for t in triples:
        log, d, n = t.split(':')
        for v, ps in runs(int(n), [log + ':' + d]).items():
            pts[v] += [(w / int(n), y) for w, y in ps]
    fit = {}
    for v in VARIANTS:
        p = pts.get(v, [])
        if len(p) < 2 or max(x for x, _ in p) - min(x for x, _ in p) <= 0:
            continue
        mx, my = statistics.mean(x for x, _ in p), statistics.mean(y for _, y in p)
        s = sum((x - mx) * (y - my) for x, y in p) / sum((x - mx) ** 2 for x, _ in p)
        fit[v] = (my - s * mx, s)
        print('%-13s P %7.0f a request, S %8.0f a second  (%d runs: %s)' % (v, fit[v][0], s, len(p),
              ' '.join('%.0fms:%.0fk' % (1e3 * x, y / 1e3) for x, y in sorted(p))))
    for k in ['sqlite', 'postgres']:
        if k in fit and k + '-off' in fit:
            (pon, son), (poff, soff) = fit[k], fit[k + '-off']
            print('%s: auth on over off, fitted: %s' % (k, ', '.join(
                '%+.1f%% at %d/s' % (100 * ((pon + son / r) / (poff + soff / r) - 1), r) for r in (10, 30, 100))))


def report(n, pairs):
    r = runs(n, pairs)
    med = {v: statistics.median(y for _, y in r[v]) for v in r}
    fit = {}
    for v in VARIANTS:
        p = r.get(v, [])
        if not p:
            continue
        line = '%-13s median %7.0f  runs %s' % (v, med[v], ' '.join('%.1fs:%.0fk' % (w, y / 1e3) for w, y in sorted(p)))
        ts = [w for w, _ in p]
        if len(p) > 2 and max(ts) - min(ts) > 1:
            mt, my = statistics.mean(ts), statistics.mean(y for _, y in p)
            s = sum((w - mt) * (y - my) for w, y in p) / sum((w - mt) ** 2 for w in ts)
            fit[v] = my - s * mt
            line += '  fit: P %.0f, per second %.0f' % (fit[v], s * n)
        print(line)
    for k in ['sqlite', 'postgres']:
        if k in med and k + '-off' in med:
            msg = '%s: auth on over off %+.1f%% (medians)' % (k, 100 * (med[k] / med[k + '-off'] - 1))
            if k in fit and k + '-off' in fit:
                msg += ', %+.1f%% (fitted work per request)' % (100 * (fit[k] / fit[k + '-off'] - 1))
            print(msg)


GROUPS = [
    ('sqlite engine', r'^modernc\.org/(sqlite/lib|libc|memory)'),
    ('sqlite driver', r'^modernc\.org/sqlite\.'),
    ('pgx', r'jackc/'),
    ('database/sql', r'^database/sql'),
    ('runtime: collector', r'^runtime\.(gc|scan|mark|tryDefer|findObject|greyobject|wbBuf|bulkBarrier|typePointers|spanOf|pcvalue|step|getStackMap|readvarint|adjust|copystack|newstack|spanSet|extractHeapBits)|^runtime\.\(\*(gcWork|unwinder|stkframe|moduledata|spanInlineMarkBits|mspan\)\.(typePointers|heapBits))|[Ss]weep'),
    ('runtime: allocation', r'^runtime\.(malloc|memclr|nextFree|newobject|makeslice|growslice|makemap|rawstring|rawbyteslice|concatstring|slicebytetostring|convT|\(\*mspan\)\.writeHeapBits|\(\*mcache\))'),
    ('runtime: rest', r'^runtime\.|^internal/runtime|^sync|^internal/sync|^syscall|^internal/poll|^aeshash|^memeqbody|^indexbyte|^cmpbody|^internal/bytealg'),
    ('crypto', r'^crypto'),
    ('account', r'runnel/account'),
    ('net, net/http, bufio', r'^(net|bufio|vendor/golang.org|mime)'),
    ('other std', r'^(time|context|fmt|strconv|strings|bytes|encoding|unicode|errors|reflect|math|sort|slices|maps|log|io|os|path)'),
    ('runnel, rest', r'runnel/'),
]


def exclusive(path):
    """function -> exclusive instructions, from a callgrind dump"""
    names, exc = {}, collections.Counter()
    fn, call = None, False
    for line in open(path):
        if line.startswith('fn='):
            m = re.match(r'fn=\((\d+)\)(?: (.*))?', line.strip())
            if m.group(2) is not None:
                names[m.group(1)] = m.group(2)
            fn = re.sub(r"'\d+$", '', names[m.group(1)])
        elif line.startswith('calls='):
            call = True
        elif line[:1].isdigit() or line[:1] in '+-*':
            if call:
                call = False  # the called function's inclusive cost
            elif len(line.split()) > 1:
                exc[fn] += int(line.split()[1])
        elif line.startswith(('cfn=', 'cfi=', 'cfl=', 'cob=')):
            m = re.match(r'cfn=\((\d+)\) (.*)', line.strip())
            if m:
                names[m.group(1)] = m.group(2)
    return exc


def groups(n, ga, gb):
    def load(g):
        fs = glob.glob(g)
        out = collections.Counter()
        for f in fs:
            for fn, c in exclusive(f).items():
                out[next((name for name, p in GROUPS if re.search(p, fn)), 'other')] += c
        return {k: v / n / len(fs) for k, v in out.items()}
    a, b = load(ga), load(gb)
    for g in sorted(set(a) | set(b), key=lambda g: -(b.get(g, 0) - a.get(g, 0))):
        print('%-22s %9.0f %9.0f %+9.0f' % (g, a.get(g, 0), b.get(g, 0), b.get(g, 0) - a.get(g, 0)))
    ta, tb = sum(a.values()), sum(b.values())
    print('%-22s %9.0f %9.0f %+9.0f (%+.1f%%)' % ('total', ta, tb, tb - ta, 100 * (tb / ta - 1)))


STORE_CALLS = ['RollBlock', 'TakeBlock', 'CloseBlock', 'AuthKeys', 'Wanted', 'Want', 'OpenBlocks']


def calls(paths):
    for path in paths:
        names, n = {}, collections.Counter()
        caller = callee = None
        for line in open(path):
            m = re.match(r'(c?)fn=\((\d+)\)(?: (.*))?', line.strip())
            if m:
                if m.group(3) is not None:
                    names[m.group(2)] = m.group(3)
                if m.group(1):
                    callee = names[m.group(2)]
                else:
                    caller = names[m.group(2)]
            elif line.startswith('calls=') and callee:
                s = re.search(r'store/sqldb\.\(\*Store\)\.(\w+)$', callee)
                if s and s.group(1) in STORE_CALLS and 'runnel/account.' in caller and 'sqldb' not in caller:
                    n[s.group(1)] += int(line.split('=')[1].split()[0])
                callee = None
        print(path, ' '.join('%s %d' % (k, n[k]) for k in STORE_CALLS))


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--groups':
        groups(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 2 and sys.argv[1] == '--calls':
        calls(sys.argv[2:])
    elif len(sys.argv) > 2 and sys.argv[1] == '--rates':
        rates(sys.argv[2:])
    elif len(sys.argv) > 2:
        report(int(sys.argv[1]), sys.argv[2:])
    else:
        sys.exit(__doc__)
