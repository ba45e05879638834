"""What the tests running a benchmark's tiny form share: a PostgreSQL database of its own,
beside the test database, dropped afterwards (a benchmark leaves its own behind, for
inspection)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

from tests.workers import BASE_DIR


@contextmanager
def bench_database(suffix: str, *, redis: bool = False) -> Iterator[str]:
    """The URL of database <test database name><suffix>; skips without PostgreSQL (and Redis
    when `redis`)."""
    if connection.vendor != "postgresql" or (redis and not os.environ.get("REDIS_URL")):
        needs = (
            "PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)"
            if redis
            else ("PostgreSQL (set DATABASE_URL)")
        )
        pytest.skip(f"needs {needs}")
    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(path=f"{parts.path}{suffix}"))
    try:
        yield url
    finally:
        admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_bench(script: str, *args: str, timeout: float) -> str:
    """Run `bench/<script>` with `args` to the end; its output, or the test fails with it.
    Past `timeout` it is stopped with SIGTERM, not SIGKILL, so it stops the servers and
    workers it started."""
    bench = subprocess.Popen(
        [sys.executable, f"bench/{script}", *args],
        cwd=BASE_DIR,
        env=os.environ | {"LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = bench.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        bench.terminate()
        out, err = bench.communicate(timeout=25)
        pytest.fail(f"the benchmark did not finish in {timeout:g} s:\n{out}{err}")
    assert bench.returncode == 0, out + err
    return out
