"""Targeted inbox fan-out (issue 13): an inbox item is pushed only to the agent pages whose
filters can show it, once per page however many of its groups the page is in, and a burst of
pushes of one item reaches a page as its first and its latest. Counted frame by frame through
the real ASGI application."""

from __future__ import annotations

import asyncio
import re

import pytest
from channels.layers import get_channel_layer

from handoffs import services
from handoffs.consumers import INBOX_JOINED, ITEM_EVERY
from handoffs.inbox_groups import agent_inbox_group, item_groups, view_groups
from tests.factories import UserFactory
from tests.test_consumers import connect, db, frames, say, start, user_says

pytestmark = pytest.mark.django_db(transaction=True)

ITEM = re.compile(r'<li id="handoff-(\d+)"')


def items(received: list[str]) -> list[int]:
    """The handoff ids of the inbox items among the frames, in order, one per frame."""
    return [int(m.group(1)) for frame in received for m in [ITEM.search(frame)] if m]


async def page(user, view: list[str]):
    """An agent page that said hello with its inbox filters, its answer read."""
    communicator = await connect(user)
    await say(communicator, action="hello", handoff=None, after=None, inbox=view, refresh=True)
    (state,) = await frames(communicator)
    assert state.endswith(INBOX_JOINED)  # answered once the socket is in the view's groups
    return communicator


async def close(*communicators) -> None:
    for communicator in communicators:
        await communicator.disconnect()


def test_a_view_joins_the_groups_of_what_it_shows():
    assert view_groups(["unassigned", "mine"], 7) == {"inbox.pending", "inbox.agent.7"}
    # "Assigned to others" brings every assigned item, this agent's own too: no second group.
    assert view_groups(["mine", "others"], 7) == {"inbox.assigned"}
    assert view_groups(["resolved", "expired"], 7) == {"inbox.resolved", "inbox.expired"}
    assert view_groups([], 7) == set()


@pytest.mark.asyncio
async def test_a_user_message_in_an_assigned_handoff_reaches_only_the_views_showing_it(
    bot, agent, second_agent
):
    handoff = await db(start)(bot)
    await db(services.assign_handoff)(handoff=handoff, agent=agent)
    watcher = await db(UserFactory)(username="dana", online=True)
    alice, bob, others = (
        await page(agent, ["unassigned", "mine"]),
        await page(second_agent, ["unassigned", "mine"]),
        await page(watcher, ["others"]),
    )

    await db(user_says)(bot, "where is my parcel?")

    assert items(await frames(alice)) == [handoff.pk]
    assert items(await frames(bob)) == []  # neither unassigned nor his
    assert items(await frames(others)) == [handoff.pk]
    await close(alice, bob, others)


@pytest.mark.asyncio
async def test_a_pending_item_reaches_the_views_showing_unassigned_only(bot, agent, second_agent):
    handoff = await db(start)(bot)
    alice, bob = await page(agent, ["unassigned", "mine"]), await page(second_agent, ["resolved"])

    await db(user_says)(bot, "hello?")

    assert items(await frames(alice)) == [handoff.pk]
    assert items(await frames(bob)) == []
    await close(alice, bob)


@pytest.mark.asyncio
async def test_a_new_handoff_reaches_every_page_for_the_alert_even_one_without_an_inbox(
    bot, agent, second_agent
):
    alice, reports_page = await page(agent, ["unassigned"]), await page(second_agent, [])

    handoff = await db(start)(bot)

    assert items(await frames(alice)) == [handoff.pk]  # once, though in two of its groups
    assert items(await frames(reports_page)) == [handoff.pk]
    await close(alice, reports_page)


@pytest.mark.asyncio
async def test_assigning_reaches_where_it_was_and_where_it_goes_once_per_page(
    bot, agent, second_agent
):
    handoff = await db(start)(bot)
    watcher = await db(UserFactory)(username="dana", online=True)
    alice = await page(agent, ["unassigned", "mine"])
    bob = await page(second_agent, ["unassigned", "mine"])
    resolved_only = await page(watcher, ["resolved"])

    await db(services.assign_handoff)(handoff=handoff, agent=agent)

    assert items(await frames(alice)) == [handoff.pk]  # now "mine"
    assert items(await frames(bob)) == [handoff.pk]  # leaves his Unassigned
    assert items(await frames(resolved_only)) == []
    await close(alice, bob, resolved_only)


@pytest.mark.asyncio
async def test_closing_and_requeueing_reach_the_views_the_item_leaves_and_enters(
    bot, agent, second_agent
):
    first, second = await db(start)(bot, 1), await db(start)(bot, 2)
    await db(services.assign_handoff)(handoff=first, agent=agent)
    await db(services.assign_handoff)(handoff=second, agent=agent)
    mine_only = await page(agent, ["mine"])
    resolved_only = await page(second_agent, ["resolved"])

    await db(services.resolve_handoff)(handoff=first, agent=agent)
    assert items(await frames(mine_only)) == [first.pk]  # leaves "Assigned to me"
    assert items(await frames(resolved_only)) == [first.pk]  # enters "Resolved"

    await db(services.requeue_handoff)(handoff=second, reason="transfer")
    assert items(await frames(mine_only)) == [second.pk]  # requeued away from Alice
    assert items(await frames(resolved_only)) == [second.pk]  # a waiting handoff: the alert
    await close(mine_only, resolved_only)


