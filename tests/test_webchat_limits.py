"""The web chat against abuse: a flooding socket is cut off before any database work, a page
view writes no row, and new visitors, messages and handoffs are budgeted per address and
overall (webchat/limits.py, the HITLNEXT_WEBCHAT_* settings)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
import time_machine
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, EndUser
from handoffs.models import Handoff
from hitlnext_project.asgi import application
from tests.api_support import BotApi, message_body
from tests.test_webchat import receive_until, stored
from webchat import consumers, visitors
from webchat import services as webchat

VISITOR_A = "visitor-aaaaaaaaaaaaaaaa"
VISITOR_B = "visitor-bbbbbbbbbbbbbbbb"
VISITOR_C = "visitor-cccccccccccccccc"
HOUR = 3600
# What a flooding socket is closed with: RFC 6455's 1008 cannot be sent through Daphne (autobahn
# allows a server 1000 or 3000-4999), so the private-range "429" (webchat/consumers.py).
TOO_MANY_FRAMES = 4429


@pytest.fixture(autouse=True)
def frozen_time():
    # Inside every budget's window, and it stays there: no window ends halfway through a test.
    # (The sockets' asyncio timeouts run on the monotonic clock, which time-machine leaves be.)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _fresh_limits(settings):
    # The shipped defaults, whatever HITLNEXT_WEBCHAT_* the environment sets; no hits counted.
    settings.HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP = (30, HOUR)
    settings.HITLNEXT_WEBCHAT_NEW_VISITORS = (1000, HOUR)
    settings.HITLNEXT_WEBCHAT_HANDOFFS_PER_IP = (5, HOUR)
    settings.HITLNEXT_WEBCHAT_HANDOFFS = (100, HOUR)
    settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP = (60, 60)
    settings.HITLNEXT_WEBCHAT_MESSAGES = (3000, 60)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def still_clock(monkeypatch):
    """The sockets' clock stands still: every frame arrives within the same second."""
    from webchat import limits

    monkeypatch.setattr(limits, "monotonic", lambda: 1000.0)


@pytest.fixture
def database_hops(monkeypatch):
    """The names of the functions the visitor consumer runs on the database thread."""
    hops: list[str] = []
    real = consumers.database_sync_to_async

    def counted(function, *args, **kwargs):
        hops.append(function.__name__)
        return real(function, *args, **kwargs)

    monkeypatch.setattr(consumers, "database_sync_to_async", counted)
    return hops


async def open_visitor(visitor_id: str, *, address: str = "127.0.0.1") -> WebsocketCommunicator:
    """A visitor's socket as the chat page opens it (the signed token in the URL), from
    `address`, with the catch-up read."""
    token = visitors.visitor_token(visitor_id)
    comm = WebsocketCommunicator(
        application,
        f"/ws/chat/?t={token}",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    comm.scope["client"] = (address, 50000)  # read when the application starts
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_from()
    return comm


async def say(comm: WebsocketCommunicator, **values) -> None:
    await comm.send_to(text_data=json.dumps(values))


async def closed_with(comm: WebsocketCommunicator) -> int:
    """Read the socket's output up to its close; the close code."""
    for _ in range(1000):
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]
    raise AssertionError("the socket was never closed")


def page_token(page: str) -> str:
    return unquote(page.split("?t=")[1].split('"')[0])


