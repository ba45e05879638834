"""Access audit: every URL and websocket route the project serves, checked for who may use it.

The routes are read from the resolver, not listed by hand, so a view or socket added later
without its check fails here. A route that is public on purpose must be named in PUBLIC.
"""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from handoffs.models import Handoff
from hitlnext_project.asgi import application
from hitlnext_project.routing import websocket_urlpatterns
from tests.factories import HandoffFactory, UserFactory

# Public on purpose, with the reason.
PUBLIC = {
    "healthz": "load balancer health check, answers no data",
    "favicon.ico": "redirect to a static icon",
    "login/": "the login form itself",
    "logout/": "POST only; logging out an anonymous visitor is harmless",
    "chat/": "the visitor's web chat page (visitors are anonymous)",
    "chat/demo/": "the web chat embedding demo",
    "chat/attach/": "a visitor's file: the signed visitor token is the credential, not a login",
    "attachments/<int:attachment_id>/": "an agent's session or a signed, expiring link "
    "(tests/test_attachments.py has its access matrix)",
    "media/<path:path>": "uploaded agent avatars, shown to the user's side too",
    "jsi18n/": "the scripts' translated strings, the same for everyone (the web chat uses them)",
}
# For the operator's scraper: HITLNEXT_METRICS_TOKEN, or loopback clients only when unset.
OPERATOR = {"metrics": "Prometheus metrics"}
# The bot API: a bot key is the credential (401 without); its docs are public.
API_PUBLIC = {"api/v1/openapi.json", "api/v1/docs", "api/v1/", "api/v1/^"}
SAMPLE_PATH = "avatars/x.png"


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern)


ALL_ROUTES = sorted(set(_walk(get_resolver().url_patterns)))
ADMIN_ROUTES = [r for r in ALL_ROUTES if r.startswith("admin/")]
API_ROUTES = [r for r in ALL_ROUTES if r.startswith("api/") and r not in API_PUBLIC]
AGENT_ROUTES = [
    r
    for r in ALL_ROUTES
    if r not in PUBLIC
    and r not in OPERATOR
    and not r.startswith(("admin/", "api/"))
    and r not in API_PUBLIC
]


def concrete(route: str, *, handoff_id: int = 1, object_id: str = "1") -> str:
    """A request path for a route pattern, its converters filled with sample values."""
    path = route.replace("<int:handoff_id>", str(handoff_id))
    path = re.sub(r"<path:object_id>", object_id, path)
    path = re.sub(r"<path:path>", SAMPLE_PATH, path)
    path = re.sub(r"<(?:\w+:)?(\w+)>", "1", path)
    # Regex routes (the admin's app index, catch-alls): one simple match.
    path = path.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "auth", path)
    return "/" + path


def test_the_audit_sees_every_kind_of_route():
    assert {"", "handoffs/<int:handoff_id>/send/", "profile/", "presence/"} <= set(AGENT_ROUTES)
    assert {"api/v1/handoffs", "api/v1/messages", "api/v1/labels", "api/v1/deliveries"} <= set(
        API_ROUTES
    )
    assert "admin/" in ADMIN_ROUTES
    assert set(PUBLIC) <= set(ALL_ROUTES), "a public route was removed: update PUBLIC"
    assert set(OPERATOR) <= set(ALL_ROUTES), "an operator route was removed: update OPERATOR"


@pytest.fixture
def handoff(bot):
    return HandoffFactory(conversation__bot=bot)


@pytest.mark.django_db
@pytest.mark.parametrize("route", AGENT_ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_agent_route_sends_an_anonymous_client_to_the_login(route, method, handoff):
    path = concrete(route, handoff_id=handoff.pk)

    response = getattr(Client(), method)(path)

    assert response.status_code == 302, (route, method, response.status_code)
    assert response["Location"].startswith("/login/?next="), response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(OPERATOR))
def test_operator_routes_refuse_remote_clients_and_want_the_token_when_set(route, settings):
    remote = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert remote.get("/" + route).status_code == 403
    assert Client().get("/" + route).status_code == 200  # the test client is 127.0.0.1

    settings.HITLNEXT_METRICS_TOKEN = "a-token-of-sixteen-or-more"
    assert Client().get("/" + route).status_code == 401
    wrong = Client(HTTP_AUTHORIZATION="Bearer a-token-of-sixteen-or-morf")
    assert wrong.get("/" + route).status_code == 401
    right = Client(
        REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer a-token-of-sixteen-or-more"
    )
    assert right.get("/" + route).status_code == 200


