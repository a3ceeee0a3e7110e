"""What the sync and async clients share: request shapes, the decoding of
each endpoint's events, per-stream state and metrics, and the retry and
resume policy. Everything here is free of I/O."""

from __future__ import annotations

import json
import random
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import quote

import httpx

from . import errors
from ._sse import Event
from .types import ChatChoice, ChatChunk, ChatDelta, GenerationChunk, Metrics, Result, Token

JSON = Dict[str, Any]
Item = Union[Token, GenerationChunk, ChatChunk]
TextCallback = Callable[[str], Any]
CompleteCallback = Callable[[Result], Any]

# Retries before the first byte, and reconnects after a failed one, wait
# this long, doubled per attempt up to the cap, with jitter.
BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0
# DELETE_TIMEOUT bounds the request that stops an abandoned stream.
DELETE_TIMEOUT = 2.0


def backoff(attempt: int) -> float:
    d = min(BACKOFF_CAP, BACKOFF_BASE * 2.0**attempt)
    return d * (0.5 + random.random() / 2)


def retryable(status: int) -> bool:
    return status in (429, 503)


def stream_path(stream_id: str) -> str:
    return "/api/v1/streams/" + quote(stream_id, safe="")


def job_path(job_id: str, tail: str = "") -> str:
    return "/api/jobs/" + quote(job_id, safe="") + tail


def timeouts(connect: Optional[float], read: Optional[float]) -> httpx.Timeout:
    # read bounds the silence between two reads of the body: with SSE
    # keep-alive comments in the stream it is checked per event as well.
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def connection_error(exc: BaseException, base_url: str, *, mid_stream: bool = False) -> errors.APIConnectionError:
    if isinstance(exc, httpx.TimeoutException) or isinstance(exc, IdleTimeout):
        what = "connecting" if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)) else "waiting for the next chunk"
        return errors.APITimeoutError(f"timed out {what} ({base_url}): {exc}", mid_stream=mid_stream)
    if mid_stream:
        return errors.APIConnectionError(f"stream interrupted: {exc}", mid_stream=True)
    return errors.APIConnectionError(f"cannot reach {base_url}: {exc}")


class IdleTimeout(Exception):
    """Bytes (keep-alive comments) arrived, but no event, for longer than the idle timeout."""


def inputs_of(inputs: Union[str, List[JSON]]) -> List[JSON]:
    if isinstance(inputs, str):
        return [{"type": "text", "name": "input", "content": inputs}]
    return list(inputs)


def _bad_event(data: str) -> errors.RunnelError:
    return errors.RunnelError(f"malformed event from server: {data[:80]}", code="bad_event", mid_stream=True)


def _dict(x: Any) -> Optional[JSON]:
    return x if isinstance(x, dict) else None


def _str(x: Any) -> Optional[str]:
    return x if isinstance(x, str) and x else None


def _json_of(ev: Event) -> JSON:
    try:
        c = json.loads(ev.data)
    except ValueError:
        raise _bad_event(ev.data) from None
    if not isinstance(c, dict):
        raise _bad_event(ev.data)
    return c


