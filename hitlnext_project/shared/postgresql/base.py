"""Django's PostgreSQL backend whose connection pool gets over a server restart at once.

After a restart every connection idling in the pool is dead. psycopg_pool can check each one
as it hands it out (Django's CONN_HEALTH_CHECKS), but it waits before trying the next one, the
wait doubling each time (1, 2, 4 s...): with a few idle connections one request spent up to
the whole pool timeout going through them (measured with the pool's own check: 3 idle
connections 3.2 s, 4 idle 7.5 s, then a 503 after 10 s). Here a request checks the connection
it got itself, and a dead one is taken as the sign that all of them are: the pool replaces
every idle connection at once (drain) and the request takes a fresh one, or, while the
server is still down, gets the 503 when the pool's timeout (settings) runs out.

The check costs a round trip on every connection taken. Skipping it when the socket looked
quiet (a poll) was tried and undone: the PostgreSQL suite then met connections the server had
terminated (AdminShutdown) after the fault tests, in two runs of two; the round trip is the
price of never handing out a dead connection.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool, PoolTimeout

# The pool's timeout (settings: 1 s) bounds a request's wait while the server is down. When
# instead every connection of the pool is out serving other requests (a burst: under ASGI each
# request runs on a thread of its own), the process is busy, not cut off: the request waits up
# to this much longer for one to come back, rather than answering 503 to a healthy server.
BUSY_WAIT = 10.0


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = self._from_pool(conn_params)
        pool = self.pool
        if pool is None:
            return connection
        try:
            ConnectionPool.check_connection(connection)  # one empty query, as the pool's own
        except psycopg.Error:
            pool.putconn(connection)  # broken: the pool discards it and connects a new one
            pool.drain()  # the connections idling beside it died with it
            connection = super().get_new_connection(conn_params)
        return connection

    def _from_pool(self, conn_params: dict[str, Any]) -> Any:
        deadline = time.monotonic() + BUSY_WAIT
        failed_before = _connection_errors(self.pool)
        while True:
            try:
                return super().get_new_connection(conn_params)
            except PoolTimeout:
                # A connection attempt failed meanwhile: the server is unreachable, answer now
                # (503). None did: every connection is out serving others; wait for one.
                if _connection_errors(self.pool) > failed_before or time.monotonic() > deadline:
                    raise


def _connection_errors(pool: ConnectionPool | None) -> int:
    """How many times the pool failed to connect so far (psycopg_pool's own count)."""
    return pool.get_stats().get("connections_errors", 0) if pool is not None else 0
