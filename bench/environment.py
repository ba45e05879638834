"""The production-like environment a benchmark gives its servers (and itself).

Every bench command runs hitlnext as a deployment would: production settings (`DEBUG=false`),
plain HTTP on loopback (`HTTPS=false`), its own PostgreSQL database and, when given, its own
Redis key prefix, a throwaway SECRET_KEY and var directory.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def production_env(
    database_url: str,
    redis_url: str | None,
    var_dir: str,
    prefix: str | None,
    **overrides: str,
) -> dict[str, str]:
    """The whole environment for a server process: this process's own, plus production
    settings on `database_url`, `redis_url` (None: no Redis, so the in-memory channel layer
    and cache, and REDIS_URL removed) with keys under `prefix`, and `var_dir`; `overrides`
    (e.g. ALLOWED_HOSTS="testserver", HITLNEXT_WEBHOOK_LEASE="15s") last."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "hitlnext_project.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "HTTPS": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "HITLNEXT_VAR_DIR": var_dir,
    }
    if redis_url is None:
        env.pop("REDIS_URL", None)
    else:
        env["REDIS_URL"] = redis_url
    if prefix is not None:
        env["HITLNEXT_REDIS_PREFIX"] = prefix
    return env | {name: str(value) for name, value in overrides.items()}


def use_env(env: dict[str, str]) -> None:
    """Make `env` this process's environment too (before django.setup()), REDIS_URL and the
    Redis prefix removed when `env` has none."""
    for name in ("REDIS_URL", "HITLNEXT_REDIS_PREFIX"):
        if name not in env:
            os.environ.pop(name, None)
    os.environ.update(env)


@contextmanager
def django_on_fresh_database(database_url: str, *, prefix: str) -> Iterator[Path]:
    """This process as a production-like hitlnext (in-memory layer and cache: nothing here
    needs Redis) on the benchmark's own database, dropped, created and migrated; yields the
    throwaway var directory. For benchmarks that render pages in their own process."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        use_env(production_env(database_url, None, tmp, None, ALLOWED_HOSTS="testserver"))
        Path(tmp, "staticfiles").mkdir(exist_ok=True)  # WhiteNoise warns when it is missing
        import django

        django.setup()
        from bench import fixtures

        fixtures.recreate_database(database_url)
        fixtures.migrate()
        yield Path(tmp)
