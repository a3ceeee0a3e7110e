"""The SDK's client-side cost per chunk, against a live runnel serve.

    RUNNEL_BIN=bin/runnel /usr/bin/python3 bench/overhead.py [rounds] [tokens]

Reads one stream of N mock tokens (no delay between them) per variant:
  floor   httpx, bytes read and dropped (the transport alone)
  naive   httpx iter_lines + "data: " + json.loads (the seeds' client)
  sdk     runnel.Client.stream (parse, decode, metrics)
  async   runnel.AsyncClient.stream
and, without a server, the SSE parser alone against httpx's line decoder on
the same recorded body (lines: httpx's own line decoder, what iter_lines
runs). Rounds interleave the variants in a rotating
order; it prints each variant's median and range of chunks/s and its
median ratio to floor (the parser's, to lines)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx  # noqa: E402
from harness import Server  # noqa: E402

import runnel  # noqa: E402
from runnel._sse import Parser  # noqa: E402

USER = [{"role": "user", "content": "go"}]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    import os

    srv = Server(os.environ["RUNNEL_BIN"])
    model = f"mock/default?tokens={tokens}"
    body = {"model": model, "messages": USER}
    url = srv.base_url + "/api/v1/inference/stream"
    http = httpx.Client()
    sdk = runnel.Client(srv.base_url, max_retries=0)

    def floor() -> int:
        with http.stream("POST", url, json=body) as r:
            return sum(1 for _ in r.iter_bytes()) and tokens

    def naive() -> int:
        n = 0
        with http.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                line = line.rstrip("\n")
                if line.startswith("data: "):
                    if json.loads(line[6:])["token"]:
                        n += 1
        return n

    def sync_sdk() -> int:
        s = sdk.stream(model, USER)
        for _ in s:
            pass
        return s.metrics.chunks

    async def async_read() -> int:
        async with runnel.AsyncClient(srv.base_url, max_retries=0) as c:
            s = c.stream(model, USER)
            async for _ in s:
                pass
            return s.metrics.chunks

    def async_sdk() -> int:
        return asyncio.run(async_read())

    with http.stream("POST", url, json=body) as r:
        recorded = r.read()
    pieces = [recorded[i : i + 4096] for i in range(0, len(recorded), 4096)]

    def parser() -> int:
        p = Parser()
        return sum(len(p.feed(c)) for c in pieces)

    def lines() -> int:
        # What iter_lines does: httpx's own text and line decoders.
        from httpx._decoders import LineDecoder, TextDecoder

        text, line = TextDecoder(), LineDecoder()
        n = 0
        for c in pieces:
            n += sum(1 for ln in line.decode(text.decode(c)) if ln.startswith("data: "))
        return n

    variants: Dict[str, Callable[[], int]] = {"floor": floor, "naive": naive, "sdk": sync_sdk, "async": async_sdk, "lines": lines, "parser": parser}
    rates: Dict[str, List[float]] = {k: [] for k in variants}
    names = list(variants)
    for k in names:  # warm up
        variants[k]()
    for rnd in range(rounds):
        order = names[rnd % len(names):] + names[: rnd % len(names)]
        for k in order:
            t = time.perf_counter()
            n = variants[k]()
            rates[k].append(n / (time.perf_counter() - t))
    srv.stop()

    print(f"{rounds} rounds, {tokens} tokens per stream, {len(recorded)} bytes per body")
    print(f"{'variant':8} {'median chunks/s':>16} {'range':>24} {'ratio (median of rounds)':>26}")
    for k in names:
        base = "lines" if k in ("lines", "parser") else "floor"
        ratios = [a / b for a, b in zip(rates[k], rates[base])]
        lo, hi = min(rates[k]), max(rates[k])
        print(f"{k:8} {statistics.median(rates[k]):16,.0f} {lo:11,.0f}–{hi:<11,.0f} {statistics.median(ratios):8.2f}× {base} ({min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
