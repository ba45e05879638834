"""Django's PostgreSQL backend whose connection pool gets over a server restart at once.

After a restart every connection idling in the pool is dead. psycopg_pool can check each one
as it hands it out (Django's CONN_HEALTH_CHECKS), but it waits before trying the next one, the
wait doubling each time (1, 2, 4 s...): with a few idle connections one request spent up to
the whole pool timeout going through them (measured with the pool's own check: 3 idle
connections 3.2 s, 4 idle 7.5 s, then a 503 after 10 s). Here a request checks the connection
it got itself, and a dead one is taken as the sign that all of them are: the pool replaces
every idle connection at once (drain) and the request takes a fresh one, or, while the
server is still down, gets the 503 when the pool's timeout (settings) runs out.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
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
