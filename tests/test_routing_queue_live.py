"""Queue positions kept right live (routing/queue_live.py): a change marks the queue as moved,
the worker's pass pushes the new order to agent pages and each waiting web chat visitor's
place to them, at a cost that does not grow per change and stays one query per kind however
many visitors wait. Through the real ASGI application."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from agents.services import set_online
from handoffs import services
from handoffs.models import Handoff
from routing import queue_live
from routing.queue_live import MOVED_KEY, push_queue_positions
from tests.factories import HandoffFactory
from tests.test_consumers import connect, frames
from tests.test_webchat import VISITOR_A, VISITOR_B, connected_visitor, receive_until, send
from webchat import services as webchat

db = database_sync_to_async
ORDER = re.compile(r'<template id="queue-order" data-order="([\d ]*)"></template>')


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    # The web chat's budgets and the queue's mark live in the cache; the last push's time in
    # the module.
    cache.clear()
    monkeypatch.setattr(queue_live, "_last_push", 0.0)
    yield
    cache.clear()


def visitors_handoff(visitor_id: str) -> Handoff:
    handoff = webchat.latest_handoff(webchat.find_conversation(visitor_id))
    assert handoff is not None
    return handoff


def worker_pass() -> int:
    """The worker's timer, as if PUSH_EVERY had passed since the last round."""
    queue_live._last_push = 0.0
    return push_queue_positions()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_waiting_visitor_sees_their_place_move_up_live(agent):
    first = await connected_visitor(VISITOR_A)
    second = await connected_visitor(VISITOR_B)
    await send(first, action="handoff")
    await receive_until(first, "You are next in line.")
    await send(second, action="handoff")
    frame = await receive_until(second, "webchat-queue")
    assert "You are number 2 in line." in frame
    assert "Estimated wait" not in frame  # manual mode, no history: not known

    await db(services.assign_handoff)(handoff=await db(visitors_handoff)(VISITOR_A), agent=agent)
    assert await db(worker_pass)() == 1

    frame = await receive_until(second, 'id="webchat-queue"')
    assert "You are next in line." in frame
    assert 'hx-swap-oob="true"' in frame
    await receive_until(first, "You are talking with")
    await first.disconnect()
    await second.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_visitor_sees_the_estimate_once_it_is_known(bot, agent):
    # One handoff served after 100 s of queue in the last hour (manual mode): 0.01 a second.
    await db(HandoffFactory)(conversation__bot=bot, status="resolved")
    await db(_history_of_one_100s_wait)()
    visitor = await connected_visitor(VISITOR_A)
    await send(visitor, action="handoff")

    frame = await receive_until(visitor, "webchat-queue")

    assert "You are next in line. Estimated wait: about 2 minutes." in frame
    await visitor.disconnect()


def _history_of_one_100s_wait() -> None:
    now = timezone.now()
    Handoff.objects.filter(status="resolved").update(
        created_at=now - timedelta(seconds=1000),
        assigned_at=now - timedelta(seconds=900),
        closed_at=now - timedelta(seconds=10),
    )


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_agent_pages_get_the_queue_order_when_it_moves(bot, agent):
    first = await db(HandoffFactory)(conversation__bot=bot)
    second = await db(HandoffFactory)(conversation__bot=bot)
    alice = await connect(agent)
    await frames(alice)

    await db(services.assign_handoff)(handoff=first, agent=agent)
    pushed_by_the_change = "".join(await frames(alice))
    await db(worker_pass)()

    assert not ORDER.search(pushed_by_the_change)  # only the worker sends the order
    assert ORDER.findall("".join(await frames(alice))) == [str(second.pk)]
    await alice.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_agent_coming_online_moves_the_queue(bot, agent, offline_agent):
    await db(HandoffFactory)(conversation__bot=bot)
    alice = await connect(agent)
    await frames(alice)

    await db(set_online)(agent=offline_agent, online=True)
    await db(worker_pass)()

    assert ORDER.search("".join(await frames(alice)))
    await alice.disconnect()


@pytest.mark.django_db
def test_nothing_moved_is_no_push_and_no_query(bot, django_assert_num_queries):
    HandoffFactory(conversation__bot=bot)

    with django_assert_num_queries(0):
        assert worker_pass() == 0


@pytest.mark.django_db(transaction=True)
def test_many_changes_make_one_round_of_pushes_per_interval(bot, agent):
    handoffs = [HandoffFactory(conversation__bot=bot) for _ in range(3)]
    for handoff in handoffs:
        services.assign_handoff(handoff=handoff, agent=agent)
    assert cache.get(MOVED_KEY)

    assert push_queue_positions() == 1
    assert push_queue_positions() == 0  # nothing moved since

    services.resolve_handoff(handoff=handoffs[0], agent=agent)
    assert push_queue_positions() == 0  # too soon: kept for the next pass...
    assert cache.get(MOVED_KEY)
    assert worker_pass() == 1  # ... which pushes it


@pytest.mark.parametrize("waiting", [2, 6])
def test_a_round_costs_the_same_queries_however_many_visitors_wait(
    transactional_db, waiting, django_assert_num_queries
):
    for n in range(waiting):
        webchat.request_person(visitor_id=f"visitor-{n:016x}")
    cache.set(MOVED_KEY, 1)

    # The queue's order, who is waiting in the web chat, the online agents; the history's
    # statistics were read when the handoffs were created.
    with django_assert_num_queries(3):
        assert worker_pass() == 1
