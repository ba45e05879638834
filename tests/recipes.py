"""What the integration recipes' tests (examples/rasa, examples/langgraph, the README's curl
walk-through) share: their processes, a stand-in for the one HTTP endpoint of a platform we
cannot run here, and webhook delivery."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from webhooks.models import Delivery
from webhooks.worker import run_once

ROOT = Path(__file__).resolve().parent.parent


class Process:
    """A started program whose output is read all along (so its pipe never fills), with a
    way to wait for a line."""

    def __init__(self, args: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None):
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=os.environ | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the action server forks a worker
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_line(self, pattern: str, *, seconds: float = 30) -> re.Match[str]:
        while True:
            try:
                line = self._lines.get(timeout=seconds)
            except queue.Empty:
                raise AssertionError(f"no line like {pattern!r}: {''.join(self.output)}") from None
            if line is None:
                raise AssertionError(f"exited before {pattern!r}: {''.join(self.output)}")
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


class Recorded:
    def __init__(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers  # lower-case names
        self.raw = raw
        self.body = json.loads(raw or b"null")

    def __repr__(self) -> str:
        return f"Recorded({self.method} {self.path} {self.query} {self.body!r})"


class FakeEndpoint:
    """Stands in for one HTTP endpoint of a platform: records each JSON request, and answers
    what `answer` returns for it (200 and `{}` by default)."""

    def __init__(self, answer: Callable[[Recorded], tuple[int, Any]] | None = None) -> None:
        self.requests: list[Recorded] = []
        self.answer = answer or (lambda recorded: (200, {}))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                recorded = Recorded("POST", url.path, dict(parse_qsl(url.query)), headers, raw)
                outer.requests.append(recorded)
                status, body = outer.answer(recorded)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def deliver_everything() -> None:
    """Run the worker's delivery passes until nothing is left to send."""
    while run_once():
        pass
    assert not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists()
