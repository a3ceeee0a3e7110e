"""The asyncio client: the sync client's twin, method for method."""

from __future__ import annotations

import asyncio
import itertools
import time
import weakref
from typing import Any, AsyncGenerator, AsyncIterator, Dict, Generic, List, Optional, TypeVar, Union

import httpx

from . import _api, _core, errors
from ._sse import Event, EventTooLong, Parser
from .types import ChatChunk, GenerationChunk, Job, JobCompletion, Key, Result, Team, Token

JSON = Dict[str, Any]
T = TypeVar("T", Token, GenerationChunk, ChatChunk)
R = TypeVar("R")


class AsyncStream(_core.StreamView, Generic[T]):
    """A streamed call: iterate it once with async for. Leaving the loop
    early, cancelling the task, aclose() or the end of an async with block
    stops the request, and a resumable stream's generation on the server
    (DELETE /api/v1/streams/{id}); a network cut never does. A bare break
    relies on the event loop finalizing the generator, which asyncio does
    soon after; async with stops it before the block ends."""

    def __init__(self, client: "AsyncClient", path: str, body: JSON, state: _core.StreamState, resume: int, idle_timeout: Optional[float]) -> None:
        self._client = client
        self._path = path
        self._body = body
        self._state = state
        self._resume = resume
        self._idle = idle_timeout
        self._gen: Optional["weakref.ref[AsyncIterator[T]]"] = None
        # Inside async with, the stream holds its generator, so that the
        # block's end can close it: a weak reference dies on break, before
        # the event loop gets to finalize the generator.
        self._managed = False
        self._held: Optional[AsyncIterator[T]] = None

    def __aiter__(self) -> AsyncIterator[T]:
        if self._gen is not None:
            raise RuntimeError("runnel: a stream can be iterated only once")
        gen = self._run()
        self._gen = weakref.ref(gen)
        if self._managed:
            self._held = gen
        return gen

    async def __aenter__(self) -> "AsyncStream[T]":
        self._managed = True
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stops the stream if it is still running."""
        gen = self._held or (self._gen() if self._gen is not None else None)
        self._held = None
        if gen is not None:
            await gen.aclose()  # type: ignore[attr-defined]

    async def collect(self) -> Result:
        """Reads the stream to its end and returns the result."""
        async for _ in self:
            pass
        return self.result()

    async def to_file(self, path: str, *, thinking: bool = False, encoding: str = "utf-8") -> Result:
        """Writes the output (and the thinking, if asked) to path as it
        arrives, flushing after each chunk, and returns the result."""
        with open(path, "w", encoding=encoding) as f:
            async for item in self:
                if item.text and (thinking or item.channel != "thinking"):
                    f.write(item.text)
                    f.flush()
        return self.result()

    async def _events(self, resp: httpx.Response) -> AsyncGenerator[Event, None]:
        parser = Parser()
        last = time.perf_counter()
        try:
            async for chunk in resp.aiter_bytes():
                evs = parser.feed(chunk)
                now = time.perf_counter()
                if evs:
                    last = now
                elif self._idle is not None and now - last > self._idle:
                    raise _core.IdleTimeout(f"no event for {self._idle}s")
                for ev in evs:
                    yield ev
        except EventTooLong as e:
            raise errors.RunnelError(str(e), code="bad_event", mid_stream=True) from None

    async def _run(self) -> AsyncIterator[T]:
        st, c = self._state, self._client
        headers = {"Accept": "text/event-stream"}
        if self._resume > 0:
            headers["Runnel-Resumable"] = "true"
        timeout = _core.timeouts(c.connect_timeout, self._idle)
        finished = failed = False
        st.begin()
        resp: Optional[httpx.Response] = None
        try:
            resp = await c._send("POST", self._path, self._body, headers, timeout, stream=True)
            while True:
                st.stream_id = resp.headers.get("runnel-stream-id") or st.stream_id
                # Only failures to read the body are cuts that may be
                # resumed; errors the stream reports are the caller's.
                cut: Optional[BaseException] = None
                events = self._events(resp)
                try:
                    while True:
                        try:
                            ev = await events.__anext__()
                        except StopAsyncIteration:
                            break
                        except (httpx.TransportError, _core.IdleTimeout) as e:
                            cut = e
                            break
                        item, done = st.decode(ev)
                        finished = done
                        if item is not None:
                            yield item  # type: ignore[misc]
                        if done:
                            return
                finally:
                    await events.aclose()
                    await resp.aclose()
                why = f"stream interrupted: {cut}" if cut else "stream ended before it was complete"
                frm = st.resume_from()
                if self._resume <= 0 or not frm:
                    if cut is not None:
                        raise _core.connection_error(cut, c.base_url, mid_stream=True)
                    raise errors.APIConnectionError(why, mid_stream=True)
                resp = await self._reconnect(frm, headers, timeout, why)
                if resp is None:
                    finished = True
                    return
        except errors.RunnelError:
            failed = True
            raise
        finally:
            st.end()
            if resp is not None:
                await resp.aclose()
            # The caller stopped (break, cancel, an exception of its own):
            # the server cannot tell that from a cut, so say it.
            if not finished and not failed and self._resume > 0 and st.abandon_id():
                await c._cancel(st.abandon_id())

    async def _reconnect(self, frm: str, headers: Dict[str, str], timeout: httpx.Timeout, why: str) -> Optional[httpx.Response]:
        st, c = self._state, self._client
        for failures in itertools.count():
            if st.reconnects >= self._resume:
                raise _core.gave_up(why, st.reconnects)
            if failures:
                await asyncio.sleep(_core.backoff(failures - 1))
            st.reconnects += 1
            try:
                resp = await c._send("POST", self._path, self._body, {**headers, "Last-Event-ID": frm}, timeout, stream=True, retries=0)
            except errors.RunnelError as e:
                e.mid_stream = True
                if isinstance(e, errors.APIConnectionError) or (e.status is not None and _core.retryable(e.status)):
                    why = f"reconnecting failed: {e}"
                    continue
                raise
            if resp.status_code == 204:
                await resp.aclose()
                return None
            return resp
        raise AssertionError("unreachable")


class AsyncClient(_core.ClientOptions):
    """The asyncio twin of Client, with the same options."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        api_key: Optional[str] = None,
        *,
        max_retries: int = 2,
        resume: int = 0,
        connect_timeout: Optional[float] = 10.0,
        idle_timeout: Optional[float] = 120.0,
        timeout: Optional[float] = 600.0,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        super().__init__(base_url, api_key, max_retries, resume, connect_timeout, idle_timeout, timeout)
        self._own = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self.jobs = AsyncJobs(self)
        self.admin = AsyncAdmin(self)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def _send(self, method: str, path: str, body: Any, headers: Dict[str, str], timeout: httpx.Timeout, *, stream: bool, retries: Optional[int] = None) -> httpx.Response:
        retries = self.max_retries if retries is None else retries
        for attempt in itertools.count():
            req = self._http.build_request(method, self.base_url + path, json=body, headers=self._headers(headers), timeout=timeout)
            try:
                resp = await self._http.send(req, stream=True)
            except httpx.TransportError as e:
                if attempt >= retries:
                    raise _core.connection_error(e, self.base_url) from e
                await asyncio.sleep(_core.backoff(attempt))
                continue
            if 200 <= resp.status_code < 300:
                if not stream:
                    try:
                        await resp.aread()
                    except httpx.TransportError as e:
                        raise _core.connection_error(e, self.base_url, mid_stream=True) from e
                    finally:
                        await resp.aclose()
                return resp
            try:
                text = (await resp.aread()).decode("utf-8", "replace")
            except httpx.TransportError:
                text = ""
            finally:
                await resp.aclose()
            err = errors.from_response(resp.status_code, text, resp.headers.get("retry-after"))
            if _core.retryable(resp.status_code) and attempt < retries:
                await asyncio.sleep(err.retry_after or _core.backoff(attempt))
                continue
            raise err
        raise AssertionError("unreachable")

    async def _cancel(self, stream_id: str) -> None:
        try:
            await self._http.delete(self.base_url + _core.stream_path(stream_id), headers=self._headers(), timeout=_core.DELETE_TIMEOUT)
        except httpx.HTTPError:
            pass

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        resp = await self._send(method, path, body, {"Accept": "application/json"}, _core.timeouts(self.connect_timeout, self.timeout), stream=False)
        if resp.status_code == 204:
            return None
        try:
            return resp.json()
        except ValueError:
            raise errors.RunnelError(f"malformed answer from server: {resp.text[:80]}", status=resp.status_code, code="bad_response") from None

    async def _call(self, call: "_api.Call[R]") -> R:
        return call.convert(await self._json(call.method, call.path, call.body))

    def _stream(self, path: str, body: JSON, state: _core.StreamState, resume: Optional[int], idle_timeout: Optional[float]) -> "AsyncStream[Any]":
        return AsyncStream(self, path, body, state, self.resume if resume is None else resume, self.idle_timeout if idle_timeout is None else idle_timeout)

    def stream(
        self,
        model: str,
        messages: List[JSON],
        *,
        parameters: Optional[JSON] = None,
        resume: Optional[int] = None,
        idle_timeout: Optional[float] = None,
        on_chunk: Optional[_core.TextCallback] = None,
        on_thinking: Optional[_core.TextCallback] = None,
        on_complete: Optional[_core.CompleteCallback] = None,
    ) -> AsyncStream[Token]:
        """The native token stream: see Client.stream."""
        st = _core.StreamState("native", on_chunk=on_chunk, on_thinking=on_thinking, on_complete=on_complete)
        return self._stream("/api/v1/inference/stream", _core.native_body(model, messages, parameters, on_thinking is not None), st, resume, idle_timeout)

    def generate_stream(
        self,
        service: Optional[str],
        model: str,
        inputs: Union[str, List[JSON]],
        *,
        parameters: Optional[JSON] = None,
        history: Optional[List[JSON]] = None,
        resume: Optional[int] = None,
        idle_timeout: Optional[float] = None,
        on_chunk: Optional[_core.TextCallback] = None,
        on_thinking: Optional[_core.TextCallback] = None,
        on_complete: Optional[_core.CompleteCallback] = None,
    ) -> AsyncStream[GenerationChunk]:
        """Typed generation: see Client.generate_stream."""
        st = _core.StreamState("generate", on_chunk=on_chunk, on_thinking=on_thinking, on_complete=on_complete)
        body = _core.generate_body(service, model, inputs, parameters, history)
        return self._stream("/api/v1/generate/stream", body, st, resume, idle_timeout)

    def chat_stream(
        self,
        model: str,
        messages: List[JSON],
        *,
        resume: Optional[int] = None,
        idle_timeout: Optional[float] = None,
        on_chunk: Optional[_core.TextCallback] = None,
        on_thinking: Optional[_core.TextCallback] = None,
        on_complete: Optional[_core.CompleteCallback] = None,
        **params: Any,
    ) -> AsyncStream[ChatChunk]:
        """OpenAI-compatible chat streaming: see Client.chat_stream."""
        st = _core.StreamState("chat", on_chunk=on_chunk, on_thinking=on_thinking, on_complete=on_complete)
        return self._stream("/v1/chat/completions", _core.chat_body(model, messages, params, True), st, resume, idle_timeout)

    async def chat(self, model: str, messages: List[JSON], **params: Any) -> JSON:
        return dict(await self._json("POST", "/v1/chat/completions", _core.chat_body(model, messages, params, False)))

    async def generate(self, service: Optional[str], model: str, inputs: Union[str, List[JSON]], *, parameters: Optional[JSON] = None, history: Optional[List[JSON]] = None) -> JSON:
        return dict(await self._json("POST", "/api/v1/generate", _core.generate_body(service, model, inputs, parameters, history)))

    async def models(self) -> List[JSON]:
        return list((await self._json("GET", "/v1/models"))["data"])

    async def cancel_stream(self, stream_id: str) -> None:
        await self._json("DELETE", _core.stream_path(stream_id))


