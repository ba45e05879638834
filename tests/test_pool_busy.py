"""A burst that takes every connection of the pool makes the next request wait for one to come
back, past the pool's 1 s timeout (which stays the bound while the server is down): a busy
process is not an unavailable database. Found by the chaos run (503s with PostgreSQL up)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL (the psycopg pool)"
    ),
    pytest.mark.django_db(transaction=True),
]


def test_a_request_waits_for_a_busy_pool_instead_of_failing():
    pool = connection.pool
    taken = threading.Barrier(pool.max_size + 1)
    release = threading.Event()

    def hold() -> None:
        # Each thread has its own Django connection, taken from the one pool.
        connections["default"].ensure_connection()
        taken.wait(30)
        release.wait(30)
        connections["default"].close()  # back into the pool

    connection.close()
    holders = [threading.Thread(target=hold, daemon=True) for _ in range(pool.max_size)]
    for thread in holders:
        thread.start()
    taken.wait(30)  # every connection of the pool is out
    threading.Timer(2.0, release.set).start()  # longer than the pool's own timeout (1 s)

    connection.ensure_connection()  # before: PoolTimeout after 1 s, a 503
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    for thread in holders:
        thread.join(30)
    connection.close()


def test_the_wait_stays_bounded_when_the_pool_cannot_connect(monkeypatch):
    """The pool failed to connect while the request waited: the server is unreachable. The
    pool's timeout answers (503), no longer wait."""
    from psycopg_pool import PoolTimeout

    from hitlnext_project.shared.postgresql import base

    calls = []

    def unreachable(self, conn_params):
        calls.append(1)
        raise PoolTimeout("couldn't get a connection after 1.00 sec")

    monkeypatch.setattr(base.base.DatabaseWrapper, "get_new_connection", unreachable)
    # Each attempt is a failed connection, as the pool counts them.
    monkeypatch.setattr(base, "_connection_errors", lambda pool: len(calls))
    connection.close()
    with pytest.raises(Exception, match="couldn't get a connection"):
        connection.ensure_connection()
    assert len(calls) == 1  # not retried: connecting failed
