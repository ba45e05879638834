"""Agent pages and actions answer 503 with Retry-After, not 500, when the database is
unavailable (a restart, a failover, the pool out of connections): nothing was changed, and the
answer says to try again. Found by the chaos run (bench/chaos.py)."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from handoffs import services, views
from tests.test_consumers import start


@pytest.fixture
def client_of(agent):
    client = Client(raise_request_exception=False)
    client.force_login(agent)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_page_whose_database_is_down_answers_503(client_of, monkeypatch, error):
    def down(**_):
        raise error("connection failed: server closed the connection unexpectedly")

    monkeypatch.setattr(views, "inbox_page", down)

    response = client_of.get("/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"Temporarily unavailable" in response.content


@pytest.mark.django_db
def test_an_action_whose_database_is_down_answers_503_and_changes_nothing(
    client_of, bot, agent, monkeypatch
):
    handoff = start(bot)
    services.assign_handoff(handoff=handoff, agent=agent)

    def down(**_):
        raise OperationalError("couldn't get a connection after 1.00 sec")

    monkeypatch.setattr(services, "resolve_handoff", down)

    response = client_of.post(f"/handoffs/{handoff.pk}/resolve/", HTTP_HX_REQUEST="true")

    assert response.status_code == 503
    handoff.refresh_from_db()
    assert handoff.status == "assigned"


@pytest.mark.django_db
def test_other_errors_stay_500(client_of, monkeypatch):
    def broken(**_):
        raise ValueError("a bug")

    monkeypatch.setattr(views, "inbox_page", broken)

    assert client_of.get("/").status_code == 500


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_session_read_in_a_middleware_with_the_database_down_answers_503(
    agent, monkeypatch
):
    """Through the ASGI handler (as Daphne serves it): the session is read by the middleware
    chain, before any view, where the view's exception hook cannot see it."""
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import AsyncClient

    client = AsyncClient(raise_request_exception=False)
    await sync_to_async(client.force_login)(agent)

    def down(self):
        raise OperationalError("connection failed: server closed the connection unexpectedly")

    monkeypatch.setattr(SessionStore, "load", down)

    response = await client.get("/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
