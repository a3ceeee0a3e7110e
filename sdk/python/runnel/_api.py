"""The non-streaming calls of the jobs and admin APIs, as data: the sync
and async clients send the same Call and convert its answer the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, List, Optional, TypeVar
from urllib.parse import quote, urlencode

from .types import Job, JobCompletion, Key, Team

R = TypeVar("R")
JSON = Dict[str, Any]


@dataclass(frozen=True)
class Call(Generic[R]):
    method: str
    path: str
    body: Optional[JSON]
    convert: Callable[[Any], R]


def _seg(s: str) -> str:
    return quote(s, safe="")


def _query(params: Dict[str, Optional[str]]) -> str:
    q = urlencode({k: v for k, v in params.items() if v})
    return "?" + q if q else ""


def _as_dict(x: Any) -> JSON:
    return dict(x)


# Jobs.

def create_job(team_id: str, job_type: str) -> Call[Job]:
    return Call("POST", "/api/jobs/create", {"team_id": team_id, "job_type": job_type}, Job.from_json)


def get_job(job_id: str) -> Call[JSON]:
    return Call("GET", "/api/jobs/" + _seg(job_id), None, _as_dict)


def call_job(job_id: str, body: JSON) -> Call[JSON]:
    return Call("POST", "/api/jobs/" + _seg(job_id) + "/llm-call", body, _as_dict)


def complete_job(job_id: str, status: str) -> Call[JobCompletion]:
    return Call("POST", "/api/jobs/" + _seg(job_id) + "/complete", {"status": status}, JobCompletion.from_json)


# Admin.

def create_team(name: str, credits: int, max_budget: float, rpm_limit: int, tpm_limit: int) -> Call[Team]:
    body = {"name": name, "credits": credits, "max_budget": max_budget, "rpm_limit": rpm_limit, "tpm_limit": tpm_limit}
    return Call("POST", "/admin/teams", body, Team.from_json)


def teams() -> Call[List[Team]]:
    return Call("GET", "/admin/teams", None, lambda d: [Team.from_json(t) for t in d["teams"]])


def team(team_id: str) -> Call[Team]:
    return Call("GET", "/admin/teams/" + _seg(team_id), None, Team.from_json)


def add_credits(team_id: str, amount: int) -> Call[Team]:
    return Call("POST", "/admin/teams/" + _seg(team_id) + "/credits", {"amount": amount}, Team.from_json)


def set_limits(team_id: str, rpm_limit: int, tpm_limit: int, max_budget: float) -> Call[Team]:
    body = {"rpm_limit": rpm_limit, "tpm_limit": tpm_limit, "max_budget": max_budget}
    return Call("POST", "/admin/teams/" + _seg(team_id) + "/limits", body, Team.from_json)


def create_key(team_id: str, name: str, rpm_limit: int, tpm_limit: int) -> Call[Key]:
    body = {"team_id": team_id, "name": name, "rpm_limit": rpm_limit, "tpm_limit": tpm_limit}
    return Call("POST", "/admin/keys", body, Key.from_json)


def keys(team_id: Optional[str]) -> Call[List[Key]]:
    return Call("GET", "/admin/keys" + _query({"team_id": team_id}), None, lambda d: [Key.from_json(k) for k in d["keys"]])


def revoke_key(key: str) -> Call[Key]:
    return Call("POST", "/admin/keys/revoke", {"key": key}, Key.from_json)


def usage(filters: Dict[str, Optional[str]]) -> Call[List[JSON]]:
    return Call("GET", "/admin/usage" + _query(filters), None, lambda d: list(d["usage"]))


def calls(limit: int, filters: Dict[str, Optional[str]]) -> Call[List[JSON]]:
    return Call("GET", "/admin/calls" + _query({"limit": str(limit), **filters}), None, lambda d: list(d["calls"]))
