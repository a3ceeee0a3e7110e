"""Seed 001: typed multi-output generation, with the seed's own Python
clients (requests and aiohttp), service_name "google-gemini" reaching the
built-in gemini provider because GEMINI_API_KEY is set (here against a fake
Gemini API), with no provider of that name configured."""

import asyncio
import json
import unittest

import aiohttp
import requests

from harness import FakeGemini, Runnel

PIECES = ["The robot ", "learned ", "to paint."]


class Seed001(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gemini = FakeGemini(PIECES)
        cls.srv = Runnel(env={"GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": cls.gemini.url})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.gemini.stop()

    def test_requests_stream_generate(self):
        # The seed's client, with only the URL and key changed.
        API_URL = self.srv.base_url + "/api/v1"
        API_KEY = "sk_your_api_key"

        def stream_generate(service: str, model: str, prompt: str):
            """Stream a text generation response."""
            response = requests.post(
                f"{API_URL}/generate/stream",
                headers={
                    "Content-Type": "application/json",
                    "X-API-Key": API_KEY,
                    "Accept": "text/event-stream"
                },
                json={
                    "service_name": service,
                    "model_name": model,
                    "input": [
                        {"type": "text", "name": "input", "content": prompt}
                    ]
                },
                stream=True
            )

            for line in response.iter_lines():
                if line:
                    line = line.decode("utf-8")
                    if line.startswith("data: "):
                        yield json.loads(line[6:])

        printed, final = "", None
        for chunk in stream_generate(
            service="google-gemini",
            model="gemini-2.0-flash",
            prompt="Write a short story about a robot learning to paint."
        ):
            if chunk.get("final"):
                final = chunk
                _ = f"Tokens: {chunk['usage']['total_tokens']}"
                _ = f"Cost: ${chunk['cost']['total']:.4f}"
            else:
                if chunk.get("name") == "output":
                    printed += chunk.get("content", "")

        self.assertEqual(printed, "".join(PIECES))
        self.assertEqual(final["usage"], {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7})
        self.assertTrue(any("/models/gemini-2.0-flash:streamGenerateContent" in p for p in self.gemini.paths), self.gemini.paths)

    def test_aiohttp_async_stream(self):
        API_URL = self.srv.base_url + "/api/v1"
        API_KEY = "sk_your_api_key"

        async def async_stream(service: str, model: str, prompt: str):
            """Async streaming with aiohttp."""
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"{API_URL}/generate/stream",
                    headers={
                        "Content-Type": "application/json",
                        "X-API-Key": API_KEY,
                        "Accept": "text/event-stream"
                    },
                    json={
                        "service_name": service,
                        "model_name": model,
                        "input": [{"type": "text", "name": "input", "content": prompt}]
                    }
                ) as response:
                    async for line in response.content:
                        line = line.decode("utf-8").strip()
                        if line.startswith("data: "):
                            chunk = json.loads(line[6:])
                            yield chunk

        async def main():
            full_text, cost = "", None
            async for chunk in async_stream(
                "google-gemini",
                "gemini-2.0-flash",
                "Write a haiku about programming."
            ):
                if chunk.get("final"):
                    cost = f"Cost: ${chunk['cost']['total']:.4f}"
                elif chunk.get("name") == "output":
                    content = chunk.get("content", "")
                    full_text += content
            return full_text, cost

        full_text, cost = asyncio.run(main())
        self.assertEqual(full_text, "".join(PIECES))
        self.assertEqual(cost, "Cost: $0.0000")


if __name__ == "__main__":
    unittest.main()
