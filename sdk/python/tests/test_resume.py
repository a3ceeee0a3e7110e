"""Resumption through a proxy that cuts the TCP connection mid-event, and
stopping a stream: an early exit or a cancelled task stops the generation
on the server (DELETE /api/v1/streams/{id}); a network cut never does."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable, Dict, List, Tuple

import httpx
import pytest
from conftest import ADMIN_KEY, USER, Recorder, recorded_call, wait_for
from harness import CuttingProxy, Server

import runnel

LONG = "mock/default?tokens=40&itl=5ms"
ID_RE = re.compile(r"^rs_[0-9a-f]{32}-(\d+)$")

# The ways to stream, with the resume option per call.
KINDS: Dict[str, Callable[[Any, int], Any]] = {
    "stream": lambda c, n: c.stream(LONG, USER, resume=n),
    "chat_stream": lambda c, n: c.chat_stream(LONG, USER, resume=n),
    "generate_stream": lambda c, n: c.generate_stream(None, LONG, "go", resume=n),
}


def view(item: Any) -> Tuple[Any, ...]:
    """What must match between a cut run and a whole one (chat chunk ids differ per call)."""
    if isinstance(item, runnel.ChatChunk):
        return (item.text, item.channel, [ch.finish_reason for ch in item.choices], item.usage)
    return (item.text, item.channel, getattr(item, "done", None), getattr(item, "usage", None))


def whole_run(srv: Server, kind: str) -> Tuple[List[Any], runnel.Result]:
    with runnel.Client(srv.base_url, max_retries=0) as c:
        s = KINDS[kind](c, 0)
        items = [view(i) for i in s]
        return items, s.result()


def check_resumed(items: List[Any], per_conn: List[int], want: List[Any], r: runnel.Result, want_r: runnel.Result, rec: Recorder, proxy: CuttingProxy, s: Any) -> None:
    assert proxy.cuts == 1, "the proxy never cut the connection"
    assert proxy.connections == 2 and s.reconnects == 1
    # Every chunk exactly once, in order, and the usage once.
    assert items == want
    assert (r.text, r.usage, r.finish_reason) == (want_r.text, want_r.usage, want_r.finish_reason)
    # On the wire: the first request asked for a resumable stream, the
    # second carried the id of the last whole event of the first.
    first, second = rec.requests
    assert first.headers.get("runnel-resumable") == "true" and "last-event-id" not in first.headers
    m = ID_RE.match(second.headers["last-event-id"])
    assert m, second.headers["last-event-id"]
    assert 0 < per_conn[0] < len(want), f"the cut came after {per_conn[0]} of {len(want)} items"
    assert s.stream_id == second.headers["last-event-id"].rpartition("-")[0]


@pytest.mark.parametrize("kind", list(KINDS))
def test_resume_through_a_cut(server: Server, recorder: Recorder, kind: str) -> None:
    want, want_r = whole_run(server, kind)
    proxy = CuttingProxy(server.base_url, 1500)
    try:
        with runnel.Client(proxy.url, max_retries=0, http_client=recorder.sync_client()) as c:
            s = KINDS[kind](c, 2)
            items: List[Any] = []
            per_conn = [0, 0]
            for i in s:
                items.append(view(i))
                per_conn[len(recorder.requests) - 1] += 1
        check_resumed(items, per_conn, want, s.result(), want_r, recorder, proxy, s)
        # The native stream's ids count its events: the reconnect resumed
        # right after the last token the first connection delivered whole.
        if kind == "stream":
            assert int(ID_RE.match(recorder.requests[1].headers["last-event-id"]).group(1)) == per_conn[0]
    finally:
        proxy.close()


@pytest.mark.parametrize("kind", list(KINDS))
async def test_async_resume_through_a_cut(server: Server, recorder: Recorder, kind: str) -> None:
    want, want_r = whole_run(server, kind)
    proxy = CuttingProxy(server.base_url, 1500)
    try:
        async with runnel.AsyncClient(proxy.url, max_retries=0, http_client=recorder.async_client()) as c:
            s = KINDS[kind](c, 2)
            items: List[Any] = []
            per_conn = [0, 0]
            async for i in s:
                items.append(view(i))
                per_conn[len(recorder.requests) - 1] += 1
        check_resumed(items, per_conn, want, s.result(), want_r, recorder, proxy, s)
    finally:
        proxy.close()


def test_client_wide_resume_and_a_cut_before_the_first_event(server: Server, recorder: Recorder) -> None:
    want, want_r = whole_run(server, "chat_stream")
    proxy = CuttingProxy(server.base_url, "headers")
    try:
        with runnel.Client(proxy.url, max_retries=0, resume=1, http_client=recorder.sync_client()) as c:
            s = c.chat_stream(LONG, USER)
            items = [view(i) for i in s]
        assert items == want and s.reconnects == 1
        assert ID_RE.match(recorder.requests[1].headers["last-event-id"]).group(1) == "0"
        assert s.usage["completion_tokens"] == 40
    finally:
        proxy.close()


def test_resume_gives_up_after_n_reconnects_and_never_deletes(server: Server, recorder: Recorder) -> None:
    proxy = CuttingProxy(server.base_url, 1500, cuts=float("inf"))
    try:
        with runnel.Client(proxy.url, max_retries=0, resume=2, http_client=recorder.sync_client()) as c:
            s = c.stream(LONG, USER)
            with pytest.raises(runnel.APIConnectionError) as e:
                for _ in s:
                    pass
        assert e.value.mid_stream and "gave up after 2 reconnects" in str(e.value)
        assert s.reconnects == 2 and proxy.connections == 3 and len(s.text) > 0
        # A network cut is not a stop: no DELETE, the stream is left to its grace period.
        assert recorder.methods() == ["POST", "POST", "POST"]
    finally:
        proxy.close()


async def test_async_network_cut_never_deletes(server: Server, recorder: Recorder) -> None:
    proxy = CuttingProxy(server.base_url, 1500, cuts=float("inf"))
    try:
        async with runnel.AsyncClient(proxy.url, max_retries=0, resume=1, http_client=recorder.async_client()) as c:
            with pytest.raises(runnel.APIConnectionError) as e:
                async for _ in c.generate_stream(None, LONG, "go"):
                    pass
        assert e.value.mid_stream and recorder.methods() == ["POST", "POST"]
    finally:
        proxy.close()


def test_without_resume_a_cut_fails_and_asks_for_no_resumable_stream(server: Server, recorder: Recorder) -> None:
    want, _ = whole_run(server, "stream")
    proxy = CuttingProxy(server.base_url, 1500)
    try:
        with runnel.Client(proxy.url, max_retries=0, http_client=recorder.sync_client()) as c:
            s = c.stream(LONG, USER)
            got = []
            with pytest.raises(runnel.APIConnectionError) as e:
                for i in s:
                    got.append(view(i))
        assert e.value.mid_stream and str(e.value).startswith("stream interrupted")
        assert proxy.connections == 1 and s.reconnects == 0 and 0 < len(got) < len(want) and got == want[: len(got)]
        assert "runnel-resumable" not in recorder.requests[0].headers
    finally:
        proxy.close()


def test_a_reconnect_the_server_cannot_serve_is_its_404(server: Server) -> None:
    # Rewrites the resumed stream's id to one that never existed.
    def rewrite(req: httpx.Request) -> None:
        if "last-event-id" in req.headers:
            req.headers["Last-Event-ID"] = "rs_" + "0" * 32 + "-3"

    proxy = CuttingProxy(server.base_url, 1500)
    try:
        with runnel.Client(proxy.url, max_retries=0, resume=3, http_client=httpx.Client(event_hooks={"request": [rewrite]})) as c:
            with pytest.raises(runnel.NotFoundError) as e:
                list(c.chat_stream(LONG, USER))
        assert e.value.status == 404 and e.value.mid_stream
    finally:
        proxy.close()


# Stopping. With auth on and an hour's grace, only the SDK's DELETE can end
# a stopped resumable stream's generation within the test's guard: the mock
# (hang_after) streams until it is cancelled, so its call record,
# "cancelled", is the proof that the upstream was cancelled.


def hanging(marker: str) -> str:
    return f"mock/default?hang_after=2&text={marker}%20b%20c"


def check_deleted(srv: Server, rec: Recorder, marker: str, s: Any) -> None:
    call = wait_for(recorded_call(srv, marker), f"the call of {marker} to be recorded")
    assert call["status"] == "cancelled", call
    assert rec.methods() == ["POST", "DELETE"]
    post, delete = rec.requests
    assert delete.url.path == f"/api/v1/streams/{s.stream_id}" and s.stream_id.startswith("rs_")
    assert delete.headers["authorization"] == f"Bearer {ADMIN_KEY}"
    assert rec.statuses[id(delete)] == 204


def auth_client(srv: Server, rec: Recorder, **kw: Any) -> runnel.Client:
    return runnel.Client(srv.base_url, ADMIN_KEY, max_retries=0, http_client=rec.sync_client(), **kw)


def auth_aclient(srv: Server, rec: Recorder, **kw: Any) -> runnel.AsyncClient:
    return runnel.AsyncClient(srv.base_url, ADMIN_KEY, max_retries=0, http_client=rec.async_client(), **kw)


def test_break_stops_a_resumable_stream(auth_server: Server, recorder: Recorder) -> None:
    with auth_client(auth_server, recorder, resume=2) as c:
        s = c.stream(hanging("syncbreak"), USER)
        for _ in s:
            break
        # The DELETE was sent before the loop was left.
        assert recorder.methods() == ["POST", "DELETE"]
    check_deleted(auth_server, recorder, "syncbreak", s)


def test_with_block_and_exceptions_stop_a_resumable_stream(auth_server: Server) -> None:
    for way in ("with", "raise"):
        rec = Recorder()
        marker = f"sync{way}"
        with auth_client(auth_server, rec, resume=2) as c:
            s = c.generate_stream(None, hanging(marker), "go")
            if way == "with":
                with s:
                    it = iter(s)
                    next(it)
                    assert rec.methods() == ["POST"]
                assert rec.methods() == ["POST", "DELETE"]
            else:
                with pytest.raises(ValueError):
                    for _ in s:
                        raise ValueError("the caller's own error")
        check_deleted(auth_server, rec, marker, s)


def test_break_without_resume_cancels_the_upstream(auth_server: Server, recorder: Recorder) -> None:
    # Not resumable: closing the connection is the stop, no DELETE needed.
    with auth_client(auth_server, recorder) as c:
        for _ in c.chat_stream(hanging("plainbreak"), USER):
            break
    call = wait_for(recorded_call(auth_server, "plainbreak"), "the call to be recorded")
    assert call["status"] == "cancelled"
    assert recorder.methods() == ["POST"]


async def async_wait_for(cond: Callable[[], Any], what: str) -> Any:
    async def poll() -> Any:
        while True:
            v = await asyncio.get_running_loop().run_in_executor(None, cond)
            if v:
                return v
            await asyncio.sleep(0.02)

    try:
        return await asyncio.wait_for(poll(), 20)  # a deadlock guard
    except asyncio.TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def test_async_break_in_async_with_stops_a_resumable_stream(auth_server: Server, recorder: Recorder) -> None:
    async with auth_aclient(auth_server, recorder, resume=2) as c:
        s = c.chat_stream(hanging("asyncwith"), USER)
        async with s:
            async for _ in s:
                break
        assert recorder.methods() == ["POST", "DELETE"]
    await async_wait_for(recorded_call(auth_server, "asyncwith"), "the call to be recorded")
    check_deleted(auth_server, recorder, "asyncwith", s)


async def test_async_bare_break_stops_a_resumable_stream(auth_server: Server, recorder: Recorder) -> None:
    # Without async with, the event loop finalizes the abandoned generator.
    async with auth_aclient(auth_server, recorder, resume=2) as c:
        s = c.stream(hanging("asyncbreak"), USER)
        async for _ in s:
            break
        await async_wait_for(lambda: recorder.methods() == ["POST", "DELETE"] and id(recorder.requests[1]) in recorder.statuses, "the DELETE")
    await async_wait_for(recorded_call(auth_server, "asyncbreak"), "the call to be recorded")
    check_deleted(auth_server, recorder, "asyncbreak", s)


async def test_async_task_cancel_stops_a_resumable_stream(auth_server: Server, recorder: Recorder) -> None:
    async with auth_aclient(auth_server, recorder, resume=2) as c:
        s = c.generate_stream(None, hanging("asynccancel"), "go")
        got: List[str] = []
        two = asyncio.Event()

        async def consume() -> None:
            async for ch in s:
                got.append(ch.content)
                if len(got) == 2:
                    two.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(two.wait(), 20)  # a deadlock guard
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert got == ["asynccancel", " b"]
    await async_wait_for(recorded_call(auth_server, "asynccancel"), "the call to be recorded")
    check_deleted(auth_server, recorder, "asynccancel", s)


def test_a_stalled_resumable_stream_reconnects_then_gives_up_without_delete(server: Server, recorder: Recorder) -> None:
    # A stall past the idle timeout is handled as a cut: the stream
    # reconnects (the mock is still hanging), then gives up. The server's
    # keep-alives arrive every 100ms, so the idle check counts events.
    with runnel.Client(server.base_url, max_retries=0, resume=1, idle_timeout=1.0, http_client=recorder.sync_client()) as c:
        s = c.stream("mock/default?hang_after=2", USER)
        got: List[str] = []
        with pytest.raises(runnel.APIConnectionError) as e:
            for t in s:
                got.append(t.token)
    assert got == ["Runnel", " streams"] and s.reconnects == 1
    assert e.value.mid_stream and "gave up after 1 reconnect" in e.value.message and "no event for 1.0s" in e.value.message
    assert recorder.methods() == ["POST", "POST"]
    assert ID_RE.match(recorder.requests[1].headers["last-event-id"]).group(1) == "2"


def test_a_callbacks_own_error_is_not_a_cut(auth_server: Server, recorder: Recorder) -> None:
    # Even an httpx error, raised by a callback, is the caller's: it is not
    # resumed, and the stream is stopped on the server.
    def on_chunk(text: str) -> None:
        raise httpx.ReadError("the callback's own")

    with auth_client(auth_server, recorder, resume=2) as c:
        s = c.chat_stream(hanging("callbackerr"), USER, on_chunk=on_chunk)
        with pytest.raises(httpx.ReadError):
            list(s)
        assert s.reconnects == 0
    check_deleted(auth_server, recorder, "callbackerr", s)
