"""Seed 004: jobs and credits, with the seed's own requests and httpx
clients against a server with auth on. The team is the seed's "acme-corp",
created with that id by the CLI; create-and-call-stream settles the job
before [DONE], so the credit is deducted as soon as the stream ends. And
no door is left open with auth on."""

import asyncio
import json
import unittest

import httpx
import requests

from harness import Runnel

ADMIN = "admin-key-for-the-seed-004-tests"
MODEL = "mock/default?text=Once%20upon%20a%20time"


class Seed004(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Runnel(["--auth", "--model", MODEL], env={"RUNNEL_ADMIN_KEY": ADMIN})
        team = cls.srv.cli("teams", "create", "Acme", "--id", "acme-corp", "--credits", "100")
        assert team == "acme-corp", team
        cls.key = cls.srv.cli("keys", "create", "--team", "acme-corp")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def credits(self):
        r = requests.get(self.srv.base_url + "/admin/teams/acme-corp", headers={"Authorization": f"Bearer {ADMIN}"})
        r.raise_for_status()
        return r.json()

    def test_job_flow(self):
        API_URL = self.srv.base_url + "/api"
        VIRTUAL_KEY = self.key

        headers = {
            "Authorization": f"Bearer {VIRTUAL_KEY}",
            "Content-Type": "application/json"
        }

        # 1. Create job
        job = requests.post(
            f"{API_URL}/jobs/create",
            headers=headers,
            json={"team_id": "acme-corp", "job_type": "chat"}
        ).json()

        job_id = job["job_id"]

        # 2. Make streaming call
        response = requests.post(
            f"{API_URL}/jobs/{job_id}/llm-call-stream",
            headers=headers,
            json={
                "messages": [
                    {"role": "user", "content": "Tell me a story"}
                ]
            },
            stream=True  # Important: enable streaming
        )

        # 3. Process Server-Sent Events
        accumulated = ""
        for line in response.iter_lines():
            if line:
                line = line.decode('utf-8')
                if line.startswith('data: '):
                    data_str = line[6:]  # Remove 'data: ' prefix

                    if data_str == '[DONE]':
                        break

                    try:
                        chunk = json.loads(data_str)
                        if chunk.get("choices"):
                            delta = chunk["choices"][0].get("delta", {})
                            content = delta.get("content", "")
                            if content:
                                accumulated += content
                    except json.JSONDecodeError:
                        continue

        before = self.credits()["credits"]
        # 4. Complete job
        result = requests.post(
            f"{API_URL}/jobs/{job_id}/complete",
            headers=headers,
            json={"status": "completed"}
        ).json()

        self.assertEqual(accumulated, "Once upon a time")
        self.assertEqual(result['costs']['credits_remaining'], before - 1)

    def test_create_and_call_stream(self):
        API_URL = self.srv.base_url + "/api"
        VIRTUAL_KEY = self.key
        headers = {
            "Authorization": f"Bearer {VIRTUAL_KEY}",
            "Content-Type": "application/json"
        }
        for trial in range(5):
            before = self.credits()["credits"]
            # Single request streams the entire response
            response = requests.post(
                f"{API_URL}/jobs/create-and-call-stream",
                headers=headers,
                json={
                    "team_id": "acme-corp",
                    "job_type": "chat",
                    "model": MODEL,
                    "messages": [
                        {"role": "user", "content": "Tell me a short story"}
                    ]
                },
                stream=True  # Important: enable streaming
            )

            # Process Server-Sent Events
            accumulated = ""
            for line in response.iter_lines():
                if line:
                    line = line.decode('utf-8')
                    if line.startswith('data: '):
                        data_str = line[6:]  # Remove 'data: ' prefix

                        if data_str == '[DONE]':
                            break

                        try:
                            chunk = json.loads(data_str)
                            if chunk.get("choices"):
                                delta = chunk["choices"][0].get("delta", {})
                                content = delta.get("content", "")
                                if content:
                                    accumulated += content
                        except json.JSONDecodeError:
                            continue

            # Right after [DONE]: the job is settled, the credit deducted.
            team = self.credits()
            job_id = response.headers["Runnel-Job-Id"]
            job = requests.get(f"{API_URL}/jobs/{job_id}", headers=headers).json()
            response.close()
            self.assertEqual(accumulated, "Once upon a time")
            self.assertEqual((team["credits"], team["credits_reserved"], job["status"]), (before - 1, 0, "completed"), f"trial {trial}")

    def test_create_and_call_stream_httpx(self):
        async def streaming_chat():
            API_URL = self.srv.base_url + "/api"
            VIRTUAL_KEY = self.key
            headers = {"Authorization": f"Bearer {VIRTUAL_KEY}", "Content-Type": "application/json"}
            async with httpx.AsyncClient() as client:
                async with client.stream(
                    "POST",
                    f"{API_URL}/jobs/create-and-call-stream",
                    headers=headers,
                    json={
                        "team_id": "acme-corp",
                        "job_type": "chat",
                        "model": MODEL,
                        "messages": [
                            {"role": "user", "content": "Write a haiku about Python"}
                        ],
                        "temperature": 0.7
                    },
                    timeout=30.0
                ) as response:
                    accumulated = ""
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            data_str = line[6:]

                            if data_str == "[DONE]":
                                break

                            try:
                                chunk = json.loads(data_str)
                                if chunk.get("choices"):
                                    content = chunk["choices"][0].get("delta", {}).get("content", "")
                                    if content:
                                        accumulated += content
                            except json.JSONDecodeError:
                                continue
                    return accumulated, response.headers.get("Runnel-Job-Id")

        accumulated, job_id = asyncio.run(streaming_chat())
        self.assertEqual(accumulated, "Once upon a time")
        self.assertTrue(job_id.startswith("job_"), job_id)

    def test_doors_closed(self):
        base = self.srv.base_url
        for method, path, body in (("POST", "/api/v1/stream-tokens", None), ("GET", "/v1/models", None),
                                   ("GET", "/v1/models/mock/default", None), ("GET", "/api/tags", None),
                                   ("POST", "/api/show", {"model": "mock/default"}), ("GET", "/metrics", None)):
            for key in (None, "rk_not_a_real_key"):
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                r = requests.request(method, base + path, json=body, headers=headers)
                self.assertEqual(r.status_code, 401, f"{method} {path} with key {key}: {r.text}")
            r = requests.request(method, base + path, json=body, headers={"Authorization": f"Bearer {self.key}"})
            self.assertEqual(r.status_code, 200, f"{method} {path} with a key: {r.text}")
        # A revoked key gets no stream token.
        key = self.srv.cli("keys", "create", "--team", "acme-corp")
        self.srv.cli("keys", "revoke", key)
        r = requests.post(base + "/api/v1/stream-tokens", headers={"Authorization": f"Bearer {key}"})
        self.assertEqual(r.status_code, 401, r.text)
        # 2^63-1 credits: a 400 naming the amount.
        r = requests.post(base + "/admin/teams/acme-corp/credits", json={"amount": 2**63 - 1},
                          headers={"Authorization": f"Bearer {ADMIN}"})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"]["param"], "amount")


if __name__ == "__main__":
    unittest.main()