# --- the bot API ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", API_ROUTES)
def test_every_api_route_refuses_a_request_without_a_bot_key(route, handoff):
    path = concrete(route, handoff_id=handoff.pk)
    client = Client()

    statuses = {
        method: getattr(client, method)(path, content_type="application/json").status_code
        for method in ("get", "post")
    }

    # The route's own method answers 401; the other one 405 (django-ninja routes by method
    # before the key is checked: it tells which methods exist, which the OpenAPI document
    # publishes anyway). Never any data.
    assert sorted(statuses.values()) in ([401, 401], [401, 405]), (route, statuses)
    for method, status in statuses.items():
        if status == 401:
            assert getattr(client, method)(path, content_type="application/json").json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("route", API_ROUTES)
def test_every_api_route_caps_the_body_size(route, bot, handoff, settings):
    path = concrete(route, handoff_id=handoff.pk)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {bot.api_key}")
    oversized = b"{" + b" " * settings.HITLNEXT_API_MAX_BODY + b"}"

    for method in ("GET", "POST"):
        response = client.generic(method, path, oversized, "application/json")
        assert response.status_code == 413, (route, method, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("suffix", "body"), [("", None), ("/reject", None), ("/rating", {"score": 5})]
)
def test_another_bots_handoff_is_404_in_the_api(suffix, body, bot, other_bot):
    theirs = HandoffFactory(conversation__bot=other_bot, status=Handoff.Status.RESOLVED)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {bot.api_key}")
    method = client.post if suffix else client.get

    response = method(
        f"/api/v1/handoffs/{theirs.pk}{suffix}", body or {}, content_type="application/json"
    )

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Handoff.Status.RESOLVED and not hasattr(theirs, "rating")


# --- the admin --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_every_admin_route_is_closed_to_anonymous_clients_and_non_staff_agents(route, agent):
    path = concrete(route)
    if route in {"admin/login/", "admin/logout/"} or route.startswith("admin/r/"):
        pytest.skip("the admin's own login/logout, and its public view-on-site redirect")
    agent_client = Client()
    agent_client.force_login(agent)

    for client in (Client(), agent_client):
        response = client.get(path)
        assert response.status_code == 302, (route, response.status_code)
        assert response["Location"].startswith("/admin/login/"), response["Location"]


@pytest.mark.django_db
def test_a_staff_admin_reaches_the_admin(db):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    assert client.get("/admin/").status_code == 200


# --- reports: supervisors, admins and those granted "reports.view_reports" -------------------

REPORT_ROUTES = [r for r in AGENT_ROUTES if r.startswith("reports/")]


def test_the_audit_sees_the_reports_routes():
    assert "reports/" in REPORT_ROUTES
    assert "reports/live/" in REPORT_ROUTES  # the wallboard


@pytest.mark.django_db
@pytest.mark.parametrize("route", REPORT_ROUTES)
def test_every_reports_route_refuses_an_agent_who_is_not_a_supervisor(route, agent):
    client = Client()
    client.force_login(agent)

    for params in ({}, {"format": "csv", "table": "agents"}):
        response = client.get(concrete(route), params)
        assert response.status_code == 403, (route, params, response.status_code)
        assert not response["Content-Type"].startswith("text/csv")


@pytest.mark.django_db
@pytest.mark.parametrize("route", REPORT_ROUTES)
def test_every_reports_route_admits_a_supervisor(route, agent):
    from django.contrib.auth.models import Group

    from agents.roles import SUPERVISORS

    agent.groups.add(Group.objects.get(name=SUPERVISORS))
    client = Client()
    client.force_login(agent)

    assert client.get(concrete(route)).status_code == 200, route


# --- agent writes: online, the assignee, everyone else read-only -------------------------------

