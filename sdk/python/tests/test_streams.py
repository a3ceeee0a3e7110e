"""Streaming against a live runnel serve, sync and async: the three kinds
of stream, callbacks, stream_to_file, metrics, errors and timeouts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, List

import pytest
from conftest import ADMIN_KEY, USER
from harness import Server, unreachable_listener

import runnel

# The mock's default text, token by token (deterministic).
TEXT5 = "Runnel streams every token the"
TOKENS5 = ["Runnel", " streams", " every", " token", " the"]


def client(srv: Server, **kw: Any) -> runnel.Client:
    return runnel.Client(srv.base_url, max_retries=0, **kw)


def aclient(srv: Server, **kw: Any) -> runnel.AsyncClient:
    return runnel.AsyncClient(srv.base_url, max_retries=0, **kw)


# Native token stream.


def test_stream_native_tokens(server: Server) -> None:
    with client(server) as c:
        # A client that does not ask for reasoning never gets it.
        plain = list(c.stream("mock/default?tokens=5&think=2", USER))
        s = c.stream("mock/default?tokens=5&think=2", USER, parameters={"enable_thinking": True})
        toks = list(s)
        thinking: List[str] = []
        c.stream("mock/default?tokens=5&think=2", USER, on_thinking=thinking.append).collect()
    assert [(t.token, t.channel) for t in plain[:-1]] == [(t, "output") for t in TOKENS5]
    assert thinking == ["Let", " me"]
    assert [(t.token, t.channel) for t in toks[:-1]] == [("Let", "thinking"), (" me", "thinking")] + [(t, "output") for t in TOKENS5]
    assert all(not t.done and t.provider == "mock" for t in toks[:-1])
    last = toks[-1]
    assert (last.token, last.done, last.provider, last.finish_reason) == ("", True, "mock", "stop")
    assert last.usage == {"input_tokens": 4, "output_tokens": 7, "total_tokens": 11}
    assert s.usage == last.usage and s.finish_reason == "stop" and s.provider == "mock"
    r = s.result()
    assert (r.text, r.thinking) == (TEXT5, "Let me")


async def test_async_stream_native_tokens(server: Server) -> None:
    async with aclient(server) as c:
        s = c.stream("mock/default?tokens=5", USER)
        toks = [t async for t in s]
    assert [t.token for t in toks] == TOKENS5 + [""]
    assert toks[-1].done and s.usage == {"input_tokens": 4, "output_tokens": 5, "total_tokens": 9}


def test_stream_parameters_reach_the_server(server: Server) -> None:
    with client(server) as c:
        s = c.stream("mock/default?tokens=9", USER, parameters={"max_tokens": 3})
        assert "".join(t.token for t in s) == "Runnel streams every"
    assert s.finish_reason == "length"


# Metrics (seed 000): exact counts, and times consistent with each other
# and with the lower bounds the mock's schedule guarantees.


def check_metrics(m: runnel.Metrics, chunks: int, ttft: float) -> None:
    assert m.chunks == chunks
    assert m.ttfc is not None and ttft <= m.ttfc <= m.total
    assert m.mean_chunk_gap > 0 and m.chunks_per_second > 0
    assert m.chunks_per_second * m.mean_chunk_gap == pytest.approx(1.0)


def test_metrics_on_every_kind_of_stream(server: Server) -> None:
    model = "mock/default?tokens=5&ttft=30ms&itl=2ms"
    with client(server) as c:
        for s in (c.stream(model, USER), c.chat_stream(model, USER), c.generate_stream(None, model, "go")):
            before = s.metrics
            assert before.chunks == 0 and before.ttfc is None
            s.collect()
            check_metrics(s.metrics, 5, 0.030)
            assert s.result().metrics == s.metrics  # frozen once the stream ended


async def test_async_metrics(server: Server) -> None:
    async with aclient(server) as c:
        s = c.chat_stream("mock/default?tokens=5&ttft=30ms&itl=2ms", USER)
        await s.collect()
    check_metrics(s.metrics, 5, 0.030)


# Typed generation with seed 001's callbacks.


def test_generate_stream_callbacks_and_result(server: Server) -> None:
    seen: List[Any] = []
    with client(server) as c:
        s = c.generate_stream(
            "mock", "default?tokens=5&think=2", [{"type": "text", "name": "input", "content": "go"}],
            parameters={"temperature": 0}, history=[{"role": "user", "content": "earlier"}],
            on_chunk=lambda t: seen.append(("chunk", t)),
            on_thinking=lambda t: seen.append(("thinking", t)),
            on_complete=lambda r: seen.append(("complete", r)),
        )
        chunks = list(s)
    assert [(ch.name, ch.content, ch.index) for ch in chunks] == [("thinking", "Let", 0), ("thinking", " me", 0)] + [("output", t, 1) for t in TOKENS5]
    assert all(ch.type == "text" and not ch.done for ch in chunks)
    assert seen[:-1] == [("thinking", "Let"), ("thinking", " me")] + [("chunk", t) for t in TOKENS5]
    kind, r = seen[-1]
    assert kind == "complete" and r.usage == {"input_tokens": 2, "output_tokens": 7, "total_tokens": 9}
    assert r.cost == {"input": 0, "output": 0, "total": 0} and r.warnings == []
    assert r.outputs == [{"type": "text", "name": "thinking", "content": "Let me"}, {"type": "text", "name": "output", "content": TEXT5}]
    assert (r.text, r.thinking, r.finish_reason, r.provider) == (TEXT5, "Let me", "stop", "mock")
    assert s.result() == r


async def test_async_generate_stream_callbacks(server: Server) -> None:
    out: List[str] = []
    done: List[runnel.Result] = []
    async with aclient(server) as c:
        r = await c.generate_stream(None, "mock/default?tokens=5", "go", on_chunk=out.append, on_complete=done.append).collect()
    assert "".join(out) == TEXT5 and done == [r] and r.usage["output_tokens"] == 5


# OpenAI-shaped chat chunks.


def test_chat_stream_chunks(server: Server) -> None:
    with client(server) as c:
        s = c.chat_stream("mock/default?tokens=3", USER, temperature=0.5, max_tokens=10)
        chunks = list(s)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [ch.choices[0].delta.content for ch in chunks[:3]] == ["Runnel", " streams", " every"]
    assert chunks[3].choices[0].finish_reason == "stop" and chunks[3].text == ""
    assert chunks[4].choices == [] and chunks[4].usage == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert len({ch.id for ch in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].raw["object"] == "chat.completion.chunk"
    assert (s.text, s.finish_reason, s.usage) == ("Runnel streams every", "stop", chunks[4].usage)


def test_chat_stream_thinking_channel(server: Server) -> None:
    thinking: List[str] = []
    with client(server) as c:
        r = c.chat_stream("mock/default?tokens=2&think=3", USER, on_thinking=thinking.append).collect()
    assert thinking == ["Let", " me", " think"] and r.thinking == "Let me think" and r.text == "Runnel streams"


# stream_to_file.


def test_stream_to_file(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "out.md"
    with client(server) as c:
        r = runnel.stream_to_file(c.generate_stream(None, "mock/default?tokens=5&think=2", "go"), str(path))
    assert path.read_text() == TEXT5 and r.text == TEXT5 and r.usage["total_tokens"] == 8
    with client(server) as c:
        c.stream("mock/default?tokens=5&think=2", USER, parameters={"enable_thinking": True}).to_file(str(path), thinking=True)
    assert path.read_text() == "Let me" + TEXT5


async def test_async_stream_to_file(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    async with aclient(server) as c:
        r = await runnel.stream_to_file(c.chat_stream("mock/default?tokens=5", USER), str(path))
    assert path.read_text() == TEXT5 == r.text


def test_stream_to_file_keeps_what_arrived_and_raises(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with client(server) as c, pytest.raises(runnel.RunnelError) as e:
        c.generate_stream(None, "mock/default?tokens=5&error_after=2", "go").to_file(str(path))
    assert e.value.mid_stream and path.read_text() == "Runnel streams"


def test_a_stream_is_iterated_once(server: Server) -> None:
    with client(server) as c:
        s = c.stream("mock/default?tokens=2", USER)
        list(s)
        with pytest.raises(RuntimeError):
            iter(s)


# Errors before the first chunk: status, code, Retry-After.


def test_errors_before_the_first_chunk(server: Server) -> None:
    with client(server) as c:
        with pytest.raises(runnel.RateLimitError) as e:
            list(c.stream("mock/default?status=429", USER))
        assert (e.value.status, e.value.code, e.value.retry_after, e.value.mid_stream) == (429, "rate_limited", 1.0, False)
        with pytest.raises(runnel.RateLimitError) as e:
            list(c.chat_stream("mock/default?status=429", USER))
        assert (e.value.status, e.value.retry_after) == (429, 1.0)
        with pytest.raises(runnel.ServerError) as e:
            list(c.generate_stream(None, "mock/default?status=502", "go"))
        assert e.value.status == 502
        with pytest.raises(runnel.BadRequestError) as e:
            list(c.stream("mock/default", USER, parameters={"temperature": "hot"}))
        assert (e.value.status, e.value.param) == (400, "parameters.temperature") and "temperature" in e.value.message
        with pytest.raises(runnel.NotFoundError) as e:
            list(c.chat_stream("nosuchprovider/x", USER))
        assert e.value.status == 404


def test_retries_before_the_first_chunk_honour_retry_after(server: Server, recorder: Any) -> None:
    # 429 twice (each with Retry-After: 1), then the error: three requests.
    with runnel.Client(server.base_url, max_retries=2, http_client=recorder.sync_client()) as c:
        with pytest.raises(runnel.RateLimitError):
            list(c.stream("mock/default?status=429", USER))
    assert recorder.methods() == ["POST", "POST", "POST"]


async def test_async_errors_before_the_first_chunk(server: Server) -> None:
    async with aclient(server) as c:
        with pytest.raises(runnel.RateLimitError) as e:
            async for _ in c.stream("mock/default?status=429", USER):
                pass
    assert (e.value.status, e.value.code, e.value.retry_after) == (429, "rate_limited", 1.0)


# Errors mid-stream: an error event is never a clean end.


@pytest.mark.parametrize("kind", ["stream", "chat_stream", "generate_stream"])
def test_error_event_mid_stream(server: Server, kind: str) -> None:
    model = "mock/default?tokens=5&error_after=2"
    got: List[str] = []
    completed: List[Any] = []
    with client(server) as c:
        s = {
            "stream": lambda: c.stream(model, USER, on_complete=completed.append),
            "chat_stream": lambda: c.chat_stream(model, USER, on_complete=completed.append),
            "generate_stream": lambda: c.generate_stream(None, model, "go", on_complete=completed.append),
        }[kind]()
        with pytest.raises(runnel.RunnelError) as e:
            for item in s:
                got.append(item.text)
    assert "".join(got) == "Runnel streams"
    assert e.value.mid_stream and e.value.code == "upstream_error" and e.value.status is None
    assert "injected upstream error" in e.value.message
    assert completed == []


async def test_async_error_event_mid_stream(server: Server) -> None:
    async with aclient(server) as c:
        with pytest.raises(runnel.RunnelError) as e:
            async for _ in c.generate_stream(None, "mock/default?tokens=5&error_after=2", "go"):
                pass
    assert e.value.mid_stream and e.value.code == "upstream_error"


# Connection errors and timeouts.


def test_connection_refused(server: Server) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with runnel.Client(f"http://127.0.0.1:{port}", max_retries=0) as c, pytest.raises(runnel.APIConnectionError) as e:
        list(c.stream("mock/default", USER))
    assert not e.value.mid_stream and not isinstance(e.value, runnel.APITimeoutError)


def test_connect_timeout() -> None:
    url, held = unreachable_listener()
    try:
        with runnel.Client(url, max_retries=0, connect_timeout=0.3) as c, pytest.raises(runnel.APITimeoutError) as e:
            list(c.stream("mock/default", USER))
        assert not e.value.mid_stream and e.value.code == "timeout" and "connecting" in str(e.value)
    finally:
        for s in held:
            s.close()


async def test_async_connect_timeout() -> None:
    url, held = unreachable_listener()
    try:
        async with runnel.AsyncClient(url, max_retries=0, connect_timeout=0.3) as c:
            with pytest.raises(runnel.APITimeoutError):
                async for _ in c.stream("mock/default", USER):
                    pass
    finally:
        for s in held:
            s.close()


def test_idle_timeout_between_chunks(server: Server) -> None:
    # The server sends keep-alive comments every 100ms while the mock
    # hangs: bytes keep coming, but no chunk.
    got: List[str] = []
    with client(server, idle_timeout=1.0) as c, pytest.raises(runnel.APITimeoutError) as e:
        for t in c.stream("mock/default?hang_after=2", USER):
            got.append(t.token)
    assert got == ["Runnel", " streams"] and e.value.mid_stream


async def test_async_idle_timeout_without_bytes(auth_server: Server) -> None:
    # This server sends keep-alives only after 15s: after the first token
    # no byte comes at all, and the read itself times out.
    async with runnel.AsyncClient(auth_server.base_url, ADMIN_KEY, max_retries=0) as c:
        got: List[str] = []
        with pytest.raises(runnel.APITimeoutError) as e:
            async for ch in c.chat_stream("mock/default?hang_after=1", USER, idle_timeout=1.0):
                got.append(ch.text)
    assert e.value.mid_stream and "".join(got) == "Runnel"


def test_non_streaming_calls(server: Server) -> None:
    with client(server) as c:
        out = c.chat("mock/default?tokens=3", USER)
        assert out["choices"][0]["message"]["content"] == "Runnel streams every"
        g = c.generate(None, "mock/default?tokens=3", "go")
        assert g["usage"]["output_tokens"] == 3
        assert any(m["id"].startswith("mock/") for m in c.models())


async def test_async_task_timeout_is_a_cancellation(server: Server) -> None:
    # asyncio.wait_for cancels the task mid-stream: CancelledError is the
    # caller's, and surfaces as the timeout, not as a RunnelError.
    async with aclient(server) as c:
        s = c.stream("mock/default?hang_after=1", USER)
        first = asyncio.Event()

        async def read() -> None:
            async for _ in s:
                first.set()

        task = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), 20)  # a deadlock guard
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(task, 0.2)  # the stream hangs: this always times out
        assert task.cancelled()
    assert s.text == "Runnel"
