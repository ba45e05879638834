"""Run `manage.py` commands (run_worker, serve…) as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


def current_database_url() -> str:
    """DATABASE_URL of the database this test runs on (pytest-django's test database)."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = quote(s["USER"] or "", safe="")
        if s["PASSWORD"]:
            auth += ":" + quote(s["PASSWORD"], safe="")
        host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
        return f"postgres://{auth}@{host}/{s['NAME']}"
    assert connection.vendor == "sqlite", connection.vendor
    return f"sqlite:///{Path(s['NAME']).resolve()}"


def start_worker(**env: str) -> subprocess.Popen:
    full_env = os.environ | {"DATABASE_URL": current_database_url(), "LOG_LEVEL": "WARNING"} | env
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--interval", "0.05"],
        cwd=BASE_DIR,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], *, what: str, seconds: float = 60) -> None:
    """Poll until the condition holds (a deadline against hangs, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    if process.poll() is None:
        process.terminate()
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def manage(env: dict[str, str], *args: str) -> str:
    """Run one command to completion; its output, or the test fails with it."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def start_command(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Process:
    """A started server logging to a file (a pipe nobody reads would fill and block it)."""

    name: str
    popen: subprocess.Popen
    log: Path

    @classmethod
    def spawn(cls, name: str, argv: list[str], *, env: dict[str, str], log_dir: Path) -> Process:
        """Start `argv` from the project's directory, its output in <log_dir>/<name>.log."""
        log = log_dir / f"{name}.log"
        with log.open("wb") as out:  # a file, not a pipe: a chatty child never blocks
            popen = subprocess.Popen(
                argv, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return cls(name, popen, log)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM, as systemd stops it; killed if it has not ended 30 s later."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
