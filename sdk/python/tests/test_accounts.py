"""Jobs and credits (seed 004) and the admin API, against a server with auth on."""

from __future__ import annotations

import uuid

import pytest
from conftest import ADMIN_KEY, USER, wait_for
from harness import Server

import runnel

MODEL = "mock/default?tokens=3"


def admin(srv: Server) -> runnel.Client:
    return runnel.Client(srv.base_url, ADMIN_KEY, max_retries=0)


def test_admin_teams_keys_credits(auth_server: Server) -> None:
    name = f"acme-{uuid.uuid4().hex[:8]}"
    with admin(auth_server) as a:
        team = a.admin.create_team(name, credits=5, rpm_limit=100)
        assert (team.name, team.credits, team.credits_free, team.rpm_limit) == (name, 5, 5, 100)
        assert team.id.startswith("team_") and team.created_at
        assert any(t.id == team.id for t in a.admin.teams())
        assert a.admin.add_credits(team.id, 7).credits == 12
        assert a.admin.team(team.id).credits == 12
        assert a.admin.set_limits(team.id, tpm_limit=5000).tpm_limit == 5000

        key = a.admin.create_key(team.id, "ci", rpm_limit=60)
        assert key.key and key.key.startswith("rk_") and key.team_id == team.id and key.rpm_limit == 60
        listed = a.admin.keys(team.id)
        assert [k.id for k in listed] == [key.id] and listed[0].key is None and listed[0].prefix == key.key[:11]

        # The new key works, then fails once revoked.
        with runnel.Client(auth_server.base_url, key.key, max_retries=0) as c:
            assert c.chat_stream(MODEL, USER).collect().text == "Runnel streams every"
            assert a.admin.revoke_key(key.id).revoked_at
            with pytest.raises(runnel.AuthenticationError) as e:
                list(c.chat_stream(MODEL, USER))
            assert (e.value.status, e.value.code) == (401, "invalid_api_key")
        # The call outside a job cost one credit.
        assert a.admin.team(team.id).credits == 11
        # Records reach the database just after the call: poll for them.
        usage = wait_for(lambda: a.admin.usage(team_id=team.id), "the usage record")
        assert [(u["model"], u["calls"], u["usage"]["output_tokens"]) for u in usage] == [("default?tokens=3", 1, 3)]  # the model without its provider
        calls = a.admin.calls(limit=10, team_id=team.id)
        assert [c["output"] for c in calls] == ["Runnel streams every"]


def test_admin_errors(auth_server: Server) -> None:
    with runnel.Client(auth_server.base_url, "rk_not_a_key", max_retries=0) as c, pytest.raises(runnel.AuthenticationError):
        c.admin.teams()
    with admin(auth_server) as a:
        team = a.admin.create_team("errs", credits=1)
        key = a.admin.create_key(team.id)
        with runnel.Client(auth_server.base_url, key.key, max_retries=0) as c, pytest.raises(runnel.PermissionDeniedError) as e:
            c.admin.teams()
        assert e.value.status == 403
        with pytest.raises(runnel.BadRequestError) as e2:
            a.admin.revoke_key("nope")
        assert (e2.value.status, e2.value.param) == (400, "key")


def team_and_key(srv: Server, credits: int):  # type: ignore[no-untyped-def]
    with admin(srv) as a:
        team = a.admin.create_team(f"jobs-{uuid.uuid4().hex[:8]}", credits=credits)
        return team, a.admin.create_key(team.id, "jobs").key


def test_jobs_create_call_stream_complete(auth_server: Server) -> None:
    team, key = team_and_key(auth_server, 3)
    with runnel.Client(auth_server.base_url, key, max_retries=0) as c:
        job = c.jobs.create(team.id, "chat")
        assert job.job_id.startswith("job_") and job.status == "pending" and job.team_id == team.id
        s = c.jobs.call_stream(job.job_id, USER, MODEL, temperature=0.7, max_tokens=10)
        text = "".join(ch.text for ch in s)
        assert text == "Runnel streams every" and s.finish_reason == "stop"
        assert s.metrics.chunks == 3
        second = c.jobs.call(job.job_id, USER, MODEL)
        assert second["choices"][0]["message"]["content"] == "Runnel streams every"
        got = c.jobs.get(job.job_id)
        assert got["status"] in ("pending", "in_progress") and got["call_count"] == 2
        done = c.jobs.complete(job.job_id)
        assert (done.status, done.credits_charged, done.credits_remaining) == ("completed", 1, 2)
        assert done.usage == {"input_tokens": 8, "output_tokens": 6, "total_tokens": 14}
        # Idempotent.
        assert c.jobs.complete(job.job_id).credits_remaining == 2
        failed = c.jobs.complete(c.jobs.create(team.id, "chat").job_id, "failed")
        assert (failed.status, failed.credits_charged, failed.credits_remaining) == ("failed", 0, 2)