class AsyncJobs:
    """The jobs API (client.jobs): see Jobs."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def create(self, team_id: str, job_type: str) -> Job:
        return await self._c._call(_api.create_job(team_id, job_type))

    async def get(self, job_id: str) -> JSON:
        return await self._c._call(_api.get_job(job_id))

    def call_stream(self, job_id: str, messages: List[JSON], model: Optional[str] = None, *, idle_timeout: Optional[float] = None, **params: Any) -> AsyncStream[ChatChunk]:
        return self._c._stream(_core.job_path(job_id, "/llm-call-stream"), _core.chat_body(model, messages, params, False), _core.StreamState("chat"), 0, idle_timeout)

    async def call(self, job_id: str, messages: List[JSON], model: Optional[str] = None, **params: Any) -> JSON:
        return await self._c._call(_api.call_job(job_id, _core.chat_body(model, messages, params, False)))

    async def complete(self, job_id: str, status: str = "completed") -> JobCompletion:
        return await self._c._call(_api.complete_job(job_id, status))

    def create_and_call_stream(self, team_id: str, job_type: str, model: Optional[str], messages: List[JSON], *, idle_timeout: Optional[float] = None, **params: Any) -> AsyncStream[ChatChunk]:
        body = {"team_id": team_id, "job_type": job_type, **_core.chat_body(model, messages, params, False)}
        return self._c._stream("/api/jobs/create-and-call-stream", body, _core.StreamState("chat"), 0, idle_timeout)


class AsyncAdmin:
    """The admin API (client.admin): see Admin."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def create_team(self, name: str, credits: int = 0, *, max_budget: float = 0, rpm_limit: int = 0, tpm_limit: int = 0) -> Team:
        return await self._c._call(_api.create_team(name, credits, max_budget, rpm_limit, tpm_limit))

    async def teams(self) -> List[Team]:
        return await self._c._call(_api.teams())

    async def team(self, team_id: str) -> Team:
        return await self._c._call(_api.team(team_id))

    async def add_credits(self, team_id: str, amount: int) -> Team:
        return await self._c._call(_api.add_credits(team_id, amount))

    async def set_limits(self, team_id: str, *, rpm_limit: int = 0, tpm_limit: int = 0, max_budget: float = 0) -> Team:
        return await self._c._call(_api.set_limits(team_id, rpm_limit, tpm_limit, max_budget))

    async def create_key(self, team_id: str, name: str = "", *, rpm_limit: int = 0, tpm_limit: int = 0) -> Key:
        return await self._c._call(_api.create_key(team_id, name, rpm_limit, tpm_limit))

    async def keys(self, team_id: Optional[str] = None) -> List[Key]:
        return await self._c._call(_api.keys(team_id))

    async def revoke_key(self, key: str) -> Key:
        return await self._c._call(_api.revoke_key(key))

    async def usage(self, **filters: Optional[str]) -> List[JSON]:
        return await self._c._call(_api.usage(filters))

    async def calls(self, limit: int = 50, **filters: Optional[str]) -> List[JSON]:
        return await self._c._call(_api.calls(limit, filters))