@pytest.mark.asyncio
async def test_a_transfer_reaches_both_agents_views(bot, agent, second_agent):
    handoff = await db(start)(bot)
    await db(services.assign_handoff)(handoff=handoff, agent=agent)
    alice, bob = await page(agent, ["mine"]), await page(second_agent, ["mine"])

    await db(services.transfer_handoff)(handoff=handoff, by=agent, to=second_agent)

    assert items(await frames(alice)) == [handoff.pk]  # leaves hers
    assert items(await frames(bob)) == [handoff.pk]  # enters his
    await close(alice, bob)


@pytest.mark.asyncio
async def test_changing_the_filters_moves_the_socket_and_is_answered_once_joined(
    bot, agent, second_agent
):
    handoff = await db(start)(bot)
    await db(services.assign_handoff)(handoff=handoff, agent=second_agent)
    alice = await page(agent, ["unassigned", "mine"])

    await db(user_says)(bot, "first")
    assert items(await frames(alice)) == []

    await say(alice, action="inbox", statuses=["others"])
    assert await frames(alice) == [INBOX_JOINED]
    await db(user_says)(bot, "second")
    assert items(await frames(alice)) == [handoff.pk]

    await say(alice, action="inbox", statuses=["nonsense", "resolved"])  # unknown ones ignored
    assert await frames(alice) == [INBOX_JOINED]
    await db(user_says)(bot, "third")
    assert items(await frames(alice)) == []
    await close(alice)


@pytest.mark.asyncio
async def test_the_periodic_hello_keeps_the_view_and_asks_for_no_refresh(bot, agent, second_agent):
    handoff = await db(start)(bot)
    await db(services.assign_handoff)(handoff=handoff, agent=second_agent)
    alice = await page(agent, ["others"])

    await say(alice, action="hello", handoff=None, after=None, inbox=["others"])
    (state,) = await frames(alice)
    assert INBOX_JOINED not in state
    await db(user_says)(bot, "still there?")
    assert items(await frames(alice)) == [handoff.pk]
    await close(alice)


@pytest.mark.asyncio
async def test_a_socket_that_never_said_hello_follows_the_default_filters(bot, agent, second_agent):
    pending = await db(start)(bot, 1)
    theirs = await db(start)(bot, 2)
    await db(services.assign_handoff)(handoff=theirs, agent=second_agent)
    alice = await connect(agent)

    await db(user_says)(bot, "one", 1)
    await db(user_says)(bot, "two", 2)

    assert items(await frames(alice)) == [pending.pk]
    await close(alice)


@pytest.mark.asyncio
async def test_a_burst_of_one_item_arrives_as_its_first_and_its_latest(agent):
    alice = await page(agent, ["unassigned", "mine"])
    layer = get_channel_layer()
    group = agent_inbox_group(agent.pk)

    for n in range(1, 6):
        html = f'<li id="handoff-41" data-n="{n}"></li>'
        await layer.group_send(group, {"type": "push.html", "html": html, "item": 41, "push": n})
    # Another item in the same burst is not held back by the first one's.
    other = '<li id="handoff-42" data-n="1"></li>'
    await layer.group_send(group, {"type": "push.html", "html": other, "item": 42, "push": 9})

    assert await alice.receive_from() == '<li id="handoff-41" data-n="1"></li>'
    assert await alice.receive_from() == other
    assert await alice.receive_nothing(timeout=ITEM_EVERY / 4)  # the rest waits
    # At most ITEM_EVERY after the first: the latest, alone.
    assert await alice.receive_from(timeout=ITEM_EVERY * 5) == (
        '<li id="handoff-41" data-n="5"></li>'
    )
    assert await alice.receive_nothing(timeout=ITEM_EVERY * 2)
    await close(alice)


@pytest.mark.asyncio
async def test_after_a_quiet_spell_an_item_goes_at_once_again(agent):
    alice = await page(agent, ["mine"])
    layer = get_channel_layer()
    group = agent_inbox_group(agent.pk)

    await layer.group_send(group, {"type": "push.html", "html": "<li>a</li>", "item": 5, "push": 1})
    assert await alice.receive_from() == "<li>a</li>"
    await asyncio.sleep(ITEM_EVERY * 1.5)
    await layer.group_send(group, {"type": "push.html", "html": "<li>b</li>", "item": 5, "push": 2})

    assert await alice.receive_from(timeout=ITEM_EVERY / 2) == "<li>b</li>"
    await close(alice)


@pytest.mark.asyncio
async def test_a_push_held_for_a_socket_that_closes_is_dropped(agent):
    alice = await page(agent, ["mine"])
    layer = get_channel_layer()
    group = agent_inbox_group(agent.pk)
    for n in (1, 2):
        event = {"type": "push.html", "html": f"<li>{n}</li>", "item": 5, "push": n}
        await layer.group_send(group, event)
    assert await alice.receive_from() == "<li>1</li>"

    await alice.disconnect()
    await asyncio.sleep(ITEM_EVERY * 2)  # the held push's release finds it closed: no error


def test_an_item_whose_state_did_not_change_goes_to_its_state_s_groups_only(bot, agent):
    handoff = start(bot)
    assert item_groups(handoff, changed_state=False) == ["inbox.pending"]
    services.assign_handoff(handoff=handoff, agent=agent)
    handoff.refresh_from_db()
    assert item_groups(handoff, changed_state=False) == [
        "inbox.assigned",
        f"inbox.agent.{agent.pk}",
    ]
    assert item_groups(handoff, changed_state=True, previous_agent_ids=[99]) == [
        "inbox.assigned",
        f"inbox.agent.{agent.pk}",
        "inbox.pending",
        "inbox.agent.99",
    ]
