"""Typing indicators both ways (the web chat visitor, the assignee, a bot's POST /api/v1/typing):
through the real ASGI application and the API; throttled, never stored."""

from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from agents.models import AgentProfile
from api import typing_indicator
from conversations.models import Message, Note
from handoffs import services as handoff_services
from handoffs.models import Handoff
from handoffs.typing import TypingThrottle
from tests.api_support import BotApi, assert_error, handoff_body
from tests.test_consumers import connect, db, frames, say, start
from tests.test_webchat import VISITOR_A, connected_visitor, send
from webchat import services as webchat

TYPING = 'class="typing-indicator"'
VISITOR_TYPING = 'id="webchat-typing"'


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The web chat's budgets and the API's typing throttle are counted in the cache.
    cache.clear()
    yield
    cache.clear()


def _visitor_handoff(agent=None) -> Handoff:
    """VISITOR_A's conversation with a handoff, assigned to `agent` when given."""
    webchat.request_person(visitor_id=VISITOR_A)
    handoff = Handoff.objects.get(conversation__bot__is_webchat=True)
    if agent is not None:
        handoff_services.assign_handoff(handoff=handoff, agent=agent)
    return handoff


def _typing_frames(received: list[str]) -> list[str]:
    return [frame for frame in received if TYPING in frame]


def _stored() -> tuple:
    """What typing must never change: rows, and the handoff's and agents' activity times."""
    return (
        Message.objects.count(),
        Note.objects.count(),
        list(Handoff.objects.order_by("pk").values_list("last_activity_at", "last_user_message")),
        list(AgentProfile.objects.order_by("pk").values_list("last_activity_at", flat=True)),
    )