class StreamState:
    """One stream's decoding, accumulated output, metrics and resume
    bookkeeping. kind is "native", "generate" or "chat"."""

    def __init__(
        self,
        kind: str,
        *,
        on_chunk: Optional[TextCallback] = None,
        on_thinking: Optional[TextCallback] = None,
        on_complete: Optional[CompleteCallback] = None,
    ) -> None:
        self.kind = kind
        self.on_chunk, self.on_thinking, self.on_complete = on_chunk, on_thinking, on_complete
        self.text_parts: List[str] = []
        self.thinking_parts: List[str] = []
        self.usage: Optional[JSON] = None
        self.finish_reason: Optional[str] = None
        self.provider: Optional[str] = None
        self.final: Optional[JSON] = None
        self.outputs: Dict[int, JSON] = {}
        self.last_id = ""  # of the last event, across reconnects
        self.stream_id = ""  # Runnel-Stream-Id: resumes a stream cut before its first event
        self.reconnects = 0
        self.completed = False
        self._start: Optional[float] = None
        self._first = self._last = 0.0
        self._end: Optional[float] = None
        self._chunks = 0

    # Metrics.

    def begin(self) -> None:
        self._start = time.perf_counter()

    def end(self) -> None:
        if self._end is None:
            self._end = time.perf_counter()

    def metrics(self) -> Metrics:
        start = self._start if self._start is not None else time.perf_counter()
        end = self._end if self._end is not None else time.perf_counter()
        n = self._chunks
        span = self._last - self._first if n > 1 else 0.0
        return Metrics(
            ttfc=self._first - start if n else None,
            total=end - start,
            chunks=n,
            chunks_per_second=(n - 1) / span if span > 0 else 0.0,
            mean_chunk_gap=span / (n - 1) if n > 1 else 0.0,
        )

    # Decoding: decode returns the item to yield (or None) and whether the
    # stream is complete; an error event raises.

    def decode(self, ev: Event) -> Tuple[Optional[Item], bool]:
        if ev.id:
            self.last_id = ev.id
        try:
            item, done = getattr(self, "_decode_" + self.kind)(ev)
        except (ValueError, TypeError, AttributeError, KeyError):
            # A field of the wrong type: the event is malformed, whatever it said.
            raise _bad_event(ev.data) from None
        if item is not None and item.text:
            self._chunk(item.text, item.channel)
        if done:
            self.completed = True
            self.end()
            if self.on_complete is not None:
                self.on_complete(self.result())
        return item, done

    def _chunk(self, text: str, channel: str) -> None:
        now = time.perf_counter()
        if not self._chunks:
            self._first = now
        self._last = now
        self._chunks += 1
        if channel == "thinking":
            self.thinking_parts.append(text)
            if self.on_thinking is not None:
                self.on_thinking(text)
        else:
            self.text_parts.append(text)
            if self.on_chunk is not None:
                self.on_chunk(text)

    def _decode_native(self, ev: Event) -> Tuple[Optional[Item], bool]:
        c = _json_of(ev)
        if c.get("error"):
            raise errors.from_body(c, None, mid_stream=True)
        self.provider = _str(c.get("provider")) or self.provider
        self.usage = _dict(c.get("usage")) or self.usage
        self.finish_reason = _str(c.get("finish_reason")) or self.finish_reason
        tok = Token(
            token=str(c.get("token") or ""),
            done=bool(c.get("done")),
            provider=_str(c.get("provider")) or "",
            channel="thinking" if c.get("channel") == "thinking" else "output",
            finish_reason=_str(c.get("finish_reason")),
            usage=_dict(c.get("usage")),
            raw=c,
        )
        return tok, tok.done

    def _decode_generate(self, ev: Event) -> Tuple[Optional[Item], bool]:
        c = _json_of(ev)
        # An error arrives as {"type": "error", "content", "code"} (or in
        # the common {"error": {...}} shape): never a clean end.
        if c.get("error") or c.get("type") == "error":
            raise errors.from_body(c, None, mid_stream=True)
        if c.get("final"):
            self.final = c
            self.usage = _dict(c.get("usage"))
            self.finish_reason = _str(c.get("finish_reason")) or self.finish_reason
            self.provider = _str(c.get("provider")) or self.provider
            return None, True
        chunk = GenerationChunk(
            type=str(c.get("type") or "text"),
            name=str(c.get("name") or "output"),
            content=str(c.get("content") or ""),
            done=bool(c.get("done")),
            index=int(c.get("index") or 0),
            is_final=bool(c.get("is_final")),
            raw=c,
        )
        out = self.outputs.setdefault(chunk.index, {"type": chunk.type, "name": chunk.name, "content": ""})
        out["content"] += chunk.content
        return (chunk if chunk.content else None), False

    def _decode_chat(self, ev: Event) -> Tuple[Optional[Item], bool]:
        if ev.data == "[DONE]":
            return None, True
        c = _json_of(ev)
        if c.get("error"):
            raise errors.from_body(c, None, mid_stream=True)
        self.usage = _dict(c.get("usage")) or self.usage
        choices = []
        for ch in c.get("choices") or []:
            d = ch.get("delta") or {}
            choices.append(
                ChatChoice(
                    index=int(ch.get("index") or 0),
                    delta=ChatDelta(d.get("role"), d.get("content"), d.get("reasoning_content"), d.get("tool_calls")),
                    finish_reason=ch.get("finish_reason"),
                )
            )
            if not ch.get("index"):
                self.finish_reason = _str(ch.get("finish_reason")) or self.finish_reason
        chunk = ChatChunk(
            id=str(c.get("id") or ""), model=str(c.get("model") or ""), created=int(c.get("created") or 0),
            choices=choices, usage=_dict(c.get("usage")), raw=c,
        )
        return chunk, False

    # Resumption.

    def resume_from(self) -> str:
        """The Last-Event-ID to resume from, or "" if the stream is not
        resumable. A resumable stream's ids start "rs_"."""
        if self.last_id.startswith("rs_"):
            return self.last_id
        if self.stream_id.startswith("rs_"):
            return self.stream_id + "-0"
        return ""

    def abandon_id(self) -> str:
        """The id to DELETE when the caller abandons the stream, or ""."""
        sid = self.stream_id or self.last_id.rpartition("-")[0]
        return sid if sid.startswith("rs_") else ""

    def result(self) -> Result:
        final = self.final or {}
        return Result(
            text="".join(self.text_parts),
            thinking="".join(self.thinking_parts),
            usage=self.usage,
            finish_reason=self.finish_reason,
            provider=self.provider,
            metrics=self.metrics(),
            cost=_dict(final.get("cost")),
            warnings=list(final.get("warnings") or []) if isinstance(final.get("warnings"), list) else [],
            outputs=[self.outputs[i] for i in sorted(self.outputs)],
            final=self.final,
        )


