"""The wallboard (/reports/live/) and "Also viewing", over the agent pages' socket, through the
real ASGI application."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.test import Client

from agents.roles import SUPERVISORS
from agents.services import set_online
from handoffs import services, viewers
from hitlnext_project.shared.cache import RedisCache
from reports import live as wallboard_live
from tests.factories import UserFactory
from tests.test_consumers import connect, db, frames, say, start
from webhooks import worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_viewers_left():
    """Viewer records outlive a test in Redis and in this process's memory: start clean."""

    def clear():
        viewers._local.clear()
        backend = caches["default"]
        if isinstance(backend, RedisCache):
            client = backend.redis()
            for key in client.scan_iter(match=backend.make_key("viewers:*")):
                client.delete(key)
        backend.delete_many([wallboard_live._PENDING_KEY, wallboard_live._LAST_KEY])

    clear()
    yield
    clear()


@pytest.fixture
def supervisor(db):
    user = UserFactory(username="sue", first_name="Sue", last_name="Park", online=True)
    user.groups.add(Group.objects.get(name=SUPERVISORS))
    return user


def wallboards(received: list[str]) -> list[str]:
    return [f for f in received if f.lstrip().startswith('<div id="wallboard"')]


async def next_wallboards(communicator) -> list[str]:
    """The wallboards pushed by the worker's next pass."""
    await frames(communicator)
    await db(wallboard_live.flush)()
    return wallboards(await frames(communicator))


def figure(board: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">(.*?)</dd>', board, re.S)
    assert match, board
    return match.group(1)


def viewer_lists(received: list[str], conversation_id: int) -> list[str]:
    return [f for f in received if f'<ul id="conversation-{conversation_id}-viewers"' in f]


def names_in(viewer_list: str) -> list[str]:
    return re.findall(r'role="img" aria-label="([^"]+)"', viewer_list)


# --- the wallboard ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_wallboard_answers_its_figures_on_join_then_follows_the_queue(
    bot, supervisor, agent
):
    board_page = await connect(supervisor)
    await say(board_page, action="hello", handoff=None)
    await frames(board_page)

    await say(board_page, action="wallboard")
    (joined,) = wallboards(await frames(board_page))
    assert figure(joined, "queue-length") == "0"
    assert "Nobody waiting" in figure(joined, "longest-wait")
    assert "Alice Martin" in joined and "0 / " in joined  # online, with her load

    handoff = await db(start)(bot)  # a bot hands a conversation over
    created = await next_wallboards(board_page)
    assert created, "the wallboard was pushed after the handoff was created"
    assert figure(created[-1], "queue-length") == "1"
    assert 'class="wallboard-wait" data-seconds="' in created[-1]

    await db(services.assign_handoff)(handoff=handoff, agent=agent)
    assigned = await next_wallboards(board_page)
    assert assigned and figure(assigned[-1], "queue-length") == "0"
    row = re.search(r"Alice Martin</th><td>(.*?)</td>", assigned[-1])
    assert row and row.group(1).startswith("1 / ")
    await board_page.disconnect()


@pytest.mark.asyncio
async def test_a_burst_of_changes_is_one_push(bot, supervisor):
    board_page = await connect(supervisor)
    await say(board_page, action="wallboard")
    await frames(board_page)

    for n in range(1, 4):
        await db(start)(bot, n)

    pushed = await next_wallboards(board_page)
    assert len(pushed) == 1 and figure(pushed[0], "queue-length") == "3"
    assert await next_wallboards(board_page) == []  # nothing changed since
    await board_page.disconnect()


@pytest.mark.asyncio
async def test_a_plain_agent_cannot_join_the_wallboard(bot, agent):
    page = await connect(agent)
    await say(page, action="wallboard")
    assert wallboards(await frames(page)) == []

    await db(start)(bot)

    assert await next_wallboards(page) == []
    await page.disconnect()


@pytest.mark.asyncio
async def test_a_supervisor_removed_from_the_group_leaves_the_wallboard_on_hello(bot, supervisor):
    page = await connect(supervisor)
    await say(page, action="wallboard")
    await frames(page)

    await db(supervisor.groups.clear)()
    await say(page, action="hello", handoff=None)
    await frames(page)
    await db(start)(bot)

    assert await next_wallboards(page) == []
    await page.disconnect()


@pytest.mark.asyncio
async def test_the_worker_catches_an_agent_going_offline(supervisor, agent, monkeypatch):
    page = await connect(supervisor)
    await say(page, action="wallboard")
    await frames(page)
    await db(wallboard_live.flush)()  # the figures as last pushed
    await frames(page)

    await db(set_online)(agent=agent, online=False)  # no signal announces this
    assert await next_wallboards(page) == []  # the sweep waits SWEEP_EVERY between looks
    monkeypatch.setattr(wallboard_live, "SWEEP_EVERY", 0.0)

    (board,) = await next_wallboards(page)
    assert "Alice Martin" not in board and "Sue Park" in board
    assert await next_wallboards(page) == []  # pushed only when the figures differ
    await page.disconnect()


