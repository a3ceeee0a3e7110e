"""Fixtures: one runnel binary per session, built from this checkout
(or $RUNNEL_BIN), and live servers: an open one, and one with auth on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Server  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
ADMIN_KEY = "admin-secret-key-0123456789"
USER = [{"role": "user", "content": "tell me a story"}]


@pytest.fixture(scope="session")
def runnel_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.environ.get("RUNNEL_BIN"):
        return os.environ["RUNNEL_BIN"]
    out = tmp_path_factory.mktemp("bin") / "runnel"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/runnel"], cwd=REPO, check=True)
    return str(out)


@pytest.fixture(scope="session")
def server(runnel_bin: str) -> Iterator[Server]:
    """Auth off. Keep-alive comments every 100ms, so that the idle timeout
    is seen to count events, not bytes."""
    s = Server(runnel_bin, env={"RUNNEL_KEEP_ALIVE": "100ms"})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def auth_server(runnel_bin: str) -> Iterator[Server]:
    """Auth on, with an hour's resume grace: only a DELETE ends an
    abandoned resumable stream's generation within a test."""
    s = Server(runnel_bin, ["--auth"], {"RUNNEL_ADMIN_KEY": ADMIN_KEY, "RUNNEL_RESUME_GRACE": "1h"})
    yield s
    s.stop()


class Recorder:
    """httpx event hooks that record each request's method, URL and headers
    and each response's status."""

    def __init__(self) -> None:
        self.requests: List[httpx.Request] = []
        self.statuses: Dict[int, int] = {}

    def on_request(self, req: httpx.Request) -> None:
        self.requests.append(req)

    def on_response(self, resp: httpx.Response) -> None:
        self.statuses[id(resp.request)] = resp.status_code

    async def aon_request(self, req: httpx.Request) -> None:
        self.on_request(req)

    async def aon_response(self, resp: httpx.Response) -> None:
        self.on_response(resp)

    def sync_client(self) -> httpx.Client:
        return httpx.Client(event_hooks={"request": [self.on_request], "response": [self.on_response]})

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(event_hooks={"request": [self.aon_request], "response": [self.aon_response]})

    def methods(self) -> List[str]:
        return [r.method for r in self.requests]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def wait_for(cond: Callable[[], Any], what: str, guard: float = 20.0) -> Any:
    """Polls cond until it returns something true; guard is a deadlock
    guard, not a latency assertion."""
    deadline = time.monotonic() + guard
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def recorded_call(srv: Server, marker: str) -> Callable[[], Any]:
    """A poll for the finished call record whose model contains marker."""

    def find() -> Any:
        r = httpx.get(f"{srv.base_url}/admin/calls?limit=200", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        r.raise_for_status()
        return next((c for c in r.json()["calls"] if marker in c["model"]), None)

    return find
