"""Seed 003: StreamConfig's buffer_size and timeout_ms are honoured (or
refused with a 400 naming the field), never ignored; max_tokens defaults
to 256; its curl-style OpenAI streaming call works against the server's
models."""

import json
import unittest

import httpx
import requests

from harness import Runnel

SLOW = "mock/default?tokens=100&itl=100ms"


class Seed003(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Runnel()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def native(self, body):
        events = []
        with httpx.stream("POST", self.srv.base_url + "/api/v1/inference/stream", json=body, timeout=60) as response:
            if response.status_code != 200:
                response.read()
                return response.status_code, response.json()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        return response.status_code, events

    def test_timeout_ms_ends_the_stream(self):
        # 100 tokens 100 ms apart would take 10 s; timeout_ms: 300 ends it.
        status, events = self.native({"model": SLOW, "prompt": "Hello:",
                                      "parameters": {"timeout_ms": 300, "buffer_size": 64}})
        self.assertEqual(status, 200)
        final = events[-1]
        self.assertTrue(final["done"])
        self.assertEqual(final["error"]["code"], "timeout")
        self.assertIn("300ms", final["error"]["message"])
        self.assertLess(len(events) - 1, 100)

    def test_timeout_ms_on_the_openai_api(self):
        response = requests.post(self.srv.base_url + "/v1/chat/completions", stream=True, json={
            "model": SLOW, "messages": [{"role": "user", "content": "Hello!"}], "stream": True, "timeout_ms": 300})
        lines = [l.decode() for l in response.iter_lines() if l]
        errors = [json.loads(l[6:]) for l in lines if l.startswith("data: {") and '"error"' in l]
        self.assertEqual(len(errors), 1, lines)
        self.assertIn("total timeout", errors[0]["error"]["message"])

    def test_out_of_range_is_a_400_naming_the_field(self):
        for params, field in (({"buffer_size": 0}, "parameters.buffer_size"),
                              ({"buffer_size": 100000}, "parameters.buffer_size"),
                              ({"timeout_ms": 0}, "parameters.timeout_ms")):
            status, body = self.native({"model": SLOW, "prompt": "x", "parameters": params})
            self.assertEqual(status, 400)
            self.assertEqual(body["error"]["param"], field)
            self.assertIn(field, body["error"]["message"])

    def test_default_max_tokens_is_256(self):
        # The mock would send 1000 tokens; with no max_tokens, 256 come.
        response = requests.post(self.srv.base_url + "/v1/chat/completions", stream=True, json={
            "model": "mock/default?tokens=1000", "messages": [{"role": "user", "content": "Hello!"}], "stream": True,
            "stream_options": {"include_usage": True}})
        usage, finish = None, None
        for line in response.iter_lines():
            line = line.decode()
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for c in chunk["choices"]:
                finish = c.get("finish_reason") or finish
        self.assertEqual(usage["completion_tokens"], 256)
        self.assertEqual(finish, "length")


if __name__ == "__main__":
    unittest.main()
