"""Starts a live `runnel serve` for the Python seed-client tests, and the
fake upstreams they need.

The binary is $RUNNEL_BIN (scripts/conformance builds it). Each server
listens on a free loopback port (read from its ready line, addr=HOST:PORT)
with a fresh temporary --data-dir.
"""

import json
import os
import re
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

READY_TIMEOUT = 30  # seconds; a hang guard, not a latency bound
ADDR_RE = re.compile(r'(?:^|\s)addr="?([^\s"]+:\d+)"?')


class Runnel:
    def __init__(self, args=(), env=None):
        bin_ = os.environ.get("RUNNEL_BIN")
        if not bin_:
            raise RuntimeError("RUNNEL_BIN is not set: run scripts/conformance, or build runnel and export RUNNEL_BIN")
        self.data_dir = tempfile.mkdtemp(prefix="runnel-py-")
        self.bin = bin_
        self.env = {**os.environ, **(env or {})}
        argv = [bin_, "serve", "--addr", "127.0.0.1:0", "--data-dir", self.data_dir, *args]
        self.proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        ready = threading.Event()
        self.addr = None

        def read():
            for line in self.proc.stderr:
                self.lines.append(line)
                if self.addr is None and "msg=ready" in line:
                    m = ADDR_RE.search(line)
                    if m:
                        self.addr = m.group(1)
                        ready.set()
            ready.set()  # exited

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not ready.wait(READY_TIMEOUT) or self.addr is None:
            self.stop()
            raise RuntimeError("runnel serve did not get ready:\n" + self.logs)
        self.base_url = "http://" + self.addr

    @property
    def logs(self):
        return "".join(self.lines)

    def cli(self, *args):
        """Runs an admin command (teams, keys, credits) on this server's data."""
        out = subprocess.run([self.bin, *args, "--data-dir", self.data_dir], env=self.env,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"runnel {' '.join(args)}: {out.stderr}")
        return out.stdout.strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(10)
        self.proc.stderr.close()


def models_dir():
    """shared/models beside the module root or one of its parents, where
    stories260K.bin lives (as internal/testmodels finds it); None if absent."""
    d = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    while True:
        cand = os.path.join(os.path.dirname(d), "shared", "models")
        if os.path.exists(os.path.join(cand, "stories260K.bin")):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


class FakeGemini:
    """A Gemini API stand-in: streamGenerateContent answers the given text
    pieces as SSE chunks, the last with a finish reason and usage."""

    def __init__(self, pieces, prompt_tokens=4):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, p in enumerate(pieces):
                    chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}]}
                    if i == len(pieces) - 1:
                        chunk["candidates"][0]["finishReason"] = "STOP"
                        chunk["usageMetadata"] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": len(pieces),
                                                  "totalTokenCount": prompt_tokens + len(pieces)}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
                    self.wfile.flush()

        self.paths = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
