"""The synchronous client."""

from __future__ import annotations

import itertools
import time
import weakref
from typing import Any, Dict, Generator, Generic, Iterator, List, Optional, TypeVar, Union

import httpx

from . import _api, _core, errors
from ._sse import Event, EventTooLong, Parser
from .types import ChatChunk, GenerationChunk, Job, JobCompletion, Key, Result, Team, Token

JSON = Dict[str, Any]
T = TypeVar("T", Token, GenerationChunk, ChatChunk)
R = TypeVar("R")


class Stream(_core.StreamView, Generic[T]):
    """A streamed call. Iterate it once; the request is sent when iteration
    starts. Leaving the loop early (break, an exception, close(), the end
    of a with block) stops the request, and a resumable stream's generation
    on the server (DELETE /api/v1/streams/{id}); a network cut never does.
    After the loop, metrics, usage, finish_reason and result() are final."""

    def __init__(self, client: "Client", path: str, body: JSON, state: _core.StreamState, resume: int, idle_timeout: Optional[float]) -> None:
        self._client = client
        self._path = path
        self._body = body
        self._state = state
        self._resume = resume
        self._idle = idle_timeout
        self._gen: Optional["weakref.ref[Iterator[T]]"] = None
        # Inside a with block the stream holds its generator, and the
        # block's end closes it; otherwise it is held weakly, and when the
        # caller's loop lets go of it CPython finalizes it at once, which
        # stops the stream.
        self._managed = False
        self._held: Optional[Iterator[T]] = None

    def __iter__(self) -> Iterator[T]:
        if self._gen is not None:
            raise RuntimeError("runnel: a stream can be iterated only once")
        gen = self._run()
        self._gen = weakref.ref(gen)
        if self._managed:
            self._held = gen
        return gen

    def __enter__(self) -> "Stream[T]":
        self._managed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stops the stream if it is still running."""
        gen = self._held or (self._gen() if self._gen is not None else None)
        self._held = None
        if gen is not None:
            gen.close()  # type: ignore[attr-defined]

    def collect(self) -> Result:
        """Reads the stream to its end and returns the result."""
        for _ in self:
            pass
        return self.result()

    def to_file(self, path: str, *, thinking: bool = False, encoding: str = "utf-8") -> Result:
        """Writes the output (and the thinking, if asked) to path as it
        arrives, flushing after each chunk, and returns the result. A
        failed stream leaves what arrived in the file and raises."""
        with open(path, "w", encoding=encoding) as f:
            for item in self:
                if item.text and (thinking or item.channel != "thinking"):
                    f.write(item.text)
                    f.flush()
        return self.result()

    def _events(self, resp: httpx.Response) -> Generator[Event, None, None]:
        parser = Parser()
        last = time.perf_counter()
        try:
            for chunk in resp.iter_bytes():
                evs = parser.feed(chunk)
                now = time.perf_counter()
                if evs:
                    last = now
                elif self._idle is not None and now - last > self._idle:
                    raise _core.IdleTimeout(f"no event for {self._idle}s")
                yield from evs
        except EventTooLong as e:
            raise errors.RunnelError(str(e), code="bad_event", mid_stream=True) from None

    def _run(self) -> Iterator[T]:
        st, c = self._state, self._client
        headers = {"Accept": "text/event-stream"}
        if self._resume > 0:
            headers["Runnel-Resumable"] = "true"
        timeout = _core.timeouts(c.connect_timeout, self._idle)
        finished = failed = False
        st.begin()
        resp: Optional[httpx.Response] = None
        try:
            resp = c._send("POST", self._path, self._body, headers, timeout, stream=True)
            while True:
                st.stream_id = resp.headers.get("runnel-stream-id") or st.stream_id
                # Only failures to read the body are cuts that may be
                # resumed; errors the stream reports are the caller's.
                cut: Optional[BaseException] = None
                events = self._events(resp)
                try:
                    while True:
                        try:
                            ev = next(events)
                        except StopIteration:
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
                    events.close()
                    resp.close()
                why = f"stream interrupted: {cut}" if cut else "stream ended before it was complete"
                frm = st.resume_from()
                if self._resume <= 0 or not frm:
                    if cut is not None:
                        raise _core.connection_error(cut, c.base_url, mid_stream=True)
                    raise errors.APIConnectionError(why, mid_stream=True)
                resp = self._reconnect(frm, headers, timeout, why)
                if resp is None:  # 204: nothing was missed
                    finished = True
                    return
        except errors.RunnelError:
            failed = True
            raise
        finally:
            st.end()
            if resp is not None:
                resp.close()
            # The caller stopped (break, close, an exception of its own):
            # the server cannot tell that from a cut, so say it.
            if not finished and not failed and self._resume > 0 and st.abandon_id():
                c._cancel(st.abandon_id())

    def _reconnect(self, frm: str, headers: Dict[str, str], timeout: httpx.Timeout, why: str) -> Optional[httpx.Response]:
        st, c = self._state, self._client
        for failures in itertools.count():
            if st.reconnects >= self._resume:
                raise _core.gave_up(why, st.reconnects)
            if failures:
                time.sleep(_core.backoff(failures - 1))
            st.reconnects += 1
            try:
                resp = c._send("POST", self._path, self._body, {**headers, "Last-Event-ID": frm}, timeout, stream=True, retries=0)
            except errors.RunnelError as e:
                e.mid_stream = True
                if isinstance(e, errors.APIConnectionError) or (e.status is not None and _core.retryable(e.status)):
                    why = f"reconnecting failed: {e}"
                    continue
                raise  # 404, 409: no longer resumable
            if resp.status_code == 204:
                resp.close()
                return None
            return resp
        raise AssertionError("unreachable")


class Client(_core.ClientOptions):
    """A client of one Runnel server.

    connect_timeout bounds connecting; idle_timeout the wait for each chunk
    of a stream (and for non-streamed answers, timeout). max_retries
    retries a request that failed before its first byte (connection
    errors, 429, 503). resume > 0 makes streams resumable: a stream cut
    mid-way reconnects with Last-Event-ID, at most resume times, and every
    chunk arrives once."""

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
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        super().__init__(base_url, api_key, max_retries, resume, connect_timeout, idle_timeout, timeout)
        self._own = http_client is None
        self._http = http_client or httpx.Client()
        self.jobs = Jobs(self)
        self.admin = Admin(self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self._http.close()

    def _send(self, method: str, path: str, body: Any, headers: Dict[str, str], timeout: httpx.Timeout, *, stream: bool, retries: Optional[int] = None) -> httpx.Response:
        """Sends a request, retrying before any answer on connection
        errors, 429 and 503; a non-2xx answer raises its RunnelError."""
        retries = self.max_retries if retries is None else retries
        for attempt in itertools.count():
            req = self._http.build_request(method, self.base_url + path, json=body, headers=self._headers(headers), timeout=timeout)
            try:
                resp = self._http.send(req, stream=True)
            except httpx.TransportError as e:
                if attempt >= retries:
                    raise _core.connection_error(e, self.base_url) from e
                time.sleep(_core.backoff(attempt))
                continue
            if 200 <= resp.status_code < 300:
                if not stream:
                    try:
                        resp.read()
                    except httpx.TransportError as e:
                        raise _core.connection_error(e, self.base_url, mid_stream=True) from e
                    finally:
                        resp.close()
                return resp
            try:
                text = resp.read().decode("utf-8", "replace")
            except httpx.TransportError:
                text = ""
            finally:
                resp.close()
            err = errors.from_response(resp.status_code, text, resp.headers.get("retry-after"))
            if _core.retryable(resp.status_code) and attempt < retries:
                time.sleep(err.retry_after or _core.backoff(attempt))
                continue
            raise err
        raise AssertionError("unreachable")

    def _cancel(self, stream_id: str) -> None:
        # Errors are ignored: at worst the generation runs on for the
        # server's grace period.
        try:
            self._http.delete(self.base_url + _core.stream_path(stream_id), headers=self._headers(), timeout=_core.DELETE_TIMEOUT)
        except httpx.HTTPError:
            pass

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        resp = self._send(method, path, body, {"Accept": "application/json"}, _core.timeouts(self.connect_timeout, self.timeout), stream=False)
        if resp.status_code == 204:
            return None
        try:
            return resp.json()
        except ValueError:
            raise errors.RunnelError(f"malformed answer from server: {resp.text[:80]}", status=resp.status_code, code="bad_response") from None

    def _call(self, call: "_api.Call[R]") -> R:
        return call.convert(self._json(call.method, call.path, call.body))

    def _stream(self, path: str, body: JSON, state: _core.StreamState, resume: Optional[int], idle_timeout: Optional[float]) -> "Stream[Any]":
        return Stream(self, path, body, state, self.resume if resume is None else resume, self.idle_timeout if idle_timeout is None else idle_timeout)

    # Streams.

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
    ) -> Stream[Token]:
        """The native token stream (POST /api/v1/inference/stream): Token
        objects with .token, .done and .provider; the last has done=True."""
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
    ) -> Stream[GenerationChunk]:
        """Typed generation (POST /api/v1/generate/stream): GenerationChunk
        objects named "output" or "thinking"; the final event's usage, cost
        and warnings are in result() and go to on_complete. inputs is a
        list of input items, or a string for one text input."""
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
    ) -> Stream[ChatChunk]:
        """OpenAI-compatible chat streaming (POST /v1/chat/completions):
        chat.completion.chunk objects; params (temperature, max_tokens,
        stop, tools, …) go into the request as they are."""
        st = _core.StreamState("chat", on_chunk=on_chunk, on_thinking=on_thinking, on_complete=on_complete)
        return self._stream("/v1/chat/completions", _core.chat_body(model, messages, params, True), st, resume, idle_timeout)

    # Whole answers.

    def chat(self, model: str, messages: List[JSON], **params: Any) -> JSON:
        """A chat completion, not streamed: OpenAI's chat.completion object."""
        return dict(self._json("POST", "/v1/chat/completions", _core.chat_body(model, messages, params, False)))

    def generate(self, service: Optional[str], model: str, inputs: Union[str, List[JSON]], *, parameters: Optional[JSON] = None, history: Optional[List[JSON]] = None) -> JSON:
        """Typed generation, not streamed (POST /api/v1/generate)."""
        return dict(self._json("POST", "/api/v1/generate", _core.generate_body(service, model, inputs, parameters, history)))

    def models(self) -> List[JSON]:
        return list(self._json("GET", "/v1/models")["data"])

    def cancel_stream(self, stream_id: str) -> None:
        """Stops a resumable stream on the server (DELETE /api/v1/streams/{id})."""
        self._json("DELETE", _core.stream_path(stream_id))