WRITES = [
    ("handoff_assign", {}),
    ("handoff_send", {"text": "hello"}),
    ("handoff_resolve", {}),
    ("handoff_notes", {"text": "a note"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "data"), WRITES)
def test_an_offline_agent_cannot_write(name, data, bot, offline_agent):
    pending = HandoffFactory(conversation__bot=bot)
    mine = HandoffFactory(
        conversation__bot=bot, status=Handoff.Status.ASSIGNED, agent=offline_agent
    )
    target = pending if name == "handoff_assign" else mine
    client = Client()
    client.force_login(offline_agent)

    response = client.post(reverse(name, args=[target.pk]), data)

    assert response.status_code in {403, 409}, response.status_code
    assert not target.conversation.messages.filter(text=data.get("text", "-")).exists()
    assert not target.conversation.notes.exists()
    target.refresh_from_db()
    assert target.status == (
        Handoff.Status.PENDING if name == "handoff_assign" else Handoff.Status.ASSIGNED
    )


@pytest.mark.django_db
# Notes are the team's, any online agent may add one (as in Botpress); the messages
# and the handoff's fate belong to its assignee.
@pytest.mark.parametrize(
    ("name", "data"), [w for w in WRITES if w[0] not in {"handoff_assign", "handoff_notes"}]
)
def test_a_watcher_cannot_write_in_another_agents_handoff(name, data, bot, agent, second_agent):
    theirs = HandoffFactory(conversation__bot=bot, status=Handoff.Status.ASSIGNED, agent=agent)
    watcher = Client()
    watcher.force_login(second_agent)

    # Reading is open to every agent...
    assert watcher.get(reverse("handoff", args=[theirs.pk])).status_code == 200
    # ...writing only to the assignee.
    response = watcher.post(reverse(name, args=[theirs.pk]), data)

    assert response.status_code in {403, 409}, response.status_code
    assert not theirs.conversation.messages.filter(text=data.get("text", "-")).exists()
    assert not theirs.conversation.notes.exists()
    theirs.refresh_from_db()
    assert theirs.status == Handoff.Status.ASSIGNED and theirs.agent_id == agent.pk


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in AGENT_ROUTES if "<int:handoff_id>" in r])
def test_unknown_handoff_ids_are_404_on_every_handoff_route(route, agent):
    client = Client()
    client.force_login(agent)
    path = concrete(route, handoff_id=999_999)

    response = client.post(path) if route.endswith(WRITE_SUFFIXES) else client.get(path)

    assert response.status_code == 404, (route, response.status_code)


WRITE_SUFFIXES = ("assign/", "send/", "resolve/", "notes/", "labels/")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route", [r for r in AGENT_ROUTES if r.endswith(WRITE_SUFFIXES) or r == "presence/"]
)
def test_write_routes_refuse_get(route, agent, handoff):
    client = Client()
    client.force_login(agent)

    assert client.get(concrete(route, handoff_id=handoff.pk)).status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route", [r for r in AGENT_ROUTES if r.endswith(WRITE_SUFFIXES) or r == "presence/"]
)
def test_write_routes_need_the_csrf_token(route, agent, handoff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    assert client.post(concrete(route, handoff_id=handoff.pk)).status_code == 403


# --- websockets ---------------------------------------------------------------------------------

WS_ROUTES = [str(p.pattern) for p in websocket_urlpatterns]


def test_the_audit_sees_every_websocket_route():
    assert set(WS_ROUTES) == {"ws/chat/", "ws/agent/"}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", WS_ROUTES)
async def test_every_websocket_route_refuses_an_anonymous_connection(route):
    communicator = WebsocketCommunicator(
        application,
        "/" + route,
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )

    connected, code = await communicator.connect()

    if connected:  # accepted only to tell the page why: then closed with 4403 at once
        code = (await communicator.receive_output())["code"]
    assert code == 4403, (route, connected, code)
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", WS_ROUTES)
async def test_every_websocket_route_refuses_a_foreign_origin(route, agent):
    cookie = await database_sync_to_async(_session_cookie)(agent)
    communicator = WebsocketCommunicator(
        application,
        "/" + route,
        headers=[(b"origin", b"http://evil.example"), (b"cookie", f"sessionid={cookie}".encode())],
    )

    connected, _ = await communicator.connect()

    assert not connected


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