# --- A: a socket sending frames flat out -------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_flooding_socket_is_closed_and_its_refused_frames_touch_no_database(
    still_clock, database_hops
):
    visitor = await open_visitor(VISITOR_A)
    database_hops.clear()  # the catch-up

    for _ in range(200):
        await visitor.send_to(text_data='{"text":"x"}')

    assert await closed_with(visitor) == TOO_MANY_FRAMES
    await visitor.disconnect(timeout=10)  # once the frames let through are handled

    # Of the frames let through, only those the visitor's budget allows reached the database;
    # the others were refused from the cache, and the frames past the close were never read.
    assert database_hops == ["post_visitor_message"] * webchat.RATE_LIMIT
    incoming = [d for d, _ in await asyncio.to_thread(stored, VISITOR_A) if d == "incoming"]
    assert len(incoming) == webchat.RATE_LIMIT


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_address_that_flooded_may_open_no_visitor_socket_for_a_minute(
    still_clock, frozen_time
):
    flooder = await open_visitor(VISITOR_A, address="10.0.0.9")
    for _ in range(100):
        await flooder.send_to(text_data='{"text":"x"}')
    assert await closed_with(flooder) == TOO_MANY_FRAMES
    await flooder.disconnect(timeout=10)

    again = WebsocketCommunicator(
        application,
        f"/ws/chat/?t={visitors.visitor_token(VISITOR_B)}",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    again.scope["client"] = ("10.0.0.9", 50001)
    assert await again.connect() == (False, TOO_MANY_FRAMES)
    await again.disconnect()
    await (await open_visitor(VISITOR_C, address="10.0.0.10")).disconnect()

    frozen_time.shift(timedelta(seconds=61))
    await (await open_visitor(VISITOR_B, address="10.0.0.9")).disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_at_a_persons_pace_stays_open(still_clock):
    visitor = await open_visitor(VISITOR_A)

    for n in range(consumers.FRAMES_PER_SECOND // 2):
        await say(visitor, text=f"message {n}")
        await receive_until(visitor, f"message {n}", limit=20)
    await say(visitor, action="handoff")

    await receive_until(visitor, "Waiting for a person", limit=20)
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_bot_api_answers_while_visitor_sockets_flood(still_clock, database_hops, bot):
    sockets = [
        await open_visitor(visitor, address=f"10.0.0.{n}")
        for n, visitor in enumerate((VISITOR_A, VISITOR_B, VISITOR_C, "visitor-dddddddddddddddd"))
    ]
    database_hops.clear()

    async def flood(comm: WebsocketCommunicator) -> None:
        for _ in range(500):
            await comm.send_to(text_data='{"text":"x"}')
            await asyncio.sleep(0)  # let the sockets and the API request take turns

    flooding = [asyncio.create_task(flood(comm)) for comm in sockets]
    response = await BotApi(AsyncClient(), bot.api_key).post("/messages", message_body())
    await asyncio.gather(*flooding)

    assert response.status_code == 201
    assert response.json()["paused"] is False
    for comm in sockets:
        assert await closed_with(comm) == TOO_MANY_FRAMES
        await comm.disconnect(timeout=10)
    assert len(database_hops) == len(sockets) * webchat.RATE_LIMIT


# --- B: a page view writes nothing; a visitor exists once they write -------------------


@pytest.mark.django_db
def test_cookieless_page_views_write_no_row(settings):
    settings.HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP = (0, 0)  # 200 from one test address

    with CaptureQueriesContext(connection) as queries:
        for _ in range(200):
            assert Client().get("/chat/").status_code == 200

    assert [q["sql"] for q in queries.captured_queries] == []
    assert not Session.objects.exists()
    assert not EndUser.objects.exists()
    assert not Conversation.objects.exists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_page_view_reload_message_reload_keeps_the_visitors_conversation():
    browser = AsyncClient()
    first = (await browser.get("/chat/")).content.decode()
    visitor_id = visitors.visitor_from_token(page_token(first))

    reloaded = (await browser.get("/chat/")).content.decode()

    assert visitors.visitor_from_token(page_token(reloaded)) == visitor_id
    assert not await Session.objects.aexists()
    assert not await EndUser.objects.aexists()

    # The socket as the browser opens it: with the page's cookies.
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in browser.cookies.items())
    socket = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", cookie.encode()),
        ],
    )
    assert (await socket.connect())[0]
    await socket.receive_from()
    await say(socket, text="hello after a reload")
    await receive_until(socket, "demo bot")
    await socket.disconnect()

    assert await EndUser.objects.filter(external_id=visitor_id).aexists()
    page = (await browser.get("/chat/")).content.decode()
    assert "hello after a reload" in page
    assert not await Session.objects.aexists()


# --- B: new visitors per address and overall ------------------------------------------------


@pytest.mark.django_db
def test_new_visitors_past_the_per_address_limit_get_a_readable_429(settings):
    settings.HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP = (3, HOUR)
    returning = Client(REMOTE_ADDR="10.0.0.1")
    assert returning.get("/chat/").status_code == 200
    for _ in range(2):
        assert Client(REMOTE_ADDR="10.0.0.1").get("/chat/").status_code == 200

    refused = Client(REMOTE_ADDR="10.0.0.1").get("/chat/?embed=1")

    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many chats have been started recently. Please try again in" in page
    assert 'role="alert"' in page
    # A sliding hour: the visitors counted go out of it at most a tenth of it late.
    assert 0 < int(refused["Retry-After"]) <= HOUR + HOUR // 10
    assert "frame-ancestors 'self'" in refused["Content-Security-Policy"]
    # Another address, and a visitor who already has an id, are not affected.
    assert Client(REMOTE_ADDR="10.0.0.2").get("/chat/").status_code == 200
    assert returning.get("/chat/").status_code == 200