class Jobs:
    """The jobs API (client.jobs): a job reserves a team's credit when
    created and is charged when completed."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(self, team_id: str, job_type: str) -> Job:
        return self._c._call(_api.create_job(team_id, job_type))

    def get(self, job_id: str) -> JSON:
        """The job: status, calls, usage and cost."""
        return self._c._call(_api.get_job(job_id))

    def call_stream(self, job_id: str, messages: List[JSON], model: Optional[str] = None, *, idle_timeout: Optional[float] = None, **params: Any) -> Stream[ChatChunk]:
        """Streams an LLM call recorded in the job (OpenAI chat chunks). Not resumable."""
        return self._c._stream(_core.job_path(job_id, "/llm-call-stream"), _core.chat_body(model, messages, params, False), _core.StreamState("chat"), 0, idle_timeout)

    def call(self, job_id: str, messages: List[JSON], model: Optional[str] = None, **params: Any) -> JSON:
        """An LLM call in the job, not streamed."""
        return self._c._call(_api.call_job(job_id, _core.chat_body(model, messages, params, False)))

    def complete(self, job_id: str, status: str = "completed") -> JobCompletion:
        """Settles the job, "completed" (charged) or "failed" (not); idempotent."""
        return self._c._call(_api.complete_job(job_id, status))

    def create_and_call_stream(self, team_id: str, job_type: str, model: Optional[str], messages: List[JSON], *, idle_timeout: Optional[float] = None, **params: Any) -> Stream[ChatChunk]:
        """Creates a job, streams one call and completes the job when the stream ends, in one request."""
        body = {"team_id": team_id, "job_type": job_type, **_core.chat_body(model, messages, params, False)}
        return self._c._stream("/api/jobs/create-and-call-stream", body, _core.StreamState("chat"), 0, idle_timeout)


class Admin:
    """The admin API (client.admin): teams, keys and credits. Needs the
    admin key once auth is on."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create_team(self, name: str, credits: int = 0, *, max_budget: float = 0, rpm_limit: int = 0, tpm_limit: int = 0) -> Team:
        return self._c._call(_api.create_team(name, credits, max_budget, rpm_limit, tpm_limit))

    def teams(self) -> List[Team]:
        return self._c._call(_api.teams())

    def team(self, team_id: str) -> Team:
        """The team, with its credits (credits, credits_reserved, credits_free)."""
        return self._c._call(_api.team(team_id))

    def add_credits(self, team_id: str, amount: int) -> Team:
        return self._c._call(_api.add_credits(team_id, amount))

    def set_limits(self, team_id: str, *, rpm_limit: int = 0, tpm_limit: int = 0, max_budget: float = 0) -> Team:
        return self._c._call(_api.set_limits(team_id, rpm_limit, tpm_limit, max_budget))

    def create_key(self, team_id: str, name: str = "", *, rpm_limit: int = 0, tpm_limit: int = 0) -> Key:
        """A new key; its secret (.key) is in this answer only."""
        return self._c._call(_api.create_key(team_id, name, rpm_limit, tpm_limit))

    def keys(self, team_id: Optional[str] = None) -> List[Key]:
        return self._c._call(_api.keys(team_id))

    def revoke_key(self, key: str) -> Key:
        """Revokes a key, given the key, its prefix or its id."""
        return self._c._call(_api.revoke_key(key))

    def usage(self, **filters: Optional[str]) -> List[JSON]:
        """Usage per team, key and model (filters: team_id, key_id, model, from, to)."""
        return self._c._call(_api.usage(filters))

    def calls(self, limit: int = 50, **filters: Optional[str]) -> List[JSON]:
        """Recorded calls with their request and output, newest first."""
        return self._c._call(_api.calls(limit, filters))
