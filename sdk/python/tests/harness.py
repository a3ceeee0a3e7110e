"""Test harness: a live `runnel serve` on a free loopback port, and a TCP
proxy that cuts connections mid-response."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from typing import Dict, List, Optional, Sequence

READY_TIMEOUT = 60.0  # deadlock guards, not latency assertions
STOP_TIMEOUT = 10.0

# Matches addr=127.0.0.1:1234 in the ready line, but not remote_addr=….
ADDR_RE = re.compile(r'(?:^|\s)addr="?([^\s"]+:\d+)"?')


class Server:
    """runnel serve --addr 127.0.0.1:0 with a fresh --data-dir; the port
    is read from the ready line it logs."""

    def __init__(self, binary: str, args: Sequence[str] = (), env: Optional[Dict[str, str]] = None) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="runnel-pytest-")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNEL_") and k not in ("DATABASE_URL", "REDIS_URL")}
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", self.data_dir, *args],
            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.logs: List[str] = []
        ready = threading.Event()
        self.addr = ""

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.logs.append(line)
                m = ADDR_RE.search(line)
                if m and not self.addr:
                    self.addr = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(READY_TIMEOUT) or not self.addr:
            self.stop()
            raise RuntimeError("runnel serve did not get ready:\n" + "".join(self.logs))
        self.base_url = f"http://{self.addr}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class CuttingProxy:
    """Forwards TCP connections to target, except that each of the first
    `cuts` connections is cut after cut_after bytes of response (mid-event,
    most likely), or right after the response headers when cut_after is
    "headers"."""

    def __init__(self, target: str, cut_after, cuts: float = 1) -> None:  # type: ignore[no-untyped-def]
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.connections += 1
                cutting = self.cuts_left > 0
                if cutting:
                    self.cuts_left -= 1
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.cut_after if cutting else None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, cut_after) -> None:  # type: ignore[no-untyped-def]
        seen = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if cut_after is None:
                    dst.sendall(data)
                    continue
                seen += data
                at = seen.find(b"\r\n\r\n") + 4 if cut_after == "headers" else cut_after
                if at < 4 or len(seen) < at:
                    dst.sendall(data)
                    continue
                dst.sendall(data[: len(data) - (len(seen) - at)])
                with self._lock:
                    self.cuts += 1
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                return
        except OSError:
            for s in (src, dst):
                s.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass


def unreachable_listener():  # type: ignore[no-untyped-def]
    """A listening socket whose accept queue is full, so that a further
    connect hangs until the client's connect timeout: the kernel drops SYNs
    to a full queue. Returns (url, sockets to close)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    held = [lst]
    addr = lst.getsockname()
    # Fill the queue: connects that complete without being accepted.
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(addr)
        held.append(s)
    return f"http://127.0.0.1:{addr[1]}", held
