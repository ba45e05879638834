"""A throwaway database for tests that replace or rebuild a whole database (backups, upgrades).

`scratch_database()` points the default connection at a new, empty database (a file under
the test's tmp_path on SQLite; `hitlnext_backup_<random>` on PostgreSQL, created and dropped
here) and back afterwards: the test database the other tests use is never restored over or
migrated backwards. Use it inside a transactional test (`transactional_db`): CREATE DATABASE
and a restore cannot run in a transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.db import connection


def close_connections() -> None:
    """This process's connections to the current database, pooled ones included."""
    connection.close()
    if connection.vendor == "postgresql":
        connection.close_pool()  # type: ignore[attr-defined]


def _admin(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


@contextmanager
def scratch_database(tmp_path: Path) -> Iterator[str]:
    """The default connection on a new, empty database (no tables) until the block ends."""
    settings_dict = connection.settings_dict
    saved = settings_dict["NAME"]
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        name = f"hitlnext_backup_{secrets.token_hex(6)}"
        _admin(f'CREATE DATABASE "{name}"')
    else:
        name = str(tmp_path / f"scratch-{secrets.token_hex(6)}.sqlite3")
    close_connections()
    settings_dict["NAME"] = name
    ContentType.objects.clear_cache()  # ids are per database
    try:
        yield name
    finally:
        close_connections()
        settings_dict["NAME"] = saved
        ContentType.objects.clear_cache()
        if postgresql:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
