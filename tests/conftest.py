"""The cast every test draws from: an online agent, a second agent, an offline agent, a bot
and another bot."""

from __future__ import annotations

import pytest

from tests.factories import BotFactory, UserFactory


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs():
    """The translations' .mo files, as `dev.py test` makes them (README "Languages"): pages
    in French or Spanish need them, whichever way the tests are started."""
    from django.core.management import call_command

    call_command("compilemessages", verbosity=0)


@pytest.fixture(autouse=True)
def _shipped_data(request):
    """Put back the data migrations' rows: a transactional test's flush deletes them."""
    marker = request.node.get_closest_marker("django_db")
    uses_db = {"db", "transactional_db"} & set(request.fixturenames)
    if marker is None and not uses_db:
        return
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    from handoffs.defaults import ensure_default_system_messages
    from handoffs.models import SystemMessage

    ensure_default_system_messages(SystemMessage)
    from django.contrib.auth.models import Group

    from agents.roles import SUPERVISORS

    Group.objects.get_or_create(name=SUPERVISORS)


@pytest.fixture(autouse=True)
def _fresh_queue_stats():
    """Wait estimates read the history afresh in each test (a process keeps it 30 s)."""
    from routing.position import forget_stats

    forget_stats()


@pytest.fixture
def bot(db):
    return BotFactory(name="Acme bot")


@pytest.fixture
def other_bot(db):
    return BotFactory(name="Other bot")


@pytest.fixture
def agent(db):
    return UserFactory(username="alice", first_name="Alice", last_name="Martin", online=True)


@pytest.fixture
def second_agent(db):
    return UserFactory(username="bob", first_name="Bob", last_name="Stone", online=True)


@pytest.fixture
def offline_agent(db):
    return UserFactory(username="carol", first_name="Carol", last_name="Ng", online=False)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets its own channel layer instance. channels_redis keeps per-event-loop
    state (a receive lock, its clean-up tasks) on the instance: a test that ended while a
    receive was still cleaning up left a lock bound to its loop, and the next test's loop
    tripped over it ("bound to a different event loop")."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 taking webhooks (tests/webhooks.py)."""
    from tests.webhooks import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def hook_bot(receiver):
    return BotFactory(name="Hooked bot", webhook_url=receiver.url)
