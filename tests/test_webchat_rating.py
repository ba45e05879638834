"""CSAT in the web chat, through the real ASGI application: after the agent resolves, the
visitor is asked "How was your conversation?" (pushed live, and on every catch-up), rates
over their own socket, and is thanked; agents watching the conversation see the rating
arrive. Only the conversation's own visitor rates it, once, within the chat's budgets."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client

from handoffs import services as handoff_services
from handoffs.models import Handoff, Rating
from handoffs.ratings import rate_handoff
from hitlnext_project.asgi import application
from tests.factories import HandoffFactory, UserFactory
from tests.test_webchat import (
    VISITOR_A,
    VISITOR_B,
    connected_visitor,
    receive_until,
    send,
    visitor_cookie,
)
from tests.test_webchat_limits import database_hops  # noqa: F401 (a fixture)
from webchat import live as webchat_live
from webchat import services as webchat
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
QUESTION = "How was your conversation?"
THANKS = "Thank you for your rating!"


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    yield
    cache.clear()


def _agent():
    return UserFactory(username="alice", first_name="Alice", last_name="Martin", online=True)


def _handed_off(visitor_id: str = VISITOR_A) -> Handoff:
    webchat.post_visitor_message(visitor_id=visitor_id, text="My parcel never arrived")
    handoff, _ = webchat.request_person(visitor_id=visitor_id)
    return handoff


def _resolved(visitor_id: str = VISITOR_A) -> Handoff:
    handoff = _handed_off(visitor_id)
    agent = _agent()
    handoff_services.assign_handoff(handoff=handoff, agent=agent)
    return handoff_services.resolve_handoff(handoff=handoff, agent=agent)


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def watching(user, handoff: Handoff) -> WebsocketCommunicator:
    """An agent page showing the handoff, its state on watch already read."""
    cookie = await db(_session_cookie)(user)
    comm = WebsocketCommunicator(
        application,
        "/ws/agent/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ],
    )
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"action": "watch", "handoff": handoff.pk}))
    while not await comm.receive_nothing(timeout=0.3):
        await comm.receive_from()
    return comm


@pytest.mark.asyncio
async def test_the_visitor_is_asked_live_once_the_agent_resolves():
    handoff = await db(_handed_off)()
    visitor = await connected_visitor()
    agent = await db(_agent)()
    await db(handoff_services.assign_handoff)(handoff=handoff, agent=agent)
    assigned = await receive_until(visitor, "You are talking with")
    assert QUESTION not in assigned

    await db(handoff_services.resolve_handoff)(handoff=handoff, agent=agent)

    pushed = await receive_until(visitor, QUESTION)
    assert "back with the bot" in pushed
    section = '<section id="webchat-rating" class="wc-rating" aria-label="Rating"'
    assert f'{section} data-handoff="{handoff.pk}">' in pushed
    assert 'role="radiogroup"' in pushed and pushed.count('type="radio" name="score"') == 5
    assert 'value="5" required> <span class="wc-rating-number">5</span> Very good' in pushed
    assert '<label for="webchat-rating-comment">Comment</label>' in pushed
    assert 'maxlength="1000"' in pushed and "Send rating" in pushed and "Skip" in pushed
    await visitor.disconnect()


@pytest.mark.asyncio
async def test_the_visitor_rates_is_thanked_and_watching_agents_see_it_live():
    handoff = await db(_resolved)()
    agent = await db(UserFactory)(username="bob", online=True)
    page = await watching(agent, handoff)
    visitor = await connected_visitor()

    await send(
        visitor,
        action="rate",
        handoff=str(handoff.pk),
        score="4",
        comment="  <b>Kind</b> & quick <script>x</script> ",
    )

    thanks = await receive_until(visitor, THANKS)
    assert QUESTION not in thanks
    rating = await Rating.objects.aget()
    assert (rating.handoff_id, rating.score, rating.source) == (handoff.pk, 4, "webchat")
    assert rating.comment == "<b>Kind</b> & quick <script>x</script>"
    event = await Event.objects.aget(type="handoff.rated")
    assert event.data["rating"]["source"] == "webchat"
    pushed = await receive_until(page, f'id="conversation-{handoff.conversation_id}-ratings"')
    assert 'hx-swap-oob="true"' in pushed and " hidden" not in pushed.split(">")[0]
    assert "★★★★☆" in pushed and "4 / 5" in pushed and "Web chat" in pushed
    assert "&lt;b&gt;Kind&lt;/b&gt; &amp; quick &lt;script&gt;x&lt;/script&gt;" in pushed
    assert "<b>Kind" not in pushed and "<script>" not in pushed
    await visitor.disconnect()
    await page.disconnect()


@pytest.mark.asyncio
async def test_a_catch_up_asks_again_until_rated_then_thanks():
    handoff = await db(_resolved)()

    visitor, connected, _ = await _open()
    assert connected
    assert QUESTION in await visitor.receive_from()
    await visitor.disconnect()

    await db(rate_handoff)(handoff=handoff, score=5, source="webchat")
    visitor, _, _ = await _open()
    catch_up = await visitor.receive_from()
    assert THANKS in catch_up and QUESTION not in catch_up
    await visitor.disconnect()


async def _open(visitor_id: str = VISITOR_A):
    comm = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", visitor_cookie(visitor_id).encode()),
        ],
    )
    comm.scope["client"] = ("127.0.0.1", 50000)
    connected, code = await comm.connect()
    return comm, connected, code


@pytest.mark.asyncio
async def test_a_new_handoff_puts_the_question_away():
    await db(_resolved)()
    visitor = await connected_visitor()

    await send(visitor, action="handoff")

    pending = await receive_until(visitor, "Waiting for a person")
    assert QUESTION not in pending
    assert '<section id="webchat-rating" class="wc-rating" aria-label="Rating" hidden>' in pending
    await visitor.disconnect()


@pytest.mark.asyncio
async def test_only_the_conversations_visitor_may_rate_it(bot):
    theirs = await db(_resolved)(VISITOR_A)
    other_bots = await db(HandoffFactory)(conversation__bot=bot, status=Handoff.Status.RESOLVED)
    intruder = await connected_visitor(VISITOR_B)

    for target in (theirs.pk, other_bots.pk, 999_999, "x", None):
        await send(intruder, action="rate", handoff=target, score="1")
        notice = await receive_until(intruder, "webchat-notice")
        assert "This conversation cannot be rated." in notice

    assert not await Rating.objects.aexists()
    await intruder.disconnect()


@pytest.mark.asyncio
async def test_a_conversation_is_rated_once_and_only_once_resolved():
    handoff = await db(_handed_off)()
    visitor = await connected_visitor()

    await send(visitor, action="rate", handoff=handoff.pk, score="5")
    assert "once the agent has ended it" in await receive_until(visitor, "webchat-notice")

    agent = await db(_agent)()
    await db(handoff_services.assign_handoff)(handoff=handoff, agent=agent)
    await db(handoff_services.resolve_handoff)(handoff=handoff, agent=agent)
    await send(visitor, action="rate", handoff=handoff.pk, score="5")
    await receive_until(visitor, THANKS)
    await send(visitor, action="rate", handoff=handoff.pk, score="1")
    assert "already rated" in await receive_until(visitor, "already rated")

    assert [r.score for r in await db(list)(Rating.objects.all())] == [5]
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("values", "notice"),
    [
        ({"score": "0"}, "Please choose a rating from 1 to 5."),
        ({"score": "6"}, "Please choose a rating from 1 to 5."),
        ({"score": "four"}, "Please choose a rating from 1 to 5."),
        ({}, "Please choose a rating from 1 to 5."),
        ({"score": True}, "Please choose a rating from 1 to 5."),
        ({"score": "3", "comment": "x" * 1001}, "Comments are limited to 1000 characters."),
        ({"score": "3", "comment": {"a": 1}}, "that comment could not be read"),
        ({"score": "3", "comment": "bad \x00 byte"}, "characters that cannot be sent"),
    ],
)
async def test_bad_ratings_are_refused_with_a_notice(values, notice):
    handoff = await db(_resolved)()
    visitor = await connected_visitor()

    await send(visitor, action="rate", handoff=handoff.pk, **values)

    assert notice in await receive_until(visitor, "webchat-notice")
    assert not await Rating.objects.aexists()
    await visitor.disconnect()


@pytest.mark.asyncio
async def test_exactly_the_longest_comment_is_accepted():
    handoff = await db(_resolved)()
    visitor = await connected_visitor()

    await send(visitor, action="rate", handoff=handoff.pk, score="2", comment="é" * 1000)

    await receive_until(visitor, THANKS)
    assert len((await Rating.objects.aget()).comment) == 1000
    await visitor.disconnect()


@pytest.mark.asyncio
async def test_ratings_past_the_message_budget_are_refused_before_the_database(
    settings,
    database_hops,  # noqa: F811 (the fixture)
):
    settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP = (1, 60)
    handoff = await db(_resolved)()
    visitor = await connected_visitor()
    database_hops.clear()

    await send(visitor, action="rate", handoff=handoff.pk, score="6")
    await receive_until(visitor, "Please choose")
    await send(visitor, action="rate", handoff=handoff.pk, score="5")
    await receive_until(visitor, "sending messages too quickly")

    assert database_hops == ["rate_conversation"]
    assert not await Rating.objects.aexists()
    await visitor.disconnect()


def test_the_chat_page_asks_a_returning_visitor_after_a_resolve(client):
    handoff = _resolved()
    client.cookies.load({"hitlnext_visitor": visitor_cookie(VISITOR_A).split("=", 1)[1]})

    page = client.get("/chat/").content.decode()

    assert QUESTION in page and f'data-handoff="{handoff.pk}"' in page
    rate_handoff(handoff=handoff, score=3, source="webchat")
    assert THANKS in client.get("/chat/").content.decode()


def test_a_resolved_handoffs_catch_up_costs_one_query_more(django_assert_num_queries):
    handoff = _resolved()
    rate_handoff(handoff=handoff, score=4, source="webchat")

    # conversation, handoff, its rating, messages (no queue place: it is not pending).
    with django_assert_num_queries(4):
        html = webchat_live.render_catch_up(VISITOR_A)

    assert THANKS in html