def test_jobs_create_and_call_stream(auth_server: Server) -> None:
    team, key = team_and_key(auth_server, 2)
    with runnel.Client(auth_server.base_url, key, max_retries=0) as c:
        r = c.jobs.create_and_call_stream(team.id, "chat", MODEL, USER).collect()
        assert r.text == "Runnel streams every" and r.finish_reason == "stop"
    with admin(auth_server) as a:
        assert a.admin.team(team.id).credits == 1


def test_jobs_errors(auth_server: Server) -> None:
    team, key = team_and_key(auth_server, 0)
    other, other_key = team_and_key(auth_server, 1)
    with runnel.Client(auth_server.base_url, key, max_retries=0) as c:
        with pytest.raises(runnel.InsufficientCreditsError) as e:
            c.jobs.create(team.id, "chat")
        assert (e.value.status, e.value.code) == (402, "insufficient_quota")
        # A job of another team is invisible.
        with runnel.Client(auth_server.base_url, other_key, max_retries=0) as o:
            job = o.jobs.create(other.id, "chat")
        with pytest.raises(runnel.NotFoundError):
            c.jobs.get(job.job_id)
        with pytest.raises(runnel.NotFoundError):
            list(c.jobs.call_stream(job.job_id, USER, MODEL))


async def test_async_jobs_and_admin(auth_server: Server) -> None:
    async with runnel.AsyncClient(auth_server.base_url, ADMIN_KEY, max_retries=0) as a:
        team = await a.admin.create_team("async", credits=2)
        key = (await a.admin.create_key(team.id)).key
        assert (await a.admin.add_credits(team.id, 1)).credits == 3
        assert [k.team_id for k in await a.admin.keys(team.id)] == [team.id]
        assert any(t.id == team.id for t in await a.admin.teams())
    async with runnel.AsyncClient(auth_server.base_url, key, max_retries=0) as c:
        job = await c.jobs.create(team.id, "chat")
        texts = [ch.text async for ch in c.jobs.call_stream(job.job_id, USER, MODEL)]
        assert "".join(texts) == "Runnel streams every"
        assert (await c.jobs.call(job.job_id, USER, MODEL))["choices"][0]["message"]["content"] == "Runnel streams every"
        assert (await c.jobs.get(job.job_id))["call_count"] == 2
        done = await c.jobs.complete(job.job_id, "completed")
        assert done.credits_remaining == 2
        r = await c.jobs.create_and_call_stream(team.id, "chat", MODEL, USER).collect()
        assert r.text == "Runnel streams every"
    async with runnel.AsyncClient(auth_server.base_url, ADMIN_KEY) as a:
        assert (await a.admin.team(team.id)).credits == 1
        assert (await a.admin.set_limits(team.id, rpm_limit=9)).rpm_limit == 9
        assert (await a.admin.revoke_key(key)).revoked_at
    with admin(auth_server) as sa:  # records reach the database just after each call
        wait_for(lambda: len(sa.admin.calls(limit=5, team_id=team.id)) == 3, "three call records")
    async with runnel.AsyncClient(auth_server.base_url, ADMIN_KEY) as a:
        assert [c["output"] for c in await a.admin.calls(limit=5, team_id=team.id)] == ["Runnel streams every"] * 3
        assert [(u["calls"], u["usage"]["output_tokens"]) for u in await a.admin.usage(team_id=team.id)] == [(3, 9)]


def test_rate_limit_warnings_then_429_with_retry_after(auth_server: Server) -> None:
    with admin(auth_server) as a:
        team = a.admin.create_team("limited", credits=100)
        key = a.admin.create_key(team.id, rpm_limit=5).key
    with runnel.Client(auth_server.base_url, key, max_retries=0) as c:
        warnings = [c.generate_stream(None, MODEL, "go").collect().warnings for _ in range(4)]
        # The final event carries the limiter's warning from 80% on.
        assert warnings[:3] == [[], [], []]
        assert warnings[3] == ["key has used 4 of its 5 requests per minute"]
        err = None
        for _ in range(5):  # the limit is a sliding window: within a few requests, 429
            try:
                c.generate_stream(None, MODEL, "go").collect()
            except runnel.RateLimitError as e:
                err = e
                break
    assert err is not None and err.status == 429 and err.code == "rate_limited"
    # A sliding window over two minutes: the wait is under 2 minutes.
    assert err.retry_after is not None and 0 < err.retry_after <= 120 and not err.mid_stream