class StreamView:
    """The read-only side of a stream, the same for Stream and AsyncStream."""

    _state: StreamState

    @property
    def metrics(self) -> Metrics:
        """Time to first chunk, chunks per second, mean gap and total duration, so far."""
        return self._state.metrics()

    @property
    def usage(self) -> Optional[JSON]:
        return self._state.usage

    @property
    def finish_reason(self) -> Optional[str]:
        return self._state.finish_reason

    @property
    def provider(self) -> Optional[str]:
        return self._state.provider

    @property
    def text(self) -> str:
        """The output so far."""
        return "".join(self._state.text_parts)

    @property
    def reconnects(self) -> int:
        """Reconnects made so far (resumable streams only)."""
        return self._state.reconnects

    @property
    def stream_id(self) -> str:
        """The server's id of a resumable stream (Runnel-Stream-Id), or ""."""
        return self._state.stream_id or self._state.abandon_id()

    def result(self) -> Result:
        return self._state.result()


class ClientOptions:
    """The options and headers of Client and AsyncClient."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str],
        max_retries: int,
        resume: int,
        connect_timeout: Optional[float],
        idle_timeout: Optional[float],
        timeout: Optional[float],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.max_retries = max_retries
        self.resume = resume
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.timeout = timeout

    def _headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        h = dict(extra or {})
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h


def gave_up(why: str, n: int) -> errors.APIConnectionError:
    return errors.APIConnectionError(f"{why} (gave up after {n} reconnect{'' if n == 1 else 's'})", mid_stream=True)


# Request bodies.

def native_body(model: str, messages: List[JSON], parameters: Optional[JSON], thinking: bool = False) -> JSON:
    """The native request. The server sends reasoning tokens only to a
    client that asks (parameters.enable_thinking); an on_thinking callback
    asks for them."""
    body: JSON = {"model": model, "messages": messages}
    if thinking and "enable_thinking" not in (parameters or {}):
        parameters = {**(parameters or {}), "enable_thinking": True}
    if parameters:
        body["parameters"] = parameters
    return body


def generate_body(service: Optional[str], model: str, inputs: Union[str, List[JSON]], parameters: Optional[JSON], history: Optional[List[JSON]]) -> JSON:
    body: JSON = {"model_name": model, "input": inputs_of(inputs)}
    if service:
        body["service_name"] = service
    if parameters:
        body["parameters"] = parameters
    if history:
        body["history"] = history
    return body


def chat_body(model: Optional[str], messages: List[JSON], params: JSON, stream: bool) -> JSON:
    body: JSON = {"messages": messages}
    if model:
        body["model"] = model
    if stream:
        body["stream"] = True
        body.setdefault("stream_options", {"include_usage": True})
    body.update({k: v for k, v in params.items() if v is not None})
    return body
