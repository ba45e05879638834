"""Every connection taken from the pool is checked with a round trip to the server, and a dead
one replaced (tests/test_faults_database.py has the server going away)."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL (the psycopg pool)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def checks(monkeypatch) -> list:
    made: list = []
    original = ConnectionPool.check_connection

    def counted(conn) -> None:
        made.append(conn)
        original(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    return made


def test_every_connection_taken_from_the_pool_is_checked(checks):
    for _ in range(3):
        connection.close()  # back into the pool, as between two requests
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert len(checks) == 3


def test_a_connection_the_server_closed_is_checked_and_replaced(checks):
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    connection.close()  # idle in the pool
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
        autocommit=True,
    ) as outsider:
        outsider.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while not checks and time.monotonic() < deadline:
        connection.close()
        connection.ensure_connection()  # the pool may hand out another idle one first
    assert checks, "the dead connection was never checked"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection.info.backend_pid != pid
