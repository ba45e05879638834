"""Django's PostgreSQL backend whose connection pool gets over a server restart at once.

After a restart every connection idling in the pool is dead. psycopg_pool can check each one
as it hands it out (Django's CONN_HEALTH_CHECKS), but it waits before trying the next one, the
wait doubling each time (1, 2, 4 s...): with a few idle connections one request spent up to
the whole pool timeout going through them (measured with the pool's own check: 3 idle
connections 3.2 s, 4 idle 7.5 s, then a 503 after 10 s). Here a request checks the connection
it got itself, and a dead one is taken as the sign that all of them are: the pool replaces
every idle connection at once (drain) and the request takes a fresh one, or, while the
server is still down, gets the 503 when the pool's timeout (settings) runs out.

The check costs a round trip to the server on every request, so it is made only when the
connection may be dead: a connection idling in the pool has nothing to read, and a server that
went away (a restart's FATAL message and close, pg_terminate_backend, a proxy or network cut that
closes the socket) leaves it readable. Looking costs no round trip (a poll of the socket);
something readable (that, or a notification) gets the full check.
"""

from __future__ import annotations

import select
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
        if _idle_and_quiet(connection):
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
        while True:
            try:
                return super().get_new_connection(conn_params)
            except PoolTimeout:
                pool = self.pool
                if pool is None or not _all_in_use(pool) or time.monotonic() > deadline:
                    raise  # the server is unreachable (or the wait is over): 503


def _all_in_use(pool: ConnectionPool) -> bool:
    """Whether the pool holds all the connections it may, none of them idle."""
    stats = pool.get_stats()
    return stats.get("pool_size", 0) >= pool.max_size and not stats.get("pool_available", 0)


def _idle_and_quiet(connection: psycopg.Connection) -> bool:
    """Whether the connection is idle with nothing to read on its socket (poll: descriptors
    past 1,024, as in a process holding many websockets, are fine)."""
    if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False
