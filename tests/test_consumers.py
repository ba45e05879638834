"""The agent pages' websocket, through the real ASGI application."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from agents.models import AgentProfile
from agents.services import set_online
from handoffs import services
from handoffs.consumers import CATCH_UP_LIMIT, conversation_state
from handoffs.messaging import relay_message
from handoffs.models import HandoffRead
from hitlnext_project.asgi import application
from tests.factories import HandoffFactory, MessageFactory

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")
db = database_sync_to_async


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect(user=None, *, cookie: str | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN, HOST]
    if user is not None:
        cookie = cookie or await db(_session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def say(communicator, **payload) -> None:
    await communicator.send_to(text_data=json.dumps(payload))


async def frames(communicator) -> list[str]:
    """Everything the socket received until it goes quiet."""
    received = []
    while not await communicator.receive_nothing(timeout=0.3):
        received.append(await communicator.receive_from())
    return received


def start(bot, n: int = 1):
    handoff, _ = services.start_handoff(
        bot=bot,
        conversation_id=f"th-{n}",
        user_id=f"u-{n}",
        channel="web",
        user_variables={"fullName": f"User {n}"},
    )
    return handoff


def user_says(bot, text: str, n: int = 1, message_id: str | None = None):
    return relay_message(
        bot=bot,
        conversation_id=f"th-{n}",
        user_id=f"u-{n}",
        channel="web",
        external_id=message_id or text,
        direction="incoming",
        text=text,
    ).message


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.asyncio
async def test_anonymous_socket_is_closed_with_4403():
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=[ORIGIN, HOST])
    connected, _ = await communicator.connect()

    assert connected  # accepted only to be closed with a code the page understands
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4403}


@pytest.mark.asyncio
async def test_a_foreign_origin_is_refused(agent):
    cookie = await db(_session_cookie)(agent)
    communicator = WebsocketCommunicator(
        application,
        "/ws/agent/",
        headers=[(b"origin", b"http://evil.example"), (b"cookie", f"sessionid={cookie}".encode())],
    )

    connected, _ = await communicator.connect()

    assert not connected


@pytest.mark.asyncio
async def test_hello_answers_the_header_as_it_is_now(agent, second_agent, offline_agent):
    communicator = await connect(agent)

    await say(communicator, action="hello", handoff=None, after=None)
    (state,) = await frames(communicator)

    assert '<button id="online-switch"' in state and 'aria-checked="true"' in state
    assert '<ul id="online-agents"' in state
    assert "Bob Stone" in state and "Carol Ng" not in state
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_new_handoff_reaches_every_agent_rendered_once(bot, agent, second_agent):
    alice, bob = await connect(agent), await connect(second_agent)

    handoff = await db(start)(bot)

    alice_frames, bob_frames = await frames(alice), await frames(bob)
    item = next(f for f in alice_frames if f.lstrip().startswith(f'<li id="handoff-{handoff.pk}"'))
    assert item in bob_frames  # the very same HTML: one rendering for every listener
    assert 'data-status="pending"' in item and "User 1" in item
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.asyncio
async def test_messages_reach_only_the_agents_watching_that_conversation(bot, agent, second_agent):
    first, second = await db(start)(bot, 1), await db(start)(bot, 2)
    alice, bob = await connect(agent), await connect(second_agent)
    await say(alice, action="watch", handoff=first.pk)
    await say(bob, action="watch", handoff=second.pk)
    await frames(alice), await frames(bob)  # the heads sent on watch

    message = await db(user_says)(bot, "Where is my parcel?", 1)

    alice_frames, bob_frames = await frames(alice), await frames(bob)
    pushed = f'id="conversation-{first.conversation_id}-messages" hx-swap-oob="beforeend"'
    assert any(pushed in f and f"message-{message.pk}" in f for f in alice_frames)
    assert not any("Where is my parcel?" in f and "<article" in f for f in bob_frames)
    # Bob still sees the inbox item change (its preview), like every agent.
    assert any(f'<li id="handoff-{first.pk}"' in f for f in bob_frames)
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.asyncio
async def test_a_user_message_pushes_only_its_inbox_item_and_itself(bot, agent):
    # A plain user message changes the inbox item (preview, time) and appends the message: the
    # panel's head and the contact column did not change and are not sent again.
    handoff = await db(start)(bot, 1)
    alice = await connect(agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await frames(alice)

    message = await db(user_says)(bot, "Still waiting", 1)

    received = await frames(alice)
    assert len(received) == 2
    assert received[0].lstrip().startswith(f'<li id="handoff-{handoff.pk}"')
    assert "Still waiting" in received[0]  # the preview
    assert f"message-{message.pk}" in received[1]
    assert not any(f'id="handoff-{handoff.pk}-head"' in f for f in received)
    await alice.disconnect()


@pytest.mark.asyncio
async def test_pushes_skip_the_database_hop_but_other_events_do_not(agent, monkeypatch):
    from channels import consumer as channels_consumer
    from channels.layers import get_channel_layer

    import handoffs.consumers as consumers_module

    hops = []
    real = channels_consumer.aclose_old_connections

    async def counting():
        hops.append(1)
        await real()

    monkeypatch.setattr(channels_consumer, "aclose_old_connections", counting)
    assert consumers_module.AgentConsumer.dispatch is not channels_consumer.AsyncConsumer.dispatch
    alice = await connect(agent)
    await frames(alice)
    hops.clear()
    layer = get_channel_layer()
    await layer.group_send("inbox", {"type": "push.html", "html": "<p>hi</p>"})
    assert await alice.receive_from() == "<p>hi</p>"
    assert hops == []
    await say(alice, action="watch")  # a websocket.receive goes through the normal dispatch
    await frames(alice)
    assert hops
    await alice.disconnect()


@pytest.mark.asyncio
async def test_switching_conversation_leaves_the_previous_one(bot, agent):
    first, second = await db(start)(bot, 1), await db(start)(bot, 2)
    alice = await connect(agent)
    await say(alice, action="watch", handoff=first.pk)
    await say(alice, action="watch", handoff=second.pk)
    await frames(alice)

    await db(user_says)(bot, "old conversation", 1)

    assert not any("<article" in f for f in await frames(alice))
    await alice.disconnect()


@pytest.mark.asyncio
async def test_an_assignment_updates_the_watchers_head(bot, agent, second_agent):
    handoff = await db(start)(bot)
    bob = await connect(second_agent)
    await say(bob, action="watch", handoff=handoff.pk)
    await frames(bob)

    await db(services.assign_handoff)(handoff=handoff, agent=agent)

    heads = [f for f in await frames(bob) if f'<header id="handoff-{handoff.pk}-head"' in f]
    assert heads and 'data-status="assigned"' in heads[-1]
    assert f'data-agent="{agent.pk}"' in heads[-1] and "Alice Martin" in heads[-1]
    await bob.disconnect()


@pytest.mark.asyncio
async def test_watching_an_unknown_handoff_joins_nothing(bot, agent):
    handoff = await db(start)(bot)
    alice = await connect(agent)

    await say(alice, action="watch", handoff=999999)
    await say(alice, action="watch", handoff="<b>")
    assert await frames(alice) == []

    await db(user_says)(bot, "hello", 1)
    assert not any("<article" in f for f in await frames(alice))
    assert handoff.pk
    await alice.disconnect()


@pytest.mark.asyncio
async def test_reconnecting_page_catches_up_on_missed_messages(bot, agent):
    handoff = await db(start)(bot)
    seen = await db(user_says)(bot, "before the gap", 1)
    alice = await connect(agent)
    await say(alice, action="hello", handoff=handoff.pk, after=seen.pk)
    await frames(alice)
    await alice.disconnect()

    missed = [await db(user_says)(bot, f"during the gap {i}", 1) for i in range(3)]

    alice = await connect(agent)
    await say(alice, action="hello", handoff=handoff.pk, after=seen.pk)
    received = "".join(await frames(alice))
    for message in missed:
        assert f'id="message-{message.pk}"' in received
    assert f'id="message-{seen.pk}"' not in received
    assert f'<header id="handoff-{handoff.pk}-head"' in received
    await alice.disconnect()


@pytest.mark.asyncio
async def test_a_long_gap_asks_the_page_to_reload_the_panel(bot, agent, monkeypatch):
    monkeypatch.setattr("handoffs.consumers.CATCH_UP_LIMIT", 2)
    handoff = await db(start)(bot)
    for i in range(3):
        await db(user_says)(bot, f"m{i}", 1)
    alice = await connect(agent)

    await say(alice, action="watch", handoff=handoff.pk, after=1)

    received = "".join(await frames(alice))
    assert 'data-reload="#conversation"' in received and "<article" not in received
    await alice.disconnect()


@pytest.mark.asyncio
async def test_presence_changes_reach_everyone_and_the_switch_only_its_agent(
    agent, second_agent, offline_agent
):
    alice, carol = await connect(agent), await connect(offline_agent)

    await db(set_online)(agent=offline_agent, online=True)

    alice_frames, carol_frames = await frames(alice), await frames(carol)
    assert any('<ul id="online-agents"' in f and "Carol Ng" in f for f in alice_frames)
    assert not any("online-switch" in f for f in alice_frames)
    switch = [f for f in carol_frames if '<button id="online-switch"' in f]
    assert switch and 'aria-checked="true"' in switch[0]
    await alice.disconnect()
    await carol.disconnect()


@pytest.mark.asyncio
async def test_the_worker_setting_an_agent_offline_flips_the_switch(agent):
    from agents.services import expire_agent_sessions

    alice = await connect(agent)
    await db(AgentProfile.objects.filter(user=agent).update)(
        session_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert await db(expire_agent_sessions)() == 1

    switch = [f for f in await frames(alice) if '<button id="online-switch"' in f]
    assert switch and 'aria-checked="false"' in switch[0]
    await alice.disconnect()


@pytest.mark.asyncio
async def test_activity_pushes_the_deadline_back(agent):
    await db(AgentProfile.objects.filter(user=agent).update)(
        session_expires_at=timezone.now() + timedelta(seconds=5)
    )
    alice = await connect(agent)

    await say(alice, action="activity")
    await frames(alice)

    profile = await db(AgentProfile.objects.get)(user=agent)
    assert profile.session_expires_at > timezone.now() + timedelta(minutes=5)
    await alice.disconnect()


@pytest.mark.asyncio
async def test_read_marks_the_watched_conversation(bot, agent):
    handoff = await db(start)(bot)
    alice = await connect(agent)
    await say(alice, action="read")  # nothing watched: nothing marked
    await say(alice, action="watch", handoff=handoff.pk)
    await say(alice, action="read")
    await frames(alice)

    reads = await db(lambda: list(HandoffRead.objects.values_list("agent_id", "conversation_id")))()
    assert reads == [(agent.pk, handoff.conversation_id)]
    await alice.disconnect()


@pytest.mark.asyncio
async def test_logging_out_closes_that_sessions_pages_only(agent):
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        await db(client.force_login)(agent)
    page_here = await connect(agent, cookie=here.cookies["sessionid"].value)
    page_elsewhere = await connect(agent, cookie=elsewhere.cookies["sessionid"].value)

    await db(here.post)("/logout/")

    outputs = [await page_here.receive_output()]
    while outputs[-1]["type"] != "websocket.close":  # the switch going off comes first
        outputs.append(await page_here.receive_output())
    assert outputs[-1] == {"type": "websocket.close", "code": 4403}
    remaining = await frames(page_elsewhere)  # the other browser only sees the switch go off
    assert all("online-switch" in f or "online-agents" in f for f in remaining)
    await say(page_elsewhere, action="hello")
    assert len(await frames(page_elsewhere)) == 1
    await page_elsewhere.disconnect()


@pytest.mark.asyncio
async def test_saying_hello_again_renews_the_group_memberships(agent):
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if not isinstance(layer, InMemoryChannelLayer):
        pytest.skip("group expiry is kept by Redis, out of reach of the test clock")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        alice = await connect(agent)
        clock.shift(timedelta(hours=23))
        await say(alice, action="hello")
        await frames(alice)
        clock.shift(timedelta(hours=2))  # a day after joining, two hours after the hello

        await layer.group_send("inbox", {"type": "push.html", "html": "<p id='x'>still here</p>"})

        assert "still here" in await alice.receive_from()
        await alice.disconnect()


@pytest.mark.asyncio
async def test_garbage_is_ignored(agent):
    alice = await connect(agent)

    for text in ("not json", "[1, 2]", json.dumps({"action": "explode"})):
        await alice.send_to(text_data=text)

    assert await frames(alice) == []
    await say(alice, action="hello")
    assert len(await frames(alice)) == 1  # still alive
    await alice.disconnect()


@pytest.mark.parametrize("messages", [5, 50])
def test_conversation_state_query_count_is_constant(
    bot, agent, django_assert_num_queries, messages
):
    handoff = HandoffFactory(conversation__bot=bot)
    for _ in range(messages):
        MessageFactory(conversation=handoff.conversation)

    # the handoff, then the missed messages (authors joined).
    with django_assert_num_queries(2):
        _, html = conversation_state(handoff.pk, after=0)

    assert html.count("<article") == min(messages, CATCH_UP_LIMIT)
