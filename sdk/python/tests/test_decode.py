"""The event decoders without a server: every shape a server could send
decodes or raises a RunnelError, never anything else."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

import runnel
from runnel._core import StreamState
from runnel._sse import Event

KINDS = ["native", "generate", "chat"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("data", ["{not json", "[1, 2]", "null", '"text"', '{"choices": 5, "index": "x", "token": {}}', '{"choices": [5]}', '{"index": "x", "content": "a"}'])
def test_malformed_events(kind: str, data: str) -> None:
    st = StreamState(kind)
    try:
        st.decode(Event(data=data))
    except runnel.RunnelError as e:
        assert e.code == "bad_event" and e.mid_stream
        assert data[:20] in e.message


@pytest.mark.parametrize(
    "kind,data,code",
    [
        ("native", '{"token":"","done":true,"error":{"code":"upstream_error","message":"boom"}}', "upstream_error"),
        ("generate", '{"type":"error","name":"error","content":"boom","code":"upstream_error"}', "upstream_error"),
        ("chat", '{"error":{"message":"boom","type":"api_error","code":"rate_limited"}}', "rate_limited"),
        ("chat", '{"type":"error","error":{"type":"overloaded_error","message":"boom"}}', "overloaded_error"),
        ("native", '{"error":"boom"}', None),
    ],
)
def test_error_events(kind: str, data: str, code: Any) -> None:
    with pytest.raises(runnel.RunnelError) as e:
        StreamState(kind).decode(Event(data=data))
    assert e.value.message == "boom" and e.value.code == code and e.value.mid_stream and e.value.status is None
    if code == "rate_limited":
        assert isinstance(e.value, runnel.RateLimitError)


def test_decoders_fuzz() -> None:
    # A seeded fuzz over JSON values of every type in every field the
    # decoders read.
    rng = random.Random(15)
    fields = ["token", "done", "provider", "channel", "usage", "finish_reason", "error", "final", "type", "name",
              "content", "index", "is_final", "choices", "delta", "id", "model", "created", "cost", "warnings"]

    def value(depth: int = 0) -> Any:
        r = rng.random()
        if depth < 2 and r < 0.2:
            return {rng.choice(fields): value(depth + 1) for _ in range(rng.randrange(4))}
        if depth < 2 and r < 0.35:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return rng.choice([None, True, False, 0, 1, -1, 2.5, "", "x", "thinking", "error", "[DONE]"])

    for _ in range(3000):
        st = StreamState(rng.choice(KINDS))
        data = json.dumps({rng.choice(fields): value() for _ in range(rng.randrange(6))})
        try:
            st.decode(Event(data=data, id=rng.choice(["", "rs_ab-1", "7"])))
            st.result()
        except runnel.RunnelError:
            pass
