"""Seed 002: the knowledge-base article's clients. Its Python client posts
only a prompt ({"prompt": "Hello"}) and parses every data line as JSON; its
WebSocket alternative sends the prompt as plain text. Neither names a
model: the server's default model (serve --model) answers. TPOT, which the
article lists beside TTFT and ITL, is in /metrics."""

import asyncio
import json
import unittest

import httpx
import requests
import websockets

from harness import Runnel, models_dir

TEXT = "Hello from the default model"
DEFAULT = "mock/default?text=Hello%20from%20the%20default%20model"


class Seed002(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Runnel(["--model", DEFAULT])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_httpx_prompt_only(self):
        printed = ""
        # The seed's client; only the URL changed (to the native token stream).
        with httpx.stream("POST", self.srv.base_url + "/api/v1/inference/stream", json={"prompt": "Hello"}) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    printed += data["token"]
        self.assertEqual(response.status_code, 200)
        self.assertEqual(printed, TEXT)

    def test_websocket_plain_text_prompt(self):
        async def chat(prompt):
            tokens = []
            async with websockets.connect(self.srv.base_url.replace("http", "ws") + "/ws/chat") as websocket:
                await websocket.send(prompt)
                async for message in websocket:
                    data = json.loads(message)
                    if data["type"] == "done":
                        return tokens, data
                    tokens.append(data["text"])

        tokens, done = asyncio.run(chat("Hello"))
        self.assertEqual("".join(tokens), TEXT)
        self.assertEqual(done["finish_reason"], "stop")

    def test_tpot_in_metrics(self):
        with httpx.stream("POST", self.srv.base_url + "/api/v1/inference/stream", json={"prompt": "Hello"}) as response:
            for _ in response.iter_lines():
                pass
        metrics = requests.get(self.srv.base_url + "/metrics").text
        for name in ("runnel_time_to_first_token_seconds_count", "runnel_inter_token_latency_seconds_count",
                     "runnel_time_per_output_token_seconds_count"):
            self.assertIn(name + '{model="default",provider="mock"}', metrics)


@unittest.skipIf(models_dir() is None, "shared/models (stories260K) not found")
class Seed002Engine(unittest.TestCase):
    """With --model naming an engine model, it is loaded before the server
    is ready, and a request without a model streams from it."""

    def test_engine_default_model(self):
        srv = Runnel(["--models-dir", models_dir(), "--model", "stories260K"])
        try:
            self.assertIn("default_model=stories260K", srv.logs)
            printed, final = "", None
            with httpx.stream("POST", srv.base_url + "/api/v1/inference/stream", json={"prompt": "Hello"}) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        data = json.loads(line[6:])
                        printed += data["token"]
                        final = data
            self.assertTrue(final["done"])
            self.assertEqual(final["provider"], "engine")
            self.assertTrue(printed)
            # The contract's default max_tokens is 256.
            self.assertLessEqual(final["usage"]["output_tokens"], 256)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
