"""What the tests running a benchmark's tiny form share: a PostgreSQL database of its own,
beside the test database, dropped afterwards (a benchmark leaves its own behind, for
inspection)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection


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
