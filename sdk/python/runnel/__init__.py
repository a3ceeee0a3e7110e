"""Runnel's Python SDK: stream LLM output from a Runnel server.

    import runnel

    client = runnel.Client("http://127.0.0.1:8080", api_key=KEY)
    for tok in client.stream("stories260K", [{"role": "user", "content": "Hi"}]):
        print(tok.token, end="", flush=True)

runnel.AsyncClient is the same with async for. See README.md.
"""

from typing import Any, Awaitable, Union, overload

from ._async import AsyncClient, AsyncStream
from ._sync import Client, Stream
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RunnelError,
    ServerError,
)
from .types import ChatChoice, ChatChunk, ChatDelta, GenerationChunk, Job, JobCompletion, Key, Metrics, Result, Team, Token

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "Stream",
    "AsyncStream",
    "stream_to_file",
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
    "Token",
    "GenerationChunk",
    "ChatChunk",
    "ChatChoice",
    "ChatDelta",
    "Metrics",
    "Result",
    "Job",
    "JobCompletion",
    "Team",
    "Key",
]


@overload
def stream_to_file(stream: Stream[Any], path: str, *, thinking: bool = ..., encoding: str = ...) -> Result: ...


@overload
def stream_to_file(stream: AsyncStream[Any], path: str, *, thinking: bool = ..., encoding: str = ...) -> Awaitable[Result]: ...


def stream_to_file(stream: Union[Stream[Any], AsyncStream[Any]], path: str, *, thinking: bool = False, encoding: str = "utf-8") -> Union[Result, Awaitable[Result]]:
    """Writes a stream's output to path as it arrives (seed 001's helper)
    and returns its Result; for an AsyncStream, returns an awaitable."""
    return stream.to_file(path, thinking=thinking, encoding=encoding)
