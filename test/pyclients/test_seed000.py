"""Seed 000: the native token stream. A client that prints token.token of
every event must print the answer, never the model's reasoning, unless it
asked for the reasoning (parameters.enable_thinking), which then comes on
the "thinking" channel."""

import json
import unittest

import requests

from harness import Runnel

THINKER = "mock/default?text=Transformers%20use%20attention.&think=3"


def stream_predict(base_url, model, messages, parameters=None):
    # What the seed's SDK call does: POST the token stream, yield each event.
    body = {"model": model, "messages": messages}
    if parameters:
        body["parameters"] = parameters
    response = requests.post(base_url + "/api/v1/inference/stream", json=body, stream=True,
                             headers={"Authorization": "Bearer oct_..."})
    response.raise_for_status()
    for line in response.iter_lines():
        if line.startswith(b"data: "):
            yield json.loads(line[6:])


class Seed000(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Runnel()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_reasoning_never_printed_as_the_answer(self):
        printed = ""
        for token in stream_predict(self.srv.base_url, THINKER, messages=[
            {"role": "user", "content": "Explain transformers"}
        ]):
            printed += token["token"]
        self.assertEqual(printed, "Transformers use attention.")

    def test_reasoning_when_asked_for(self):
        channels = {}
        for token in stream_predict(self.srv.base_url, THINKER, [{"role": "user", "content": "Explain transformers"}],
                                    {"enable_thinking": True}):
            if not token["done"]:
                ch = token.get("channel", "output")
                channels[ch] = channels.get(ch, "") + token["token"]
        self.assertEqual(channels, {"thinking": "Let me think", "output": "Transformers use attention."})


if __name__ == "__main__":
    unittest.main()