@pytest.mark.django_db
def test_ipv6_visitors_share_the_budget_of_their_64_network(settings):
    settings.HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP = (1, HOUR)

    assert Client(REMOTE_ADDR="2001:db8::1").get("/chat/").status_code == 200
    assert Client(REMOTE_ADDR="2001:db8::2").get("/chat/").status_code == 429
    assert Client(REMOTE_ADDR="2001:db8:0:1::1").get("/chat/").status_code == 200


@pytest.mark.django_db
def test_new_visitors_past_the_overall_limit_are_refused_from_any_address(settings):
    settings.HITLNEXT_WEBCHAT_NEW_VISITORS = (2, HOUR)
    for n in range(2):
        assert Client(REMOTE_ADDR=f"10.0.1.{n}").get("/chat/").status_code == 200

    assert Client(REMOTE_ADDR="10.0.2.1").get("/chat/").status_code == 429


# --- B: messages per address and overall -------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_messages_past_the_per_address_limit_are_refused_before_the_database(
    settings, database_hops
):
    settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP = (2, 60)
    alice = await open_visitor(VISITOR_A, address="10.0.0.1")
    bob = await open_visitor(VISITOR_B, address="10.0.0.1")
    carol = await open_visitor(VISITOR_C, address="10.0.0.2")
    database_hops.clear()

    await say(alice, text="one")
    await receive_until(alice, "demo bot")
    await say(bob, text="two")
    await receive_until(bob, "demo bot")
    await say(bob, text="three")
    await receive_until(bob, "sending messages too quickly")
    await say(carol, text="from elsewhere")
    await receive_until(carol, "demo bot")

    assert database_hops == ["post_visitor_message"] * 3
    assert ("incoming", "three") not in await asyncio.to_thread(stored, VISITOR_B)
    for comm in (alice, bob, carol):
        await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_messages_past_the_overall_limit_are_refused_from_any_address(
    settings, database_hops
):
    settings.HITLNEXT_WEBCHAT_MESSAGES = (2, 60)
    sockets = [
        await open_visitor(visitor, address=f"10.0.0.{n}")
        for n, visitor in enumerate((VISITOR_A, VISITOR_B, VISITOR_C))
    ]
    database_hops.clear()

    for comm in sockets[:2]:
        await say(comm, text="fine")
        await receive_until(comm, "demo bot")
    await say(sockets[2], text="one too many")
    await receive_until(sockets[2], "sending messages too quickly")

    assert database_hops == ["post_visitor_message"] * 2
    assert await asyncio.to_thread(stored, VISITOR_C) == []
    for comm in sockets:
        await comm.disconnect()


# --- B: handoffs ("Talk to a person") per address and overall ----------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_handoffs_past_the_per_address_limit_open_no_handoff(settings, database_hops):
    settings.HITLNEXT_WEBCHAT_HANDOFFS_PER_IP = (1, HOUR)
    alice = await open_visitor(VISITOR_A, address="10.0.0.1")
    bob = await open_visitor(VISITOR_B, address="10.0.0.1")
    carol = await open_visitor(VISITOR_C, address="10.0.0.2")
    database_hops.clear()

    await say(alice, action="handoff")
    await receive_until(alice, "Waiting for a person")
    await say(bob, action="handoff")
    await receive_until(bob, "cannot take more requests for a person")
    await say(carol, action="handoff")
    await receive_until(carol, "Waiting for a person")

    assert database_hops == ["request_person"] * 2
    handed_off = [
        external_id
        async for external_id in Handoff.objects.values_list("conversation__external_id", flat=True)
    ]
    assert sorted(handed_off) == [f"web-{VISITOR_A}", f"web-{VISITOR_C}"]
    for comm in (alice, bob, carol):
        await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_handoffs_past_the_overall_limit_open_no_handoff(settings):
    settings.HITLNEXT_WEBCHAT_HANDOFFS = (2, HOUR)
    sockets = [
        await open_visitor(visitor, address=f"10.0.0.{n}")
        for n, visitor in enumerate((VISITOR_A, VISITOR_B, VISITOR_C))
    ]

    for comm in sockets[:2]:
        await say(comm, action="handoff")
        await receive_until(comm, "Waiting for a person")
    await say(sockets[2], action="handoff")
    await receive_until(sockets[2], "cannot take more requests for a person")

    assert await Handoff.objects.acount() == 2
    for comm in sockets:
        await comm.disconnect()


# --- B: the session table is cleaned ----------------------------------------------------------


@pytest.mark.django_db
def test_the_hourly_housekeeping_deletes_expired_sessions(monkeypatch):
    from webhooks import worker

    expired, live = SessionStore(), SessionStore()
    expired.set_expiry(timezone.now() - timedelta(minutes=1))
    expired.save()
    live.save()

    monkeypatch.setattr(worker, "_last_housekeeping", 0.0)
    worker.housekeeping()

    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
