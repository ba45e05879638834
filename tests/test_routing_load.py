"""The agent's load in the header ("Open handoffs": open handoffs / capacity), on the page and
pushed live to the agent's own sockets."""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from agents.models import AgentProfile
from agents.services import routing_settings_changed
from handoffs import services
from tests.factories import HandoffFactory
from tests.test_consumers import connect, frames, say

db = database_sync_to_async
HTMX = {"HTTP_HX_REQUEST": "true"}
LOAD = re.compile(r'<span id="agent-load"[^>]*aria-label="Open handoffs"[^>]*>([^<]*)</span>')


def header_load(html: str) -> str | None:
    found = LOAD.findall(html)
    assert len(found) <= 1
    return found[0] if found else None


def page_load(user) -> str | None:
    client = Client()
    client.force_login(user)
    return header_load(client.get("/").content.decode())


def assign(bot, agent, n: int = 1):
    handoffs = [HandoffFactory(conversation__bot=bot) for _ in range(n)]
    for handoff in handoffs:
        services.assign_handoff(handoff=handoff, agent=agent)
    return handoffs


def test_the_header_shows_open_handoffs_over_capacity(bot, agent, second_agent):
    assign(bot, agent, 2)
    resolved = assign(bot, agent)[0]
    services.resolve_handoff(handoff=resolved, agent=agent)
    assign(bot, second_agent)  # someone else's
    HandoffFactory(conversation__bot=bot)  # pending: nobody's

    assert page_load(agent) == "2 / 3"


def test_an_agents_own_capacity_overrides_the_setting(bot, agent, settings):
    settings.HITLNEXT_AGENT_CAPACITY = 5
    assert page_load(agent) == "0 / 5"

    AgentProfile.objects.filter(user=agent).update(capacity=2)

    assert page_load(agent) == "0 / 2"


def test_unlimited_capacity_shows_infinity(bot, agent):
    AgentProfile.objects.filter(user=agent).update(capacity=0)
    assign(bot, agent)

    assert page_load(agent) == "1 / ∞"


def test_an_htmx_fragment_does_not_count_the_load(bot, agent):
    client = Client()
    client.force_login(agent)

    response = client.get("/inbox/list/", **HTMX)

    assert header_load(response.content.decode()) is None


# --- Live -----------------------------------------------------------------------------------


def pushed_load(received: list[str]) -> list[str]:
    return [load for frame in received if (load := header_load(frame)) is not None]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_assigning_and_resolving_push_the_new_load_to_that_agent(bot, agent, second_agent):
    handoff = await db(HandoffFactory)(conversation__bot=bot)
    alice, bob = await connect(agent), await connect(second_agent)

    await db(services.assign_handoff)(handoff=handoff, agent=agent)

    assert pushed_load(await frames(alice)) == ["1 / 3"]
    assert pushed_load(await frames(bob)) == []  # Bob's load did not change

    await db(services.resolve_handoff)(handoff=handoff, agent=agent)

    assert pushed_load(await frames(alice)) == ["0 / 3"]
    assert pushed_load(await frames(bob)) == []
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_requeue_lowers_the_load_of_the_agent_who_had_it(bot, agent):
    (handoff,) = await db(assign)(bot, agent)
    alice = await connect(agent)

    await db(services.requeue_handoff)(handoff=handoff, reason="transfer")

    assert pushed_load(await frames(alice)) == ["0 / 3"]
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_new_capacity_is_pushed_to_the_agent(bot, agent):
    alice = await connect(agent)

    def set_capacity():
        AgentProfile.objects.filter(user=agent).update(capacity=5)
        routing_settings_changed(agent=agent)

    await db(set_capacity)()

    assert pushed_load(await frames(alice)) == ["0 / 5"]
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_hello_answers_the_load_as_it_is_now(bot, agent):
    # A page whose socket was down missed the pushes: its hello re-syncs the header.
    await db(assign)(bot, agent, 2)
    alice = await connect(agent)

    await say(alice, action="hello", handoff=None, after=None)

    assert pushed_load(await frames(alice)) == ["2 / 3"]
    await alice.disconnect()
