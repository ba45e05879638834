"""The agent socket's catch-up covers notes as it covers messages: a note added between a panel's
rendering and its socket joining the conversation is sent with the hello (or watch) answer,
through the real ASGI application."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from handoffs.consumers import conversation_state
from handoffs.messaging import add_note
from tests.factories import HandoffFactory, MessageFactory
from tests.test_consumers import connect, frames, say, start, user_says

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


def note(handoff, agent, text: str):
    return add_note(handoff=handoff, author=agent, text=text)


async def state_of(communicator, handoff) -> str:
    """Frames up to the one with the conversation's state (its head, then what was missed:
    one frame), however slow the machine; then any that follow at once."""
    head = f'<header id="handoff-{handoff.pk}-head"'
    received = [await communicator.receive_from(timeout=10)]
    while head not in received[-1]:
        received.append(await communicator.receive_from(timeout=10))
    return "".join(received + await frames(communicator))


@pytest.mark.asyncio
async def test_a_note_added_before_the_socket_joined_comes_with_the_hello(bot, agent, second_agent):
    handoff = await db(start)(bot)
    shown = await db(note)(handoff, agent, "shown when the page rendered")
    # The page has rendered its panel; before its socket says hello, Bob adds a note. Its push
    # went to the conversation's watchers: this page was not one yet.
    missed = await db(note)(handoff, second_agent, "added while the socket was connecting")
    alice = await connect(agent)

    await say(alice, action="hello", handoff=handoff.pk, after=None, notes_after=shown.pk)

    received = await state_of(alice, handoff)
    assert f'id="conversation-{handoff.conversation_id}-notes" hx-swap-oob="beforeend"' in received
    assert f'id="note-{missed.pk}"' in received
    assert "added while the socket was connecting" in received
    assert f'id="note-{shown.pk}"' not in received
    await alice.disconnect()


@pytest.mark.asyncio
async def test_a_panel_opened_from_the_inbox_catches_up_on_notes_with_its_watch(bot, agent):
    other = await db(start)(bot, 2)
    handoff = await db(start)(bot)
    alice = await connect(agent)
    await say(alice, action="hello", handoff=other.pk, after=None, notes_after=0)
    await state_of(alice, other)

    # The panel of `handoff` is on its way (a GET) when the first note of its conversation is
    # added: the list the page got is empty (notes_after 0).
    missed = await db(note)(handoff, agent, "the very first note")
    await say(alice, action="watch", handoff=handoff.pk, after=None, notes_after=0)

    received = await state_of(alice, handoff)
    assert f'id="note-{missed.pk}"' in received
    await alice.disconnect()


@pytest.mark.asyncio
async def test_a_page_without_a_notes_list_gets_no_notes(bot, agent):
    handoff = await db(start)(bot)
    await db(note)(handoff, agent, "a note")
    alice = await connect(agent)

    await say(alice, action="hello", handoff=handoff.pk, after=None)

    received = await state_of(alice, handoff)
    assert "note-" not in received
    await alice.disconnect()


@pytest.mark.asyncio
async def test_an_empty_message_log_catches_up_from_the_first_message(bot, agent):
    handoff = await db(start)(bot)
    # The panel rendered "No messages yet."; the bot relays the user's first words meanwhile.
    first = await db(user_says)(bot, "anyone there?", 1)
    alice = await connect(agent)

    await say(alice, action="hello", handoff=handoff.pk, after=0, notes_after=0)

    received = await state_of(alice, handoff)
    assert f'id="message-{first.pk}"' in received
    await alice.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [-1, "0", True, "x", 1.5, None])
async def test_a_malformed_notes_cursor_catches_up_nothing(bot, agent, value):
    handoff = await db(start)(bot)
    await db(note)(handoff, agent, "a note")
    alice = await connect(agent)

    await say(alice, action="hello", handoff=handoff.pk, notes_after=value)

    received = await state_of(alice, handoff)  # still answered
    assert "note-" not in received
    await alice.disconnect()


def test_too_many_missed_notes_reload_the_panel(bot, agent, monkeypatch):
    monkeypatch.setattr("handoffs.consumers.CATCH_UP_LIMIT", 2)
    handoff = HandoffFactory(conversation__bot=bot)
    for i in range(3):
        note(handoff, agent, f"n{i}")

    _, html = conversation_state(handoff.pk, after=None, notes_after=0)

    assert 'data-reload="#conversation"' in html and "note-" not in html


@pytest.mark.parametrize("count", [3, 30])
def test_catching_up_on_messages_and_notes_costs_three_queries(
    bot, agent, django_assert_num_queries, count
):
    handoff = HandoffFactory(conversation__bot=bot)
    for i in range(count):
        MessageFactory(conversation=handoff.conversation)
        note(handoff, agent, f"n{i}")

    # the handoff, the missed messages (authors joined), the missed notes (authors joined).
    with django_assert_num_queries(3):
        _, html = conversation_state(handoff.pk, after=0, notes_after=0)

    assert html.count('class="note"') == count


@pytest.mark.asyncio
async def test_a_message_whose_push_was_lost_comes_with_the_next_watch(bot, agent):
    """A push lost while the socket stayed open (Redis restarting, a server killed between its
    commit and its push) while a later one arrived: the page shows the first and the third
    message; its periodic watch, naming the ids it shows, gets the second."""
    handoff = await db(start)(bot)
    first = await db(user_says)(bot, "first")
    lost = await db(user_says)(bot, "second, whose push was lost")
    third = await db(user_says)(bot, "third")
    alice = await connect(agent)

    await say(alice, action="watch", handoff=handoff.pk, after=third.pk, shown=[first.pk, third.pk])

    received = await state_of(alice, handoff)
    assert "second, whose push was lost" in received and f'data-id="{lost.pk}"' in received
    assert f'data-id="{first.pk}"' not in received and f'data-id="{third.pk}"' not in received
    await alice.disconnect()


@pytest.mark.asyncio
async def test_a_note_whose_push_was_lost_comes_with_the_next_watch(bot, agent):
    handoff = await db(start)(bot)
    first = await db(note)(handoff, agent, "first note")
    lost = await db(note)(handoff, agent, "lost note")
    third = await db(note)(handoff, agent, "third note")
    alice = await connect(agent)

    await say(
        alice,
        action="watch",
        handoff=handoff.pk,
        after=None,
        notes_after=third.pk,
        notes_shown=[first.pk, third.pk, "junk"],
    )

    received = await state_of(alice, handoff)
    assert f'id="note-{lost.pk}"' in received
    assert f'id="note-{first.pk}"' not in received and f'id="note-{third.pk}"' not in received
    await alice.disconnect()


@pytest.mark.asyncio
async def test_a_page_showing_everything_gets_nothing_more(bot, agent):
    handoff = await db(start)(bot)
    messages = [await db(user_says)(bot, f"m{n}") for n in range(3)]
    alice = await connect(agent)

    ids = [m.pk for m in messages]
    await say(alice, action="watch", handoff=handoff.pk, after=ids[-1], shown=ids)

    received = await state_of(alice, handoff)
    assert "-messages" not in received  # the head only
    await alice.disconnect()
