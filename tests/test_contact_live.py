"""Live pushes of the contact column, through the real ASGI application: notes, new user
variables, labels and deletion reach the pages showing that conversation, and only them."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from handoffs import erasure, labels, services
from handoffs.messaging import add_note
from hitlnext_project.asgi import application
from tests.factories import LabelFactory

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")
db = database_sync_to_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def watching(user, handoff) -> WebsocketCommunicator:
    """An agent page showing this handoff, with the state sent on watch already read."""
    cookie = await db(_session_cookie)(user)
    communicator = WebsocketCommunicator(
        application,
        "/ws/agent/",
        headers=[ORIGIN, HOST, (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data=json.dumps({"action": "watch", "handoff": handoff.pk}))
    await frames(communicator)
    return communicator


async def frames(communicator) -> list[str]:
    received = []
    while not await communicator.receive_nothing(timeout=0.3):
        received.append(await communicator.receive_from())
    return received


def start(bot, n: int = 1, **variables):
    handoff, _ = services.start_handoff(
        bot=bot,
        conversation_id=f"th-{n}",
        user_id=f"u-{n}",
        channel="web",
        user_variables={"fullName": f"User {n}", **variables},
    )
    return handoff


async def test_a_note_reaches_only_the_conversations_watchers(bot, agent, second_agent):
    first, second = await db(start)(bot, 1), await db(start)(bot, 2)
    alice, bob = await watching(agent, first), await watching(second_agent, second)

    note = await db(add_note)(handoff=first, author=agent, text="VIP <b>customer</b>")

    alice_frames, bob_frames = await frames(alice), await frames(bob)
    pushed = [f for f in alice_frames if f'<li id="note-{note.pk}"' in f]
    assert len(pushed) == 1
    assert pushed[0].startswith(
        f'<div id="conversation-{first.conversation_id}-notes" hx-swap-oob="beforeend">'
    )
    assert "VIP &lt;b&gt;customer&lt;/b&gt;" in pushed[0] and f">#{first.pk}</a>" in pushed[0]
    assert not any("customer" in f for f in bob_frames)
    await alice.disconnect()
    await bob.disconnect()


async def test_new_user_variables_refresh_the_contact_details(bot, agent, second_agent):
    handoff = await db(start)(bot, 1)
    other = await db(start)(bot, 2)
    alice, bob = await watching(agent, handoff), await watching(second_agent, other)
    end_user_id = handoff.conversation.end_user_id

    # The bot asks again (same conversation, active handoff) with more about the user.
    again = await db(start)(bot, 1, plan="gold", fullName="Ada Lovelace")

    assert again.pk == handoff.pk
    details = [f for f in await frames(alice) if f'id="end-user-{end_user_id}-details"' in f]
    assert len(details) == 1 and 'hx-swap-oob="true"' in details[0]
    assert "<dt>plan</dt>" in details[0] and "Ada Lovelace" in details[0]
    bob_frames = await frames(bob)
    assert not any("end-user-" in f for f in bob_frames)
    # The new name reaches every inbox (the item) and the handoff's watchers (the head).
    assert any(f'<li id="handoff-{handoff.pk}"' in f and "Ada Lovelace" in f for f in bob_frames)
    await alice.disconnect()
    await bob.disconnect()


async def test_a_new_user_or_an_unchanged_name_pushes_no_inbox_item(bot, agent):
    handoff = await db(start)(bot, 1)
    alice = await watching(agent, handoff)

    await db(start)(bot, 1, plan="gold")  # same name, one more variable

    received = await frames(alice)
    assert any(f'id="end-user-{handoff.conversation.end_user_id}-details"' in f for f in received)
    assert not any(f'<li id="handoff-{handoff.pk}"' in f for f in received)

    newcomer = await db(start)(bot, 2)  # a user nobody has seen yet

    received = await frames(alice)
    assert not any("end-user-" in f for f in received)
    assert any(f'<li id="handoff-{newcomer.pk}"' in f for f in received)
    await alice.disconnect()


async def test_unchanged_variables_push_nothing(bot, agent):
    handoff = await db(start)(bot, 1, plan="gold")
    alice = await watching(agent, handoff)

    await db(start)(bot, 1, plan="gold")

    assert not any("end-user-" in f for f in await frames(alice))
    await alice.disconnect()


async def test_a_label_change_updates_the_watchers_labels_control(bot, agent, second_agent):
    await db(LabelFactory)(name="billing")
    handoff = await db(start)(bot)
    bob = await watching(second_agent, handoff)

    await db(labels.set_handoff_labels)(handoff=handoff, names=["billing"], agent=agent)

    pushed = [f for f in await frames(bob) if f'<section id="handoff-{handoff.pk}-labels"' in f]
    assert len(pushed) == 1
    assert 'hx-swap-oob="true"' in pushed[0] and 'value="billing" checked' in pushed[0]
    await bob.disconnect()


async def test_deleting_the_conversation_reloads_its_watchers_panels(
    bot, agent, second_agent, settings
):
    settings.HITLNEXT_ENABLE_CONVERSATION_DELETION = True
    handoff = await db(start)(bot)
    await db(services.assign_handoff)(handoff=handoff, agent=agent)
    await db(services.resolve_handoff)(handoff=handoff, agent=agent)
    bob = await watching(second_agent, handoff)

    await db(erasure.delete_conversation_messages)(conversation=handoff.conversation, agent=agent)

    received = await frames(bob)
    assert any('data-reload="#conversation"' in f for f in received)
    await bob.disconnect()