def test_the_wallboard_is_a_worker_timer():
    assert wallboard_live.flush in worker._timers


def test_the_wallboard_page_is_for_those_who_see_the_reports(agent, supervisor):
    client = Client()
    client.force_login(agent)
    assert client.get("/reports/live/").status_code == 403

    client.force_login(supervisor)
    response = client.get("/reports/live/")
    assert response.status_code == 200
    assert b'<div id="wallboard"' in response.content and b"reports/wallboard" in response.content


# --- who is viewing --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_viewers_appear_and_disappear_as_agents_watch_and_leave(
    bot, agent, second_agent, offline_agent
):
    first, second = await db(start)(bot, 1), await db(start)(bot, 2)
    conversation = first.conversation_id
    bob = await connect(second_agent)
    await say(bob, action="watch", handoff=first.pk)
    (only_bob,) = viewer_lists(await frames(bob), conversation)
    assert names_in(only_bob) == ["Bob Stone"]  # the page hides its own agent (base.html)

    alice = await connect(agent)
    await say(alice, action="hello", handoff=first.pk)
    (both,) = viewer_lists(await frames(bob), conversation)
    assert names_in(both) == ["Alice Martin", "Bob Stone"]
    assert viewer_lists(await frames(alice), conversation)[-1] == both  # rendered once
    assert 'aria-label="Also viewing"' in both and f'data-agent="{agent.pk}"' in both

    # Alice opens another conversation: she leaves the first one's viewers.
    await say(alice, action="watch", handoff=second.pk)
    (after_switch,) = viewer_lists(await frames(bob), conversation)
    assert names_in(after_switch) == ["Bob Stone"]

    await say(alice, action="watch", handoff=first.pk)
    assert names_in(viewer_lists(await frames(bob), conversation)[-1]) == [
        "Alice Martin",
        "Bob Stone",
    ]

    # Her page closes.
    await alice.disconnect()
    (after_close,) = viewer_lists(await frames(bob), conversation)
    assert names_in(after_close) == ["Bob Stone"]
    await bob.disconnect()
    assert await db(viewers.viewer_ids)(conversation) == []


@pytest.mark.asyncio
async def test_two_pages_of_one_agent_are_one_viewer_until_both_leave(bot, agent, second_agent):
    handoff = await db(start)(bot)
    conversation = handoff.conversation_id
    bob = await connect(second_agent)
    await say(bob, action="watch", handoff=handoff.pk)
    tab1, tab2 = await connect(agent), await connect(agent)
    await say(tab1, action="watch", handoff=handoff.pk)
    await say(tab2, action="watch", handoff=handoff.pk)
    assert names_in(viewer_lists(await frames(bob), conversation)[-1]) == [
        "Alice Martin",
        "Bob Stone",
    ]

    await tab1.disconnect()
    assert names_in(viewer_lists(await frames(bob), conversation)[-1]) == [
        "Alice Martin",
        "Bob Stone",
    ]
    await tab2.disconnect()
    assert names_in(viewer_lists(await frames(bob), conversation)[-1]) == ["Bob Stone"]
    await bob.disconnect()


def test_the_panel_shows_who_is_viewing_already(bot, agent, second_agent):
    handoff = start(bot)
    viewers.start_viewing(handoff.conversation_id, "specific.other-page", second_agent.pk)
    client = Client()
    client.force_login(agent)

    response = client.get(f"/handoffs/{handoff.pk}/")

    html = response.content.decode()
    assert viewer_lists([html], handoff.conversation_id)
    assert 'role="img" aria-label="Bob Stone"' in html


@pytest.mark.asyncio
async def test_a_push_racing_the_socket_closing_still_lets_it_stop_viewing(
    bot, agent, second_agent, monkeypatch
):
    # Daphne raises on a send to a connection that has just closed; the consumer must live on
    # to its disconnect, which takes the page out of the viewers (else a ghost avatar stays
    # until its record expires).
    from handoffs.consumers import AgentConsumer

    handoff = await db(start)(bot, 1)
    conversation = handoff.conversation_id
    alice = await connect(agent)
    await say(alice, action="watch", handoff=handoff.pk)
    await frames(alice)
    bob = await connect(second_agent)
    await say(bob, action="watch", handoff=handoff.pk)
    await frames(bob)

    async def closed(self, *args, **kwargs):
        raise RuntimeError("Attempt to send on a closed protocol")

    monkeypatch.setattr(AgentConsumer, "send", closed)
    await db(services.assign_handoff)(handoff=handoff, agent=agent)  # pushes to both pages
    await alice.receive_nothing(timeout=0.5)
    monkeypatch.undo()
    await alice.disconnect()

    assert await db(viewers.viewer_ids)(conversation) == [second_agent.pk]
    await bob.disconnect()
