"""Typed errors: what the server answered, or why no answer came."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Type

__all__ = [
    "RunnelError",
    "BadRequestError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
]


class RunnelError(Exception):
    """An error the server answered, before the first chunk or as an event
    mid-stream (mid_stream is then True, and status is None unless the
    error came from a reconnect)."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        type: Optional[str] = None,
        param: Optional[str] = None,
        retry_after: Optional[float] = None,
        mid_stream: bool = False,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        # retry_after is the Retry-After header in seconds, when sent.
        self.retry_after = retry_after
        self.mid_stream = mid_stream
        self.body = body

    def __str__(self) -> str:
        head = f"{self.status} " if self.status else ""
        code = f"{self.code}: " if self.code else ""
        return f"{head}{code}{self.message}"


class BadRequestError(RunnelError):
    """400: the request names something wrong (see param)."""


class AuthenticationError(RunnelError):
    """401: no API key, or one the server does not know."""


class InsufficientCreditsError(RunnelError):
    """402: the team has too few credits."""


class PermissionDeniedError(RunnelError):
    """403: the key may not do this (e.g. the admin API)."""


class NotFoundError(RunnelError):
    """404: unknown model, job, team, or a stream that can no longer be resumed."""


class ConflictError(RunnelError):
    """409: e.g. a stream too long to resume."""


class RateLimitError(RunnelError):
    """429: a rate limit; retry_after says when to try again."""


class ServerError(RunnelError):
    """5xx: the server or its upstream failed."""


class APIConnectionError(RunnelError):
    """The server could not be reached, or the connection was cut before
    the stream completed (mid_stream)."""

    def __init__(self, message: str, *, mid_stream: bool = False, code: str = "connection_error") -> None:
        super().__init__(message, code=code, mid_stream=mid_stream)

    def __str__(self) -> str:
        return self.message


class APITimeoutError(APIConnectionError):
    """No connection within the connect timeout, or no chunk within the
    idle timeout."""

    def __init__(self, message: str, *, mid_stream: bool = False) -> None:
        super().__init__(message, mid_stream=mid_stream, code="timeout")


_BY_STATUS: Dict[int, Type[RunnelError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}


def _class_for(status: Optional[int], code: Optional[str]) -> Type[RunnelError]:
    if status is None:
        # Error events carry a code but no status.
        return {"rate_limited": RateLimitError, "insufficient_quota": InsufficientCreditsError}.get(code or "", RunnelError)
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, RunnelError)


def from_body(body: Any, status: Optional[int], *, retry_after: Optional[float] = None, mid_stream: bool = False) -> RunnelError:
    """Reads any of the dialects' error shapes: OpenAI's and the native
    {"error": {...}}, Anthropic's {"type": "error", "error": {...}},
    Ollama's {"error": "..."}, and the typed generation stream's error
    event {"type": "error", "content": ..., "code": ...}."""
    e: Any = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(e, str):
        e = {"message": e}
    if not isinstance(e, dict):
        e = {}
    if isinstance(body, dict) and body.get("type") == "error" and "content" in body:
        e = {"message": body.get("content"), "code": body.get("code")}
    message = e.get("message") or (f"HTTP {status}" if status else "unknown error")
    code = e.get("code")
    if code is not None and not isinstance(code, str):
        code = str(code)
    etype = e.get("type") if isinstance(e.get("type"), str) else None
    code = code or etype
    param = e.get("param") if isinstance(e.get("param"), str) else None
    cls = _class_for(status, code)
    return cls(str(message), status=status, code=code, type=etype, param=param, retry_after=retry_after, mid_stream=mid_stream, body=body)


def from_response(status: int, text: str, retry_after_header: Optional[str]) -> RunnelError:
    """An error from a non-2xx answer."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = {"error": {"message": text.strip() or f"HTTP {status}"}}
    retry_after = None
    if retry_after_header:
        try:
            v = float(retry_after_header)
            if v > 0:
                retry_after = v
        except ValueError:
            pass
    return from_body(body, status, retry_after=retry_after)
