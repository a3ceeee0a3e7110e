"""What the streams yield and the helpers return. Every type keeps the
server's JSON in raw, so fields the SDK does not model are still there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = [
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

JSON = Dict[str, Any]


@dataclass
class Token:
    """One event of the native token stream (/api/v1/inference/stream).
    The last one has done=True (and usually an empty token)."""

    token: str
    done: bool
    provider: str
    channel: str = "output"  # or "thinking"
    finish_reason: Optional[str] = None
    usage: Optional[JSON] = None
    raw: JSON = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return self.token


@dataclass
class GenerationChunk:
    """A content chunk of the typed generation stream (/api/v1/generate/stream)."""

    type: str  # "text"
    name: str  # "output" or "thinking"
    content: str
    done: bool
    index: int
    is_final: bool
    raw: JSON = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return self.content

    @property
    def channel(self) -> str:
        return "thinking" if self.name == "thinking" else "output"


@dataclass
class ChatDelta:
    role: Optional[str] = None
    content: Optional[str] = None
    reasoning_content: Optional[str] = None
    tool_calls: Optional[List[JSON]] = None


@dataclass
class ChatChoice:
    index: int
    delta: ChatDelta
    finish_reason: Optional[str] = None


@dataclass
class ChatChunk:
    """An OpenAI chat.completion.chunk, as the OpenAI SDK shapes it."""

    id: str
    model: str
    created: int
    choices: List[ChatChoice]
    usage: Optional[JSON] = None
    raw: JSON = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        """The first choice's content or reasoning delta, or ""."""
        if not self.choices:
            return ""
        d = self.choices[0].delta
        return d.content or d.reasoning_content or ""

    @property
    def channel(self) -> str:
        if self.choices and not self.choices[0].delta.content and self.choices[0].delta.reasoning_content:
            return "thinking"
        return "output"


@dataclass
class Metrics:
    """A stream's client-side metrics (seed 000's), in seconds. ttfc is
    None until a content chunk arrives; the rates need two chunks."""

    ttfc: Optional[float]  # time to first content chunk, from sending the request
    total: float  # from sending the request to the end of the stream (so far)
    chunks: int  # content chunks received
    chunks_per_second: float  # after the first chunk
    mean_chunk_gap: float  # mean time between content chunks


@dataclass
class Result:
    """A finished stream: what it said and what it cost. cost, warnings and
    outputs come from the typed generation stream's final event."""

    text: str
    thinking: str
    usage: Optional[JSON]
    finish_reason: Optional[str]
    provider: Optional[str]
    metrics: Metrics
    cost: Optional[JSON] = None
    warnings: List[Any] = field(default_factory=list)
    # outputs joins the typed stream's chunks by index: [{type, name, content}].
    outputs: List[JSON] = field(default_factory=list)
    final: Optional[JSON] = None


@dataclass
class Job:
    job_id: str
    team_id: str
    job_type: str
    status: str
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: JSON) -> "Job":
        return cls(d.get("job_id", ""), d.get("team_id", ""), d.get("job_type", ""), d.get("status", ""), d)


@dataclass
class JobCompletion:
    """The answer to completing a job."""

    job_id: str
    status: str
    credits_charged: int
    credits_remaining: int
    usage: Optional[JSON]
    cost: Optional[JSON]
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: JSON) -> "JobCompletion":
        costs = d.get("costs") or {}
        return cls(
            d.get("job_id", ""),
            d.get("status", ""),
            int(costs.get("credits_charged", d.get("credits_charged", 0)) or 0),
            int(costs.get("credits_remaining", 0) or 0),
            d.get("usage"),
            d.get("cost"),
            d,
        )


@dataclass
class Team:
    id: str
    name: str
    credits: int
    credits_reserved: int
    credits_free: int
    spent: float
    max_budget: float
    rpm_limit: int
    tpm_limit: int
    created_at: Optional[str]
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: JSON) -> "Team":
        return cls(
            d.get("id", ""), d.get("name", ""), int(d.get("credits", 0)), int(d.get("credits_reserved", 0)),
            int(d.get("credits_free", 0)), float(d.get("spent", 0)), float(d.get("max_budget", 0)),
            int(d.get("rpm_limit", 0)), int(d.get("tpm_limit", 0)), d.get("created_at"), d,
        )


@dataclass
class Key:
    """A virtual key. key, the secret, is set only in the answer that created it."""

    id: str
    team_id: str
    name: str
    prefix: str
    key: Optional[str]
    rpm_limit: int
    tpm_limit: int
    created_at: Optional[str]
    revoked_at: Optional[str]
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: JSON) -> "Key":
        return cls(
            d.get("id", ""), d.get("team_id", ""), d.get("name", ""), d.get("prefix", ""), d.get("key"),
            int(d.get("rpm_limit", 0)), int(d.get("tpm_limit", 0)), d.get("created_at"), d.get("revoked_at"), d,
        )
