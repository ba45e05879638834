"""Browser tests: Playwright on Debian's Chromium against a real Daphne process.

The server runs in a child process (so websockets work) with the worker loop inside it, the
same shape as `manage.py serve`. Tests use `transaction=True`: the server reads committed rows.
Run separately from tests/ (`-p no:asyncio`): sync Playwright leaves an event loop behind.
"""

from __future__ import annotations

import os
from functools import partial

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"


def _application():
    # Module-level, runs in the server process: static files plus the in-process worker.
    from channels.routing import get_default_application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from webhooks.worker import worker_loop

    inner = ASGIStaticFilesHandler(get_default_application())
    started = []

    async def app(scope, receive, send):
        if not started:
            import asyncio

            started.append(asyncio.get_running_loop().create_task(worker_loop(0.2)))
        await inner(scope, receive, send)

    return app


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker):
    from daphne.testing import DaphneProcess
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    # The translations the server reads (README "Languages"), as `dev.py test` makes them.
    call_command("compilemessages", verbosity=0)
    # Every browser test's visitor comes from 127.0.0.1: the web chat's per-address budgets,
    # meant for one person, would run out within a session of them (their own tests are in
    # tests/test_webchat_limits.py). The forked server inherits these.
    settings.HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP = (10_000, 3600)
    settings.HITLNEXT_WEBCHAT_HANDOFFS_PER_IP = (10_000, 3600)
    settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP = (10_000, 60)

    # No setup hook: the forked child inherits settings in which pytest-django already named
    # the test database (channels' set_database_connection would prefix it a second time
    # on PostgreSQL, where TEST NAME is unset).
    process = DaphneProcess("localhost", partial(_application))
    # Nothing open may cross the fork: a PostgreSQL pool (and its sockets) inherited by the
    # child would be shared by both processes, mixing their queries' results.
    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()
    # The forked child would otherwise inherit pytest-django's "no database" blocker.
    with django_db_blocker.unblock():
        process.start()
    assert process.ready.wait(timeout=30), "Daphne test server did not start"
    yield f"http://localhost:{process.port.value}"
    process.terminate()
    process.join(timeout=10)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--disable-gpu", "--disable-quic", "--disable-sync"],
    }


@pytest.fixture
def bot(transactional_db):
    from tests.factories import BotFactory

    return BotFactory(name="Acme bot")


@pytest.fixture
def agent(transactional_db):
    from tests.factories import UserFactory

    return UserFactory(username="alice", first_name="Alice", last_name="Martin", online=False)


@pytest.fixture
def second_agent(transactional_db):
    from tests.factories import UserFactory

    return UserFactory(username="bob", first_name="Bob", last_name="Stone", online=False)


@pytest.fixture
def api(live_server_url, bot):
    """An HTTP client speaking to the live server as the bot."""
    import httpx

    with httpx.Client(
        base_url=f"{live_server_url}/api/v1",
        headers={"Authorization": f"Bearer {bot.api_key}"},
        timeout=10,
    ) as client:
        yield client


@pytest.fixture(autouse=True)
def _shipped_data(transactional_db):
    """Put back the data migrations' rows: each transactional test ends with a flush."""
    from handoffs.defaults import ensure_default_system_messages
    from handoffs.models import SystemMessage

    ensure_default_system_messages(SystemMessage)
