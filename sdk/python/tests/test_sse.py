"""The SSE parser against the Go reader's cases (sse/sse_test.go
TestReader), fed whole, byte by byte and split at random."""

from __future__ import annotations

import random
from typing import List, Optional

import pytest

from runnel._sse import Event, EventTooLong, Parser


def msg(id: str, data: str, event: str = "message", retry: Optional[int] = None) -> Event:
    return Event(data=data, event=event, id=id, retry=retry)


CASES = [
    # The examples of the WHATWG HTML standard, §9.2.
    ("stock ticker", "data: YHOO\ndata: +2\ndata: 10\n\n", [msg("", "YHOO\n+2\n10")]),
    ("ids and comments", ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
     [msg("1", "first event"), msg("", "second event"), msg("", " third event")]),
    ("empty data", "data\n\ndata\ndata\n\ndata:", [msg("", ""), msg("", "\n")]),
    ("one space removed", "data:test\n\ndata: test\n\n", [msg("", "test"), msg("", "test")]),
    # Line ends, BOM, fields.
    ("CRLF", "data: a\r\ndata: b\r\n\r\n", [msg("", "a\nb")]),
    ("CR", "data: a\rdata: b\r\r", [msg("", "a\nb")]),
    ("mixed", "data: a\r\n\rdata: b\n\r\n", [msg("", "a"), msg("", "b")]),
    ("BOM", "\ufeffdata: a\n\n", [msg("", "a")]),
    ("only one BOM", "\ufeff\ufeffdata: a\n\ndata: b\n\n", [msg("", "b")]),
    ("event type", "event: delta\ndata: x\n\ndata: y\n\n", [msg("", "x", "delta"), msg("", "y")]),
    ("type without data not dispatched", "event: ping\n\ndata: y\n\n", [msg("", "y")]),
    ("unterminated final event", "data: a\n\ndata: b\n", [msg("", "a")]),
    ("id persists", "id: 7\ndata: a\n\ndata: b\n\n", [msg("7", "a"), msg("7", "b")]),
    ("id with NUL ignored", "id: 3\ndata: a\n\nid: 4\x005\ndata: b\n\n", [msg("3", "a"), msg("3", "b")]),
    ("id without data still set", "id: 9\n\ndata: a\n\n", [msg("9", "a")]),
    ("retry", "retry: 2500\ndata: a\n\nretry: x1\ndata: b\n\n", [msg("", "a", retry=2500), msg("", "b")]),
    ("unknown fields and colons", "foo: bar\ndata: a: b\nData: no\n\n", [msg("", "a: b")]),
    ("field without colon", "data\nevent\n\n", [msg("", "")]),
    ("no space", "data:x\n\n", [msg("", "x")]),
    ("empty", "", []),
    # Beyond the Go table: what the byte-level splitting must get right.
    ("multibyte text", "data: héllo – 世界 🌊\n\n", [msg("", "héllo – 世界 🌊")]),
    ("non-ASCII digits are no retry", "retry: ²\ndata: a\n\n", [msg("", "a")]),
    ("a runnel resumable id", "id: rs_0123-4\ndata: {\"token\":\"x\"}\n\n", [msg("rs_0123-4", '{"token":"x"}')]),
]


def parse(chunks: List[bytes]) -> List[Event]:
    p = Parser()
    out: List[Event] = []
    for c in chunks:
        out += p.feed(c)
    return out


@pytest.mark.parametrize("name,text,want", CASES, ids=[c[0] for c in CASES])
def test_parser(name: str, text: str, want: List[Event]) -> None:
    raw = text.encode()
    assert parse([raw]) == want
    # Byte by byte: CRLF and UTF-8 sequences split between reads.
    assert parse([raw[i : i + 1] for i in range(len(raw))]) == want
    # Split in two at every point.
    for i in range(len(raw) + 1):
        assert parse([raw[:i], raw[i:]]) == want, f"split at {i}"


def test_parser_random_splits_and_garbage() -> None:
    # A seeded fuzz: random streams built from SSE's pieces and random
    # bytes parse the same whatever the split, and never raise.
    rng = random.Random(15)
    pieces = [b"data:", b"data: ", b"id: ", b"id", b"event: e", b"retry: 12", b":c", b"\r", b"\n", b"\r\n", b"x", b"\xe4\xb8\x96", b"\xff", b"\x00", b"\xef\xbb\xbf", b" "]
    for _ in range(400):
        raw = b"".join(rng.choice(pieces) if rng.random() < 0.8 else bytes([rng.randrange(256)]) for _ in range(rng.randrange(60)))
        whole = parse([raw])
        cuts = sorted(rng.sample(range(len(raw) + 1), min(len(raw) + 1, rng.randrange(1, 6))))
        parts = [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]
        assert parse(parts) == whole, raw


def test_parser_event_size_limit() -> None:
    p = Parser(max_event_size=16)
    assert p.feed(b"data: 0123456789\n\n") == [msg("", "0123456789")]
    with pytest.raises(EventTooLong):
        p.feed(b"data: 0123456789\ndata: 0123456789\n")
    with pytest.raises(EventTooLong):
        Parser(max_event_size=16).feed(b"data: " + b"x" * 32)


def test_parser_last_id() -> None:
    p = Parser()
    p.feed(b"id: a\ndata: 1\n\nid: b\n")
    assert p.last_id == "b"