# --- The web chat visitor types: the agents watching see it -----------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_visitor_typing_reaches_the_agents_watching_that_conversation_only(
    bot, agent, second_agent
):
    handoff = await db(_visitor_handoff)()
    other = await db(start)(bot)
    alice, bob = await connect(agent), await connect(second_agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await say(bob, action="watch", handoff=other.pk)
    await frames(alice), await frames(bob)
    visitor = await connected_visitor()
    before = await db(_stored)()

    await send(visitor, action="typing")

    (shown,) = _typing_frames(await frames(alice))
    assert f'id="conversation-{handoff.conversation_id}-typing"' in shown
    assert "data-typing" in shown and "hidden" not in shown and "typing…" in shown
    assert _typing_frames(await frames(bob)) == []
    assert await visitor.receive_nothing(timeout=0.3)  # no answer to a typing signal
    assert await db(_stored)() == before
    for socket in (alice, bob, visitor):
        await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_visitors_second_typing_signal_within_the_window_is_dropped(agent):
    handoff = await db(_visitor_handoff)()
    alice = await connect(agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await frames(alice)
    visitor = await connected_visitor()

    for _ in range(3):
        await send(visitor, action="typing")

    assert len(_typing_frames(await frames(alice))) == 1
    await alice.disconnect()
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_visitors_message_opens_the_window_again_for_the_next_one(agent):
    handoff = await db(_visitor_handoff)()
    alice = await connect(agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await frames(alice)
    visitor = await connected_visitor()

    await send(visitor, action="typing")
    await send(visitor, text="Where is my parcel?")
    await send(visitor, action="typing")  # typing the next message: shown at once

    assert len(_typing_frames(await frames(alice))) == 2
    await alice.disconnect()
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_visitor_typing_before_their_first_message_costs_nothing(agent):
    visitor = await connected_visitor()

    await send(visitor, action="typing")

    assert await visitor.receive_nothing(timeout=0.3)
    assert not await webchat.Conversation.objects.aexists()
    await visitor.disconnect()


# --- The assignee types: the visitor sees it ---------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_assignees_typing_reaches_the_visitor_once_per_window(agent):
    handoff = await db(_visitor_handoff)(agent)
    alice = await connect(agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await frames(alice)
    visitor = await connected_visitor()
    before = await db(_stored)()

    await say(alice, action="typing")
    await say(alice, action="typing")  # within the window: dropped

    shown = await visitor.receive_from(timeout=2)
    assert VISITOR_TYPING in shown and "data-typing" in shown and "typing…" in shown
    assert await visitor.receive_nothing(timeout=0.3)
    assert await db(_stored)() == before
    await alice.disconnect()
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_only_the_assignee_typing_in_the_conversation_reaches_the_visitor(
    agent, second_agent
):
    handoff = await db(_visitor_handoff)(agent)
    bob = await connect(second_agent)  # a watcher: he cannot write to the visitor
    nowhere = await connect(agent)  # the assignee's page showing no conversation
    await say(bob, action="watch", handoff=handoff.pk)
    await say(nowhere, action="watch", handoff=None)
    await frames(bob), await frames(nowhere)
    visitor = await connected_visitor()

    await say(bob, action="typing")
    await say(nowhere, action="typing")

    assert await visitor.receive_nothing(timeout=0.5)
    await bob.disconnect()
    await nowhere.disconnect()
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_typing_is_refused_once_the_session_has_ended(agent):
    handoff = await db(_visitor_handoff)(agent)
    alice = await connect(agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await frames(alice)
    visitor = await connected_visitor()
    await Session.objects.all().adelete()  # logged out elsewhere

    await say(alice, action="typing")

    assert (await alice.receive_output(timeout=1))["type"] == "websocket.close"
    assert await visitor.receive_nothing(timeout=0.3)
    await visitor.disconnect()


def test_the_throttle_lets_a_signal_through_again_after_its_window():
    throttle = TypingThrottle(every=0.05)

    assert throttle.allow(1) and not throttle.allow(1)
    assert throttle.allow(2)  # per conversation
    time.sleep(0.06)
    assert throttle.allow(1)


# --- A bot: POST /api/v1/typing -----------------------------------------------------------------


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


@pytest.fixture
def pushes(monkeypatch) -> list[int]:
    """The conversations the endpoint pushed "typing…" to."""
    pushed: list[int] = []
    monkeypatch.setattr(typing_indicator.live, "user_typing", pushed.append)
    return pushed


@pytest.fixture
def conversation_pk(api) -> int:
    """The bot's conversation "th-42", handed off."""
    assert api.post("/handoffs", handoff_body()).status_code == 201
    return Handoff.objects.get().conversation_id


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_bots_typing_reaches_the_agent_watching(bot, agent):
    handoff = await db(start)(bot)
    alice = await connect(agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await frames(alice)
    api = BotApi(Client(), bot.api_key)

    response = await sync_to_async(api.post)("/typing", {"conversation_id": "th-1"})

    assert response.status_code == 202 and response.content == b""
    (shown,) = _typing_frames(await frames(alice))
    assert f'id="conversation-{handoff.conversation_id}-typing"' in shown
    await alice.disconnect()


@pytest.mark.django_db
def test_typing_is_202_and_stores_nothing(api, conversation_pk, pushes):
    before = _stored()

    with CaptureQueriesContext(connection) as queries:
        response = api.post("/typing", {"conversation_id": "th-42"})

    assert response.status_code == 202 and response.content == b""
    assert pushes == [conversation_pk]
    assert len(queries) <= 2  # the key, the conversation
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in queries)
    assert _stored() == before


@pytest.mark.django_db
def test_a_second_signal_within_the_window_is_dropped(api, conversation_pk, pushes):
    first = api.post("/typing", {"conversation_id": "th-42"})
    second = api.post("/typing", {"conversation_id": "th-42"})

    assert (first.status_code, second.status_code) == (202, 202)
    assert pushes == [conversation_pk]


@pytest.mark.django_db
def test_typing_needs_the_bots_key(client, conversation_pk, pushes):
    for key in (None, "not-a-key"):
        response = BotApi(client, key).post("/typing", {"conversation_id": "th-42"})
        assert_error(response, 401)
    assert pushes == []


@pytest.mark.django_db
def test_typing_in_an_unknown_or_another_bots_conversation_is_404(
    client, api, other_bot, conversation_pk, pushes
):
    assert_error(api.post("/typing", {"conversation_id": "th-unknown"}), 404)
    other = BotApi(client, other_bot.api_key)
    assert_error(other.post("/typing", {"conversation_id": "th-42"}), 404)
    assert pushes == []


@pytest.mark.django_db
def test_typing_bodies_are_strict(api, conversation_pk, pushes):
    unknown = assert_error(
        api.post("/typing", {"conversation_id": "th-42", "typing": True}), 422, "typing"
    )
    assert unknown["detail"] == "The request has unknown fields: typing."
    assert_error(
        api.post("/typing", {"conversation": "th-42"}), 422, "conversation_id", "conversation"
    )
    assert_error(api.post("/typing", {"conversation_id": ""}), 422, "conversation_id")
    assert_error(api.post("/typing", raw="not json"), 400)
    big = json.dumps({"conversation_id": "th-42", "pad": "x" * (300 * 1024)})
    assert_error(api.post("/typing", raw=big), 413)
    assert pushes == []


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(1, 60))
def test_typing_is_rate_limited_like_every_call(api, bot, pushes):
    handoff_services.start_handoff(bot=bot, conversation_id="th-42", user_id="u-7", channel="web")

    assert api.post("/typing", {"conversation_id": "th-42"}).status_code == 202
    limited = api.post("/typing", {"conversation_id": "th-42"})

    assert_error(limited, 429)
    assert limited["Retry-After"]
