"""The inbox in queue order (priority, then oldest first) with positions on pending items,
paged by a cursor that carries the priority."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from handoffs.models import Handoff
from routing.queue import queue
from tests.factories import HandoffFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
Status = Handoff.Status
NOW = timezone.now()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make(bot, *, minutes_ago: float, priority: str = "normal", status=Status.PENDING, agent=None):
    created = NOW - timedelta(minutes=minutes_ago)
    return HandoffFactory(
        conversation__bot=bot,
        status=status,
        agent=agent,
        priority=priority,
        created_at=created,
        last_activity_at=created,
    )


def items(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li id="handoff-(\d+)"', html)]


def shown_positions(html: str) -> dict[int, int]:
    found = {}
    for item in re.findall(r'<li id="handoff-\d+".*?</li>', html, re.S):
        pk = int(re.search(r'id="handoff-(\d+)"', item).group(1))
        position = re.search(r'class="queue-position"[^>]*>#(\d+) in queue<', item)
        if position:
            found[pk] = int(position.group(1))
    return found


def all_pages(client, params: dict) -> tuple[list[int], list[str]]:
    """Every page of the list, following "Load more"; (ids, each page's HTML)."""
    ids, pages = [], []
    response = client.get("/inbox/list/", params, **HTMX)
    while True:
        html = response.content.decode()
        ids += items(html)
        pages.append(html)
        more = re.search(r"cursor=([^\"&]+)", html)
        if not more:
            return ids, pages
        response = client.get("/inbox/list/", params | {"cursor": more.group(1)}, **HTMX)


def test_queue_order_serves_high_priority_first_then_the_oldest(bot, agent):
    normal_old = make(bot, minutes_ago=30)
    high_new = make(bot, minutes_ago=1, priority="high")
    normal_new = make(bot, minutes_ago=2)
    high_old = make(bot, minutes_ago=10, priority="high")

    response = logged_in(agent).get("/inbox/list/", {"sort": "queue"}, **HTMX)

    html = response.content.decode()
    assert items(html) == [high_old.pk, high_new.pk, normal_old.pk, normal_new.pk]
    assert shown_positions(html) == {
        high_old.pk: 1,
        high_new.pk: 2,
        normal_old.pk: 3,
        normal_new.pk: 4,
    }
    assert (
        '<option value="queue" selected>Queue order</option>'
        in logged_in(agent).get("/", {"sort": "queue"}).content.decode()
    )


@pytest.mark.parametrize("highs", [0, 10, 25, 26, 30])
def test_pages_in_queue_order_skip_and_repeat_nothing_across_priorities(bot, agent, highs):
    # 60 pending handoffs, `highs` of them high, ages interleaved and some equal, plus this
    # agent's assigned ones (the default filter shows both): page boundaries fall inside
    # and between the priorities.
    rows = []
    for n in range(60):
        rows.append(make(bot, minutes_ago=(n * 7) % 23, priority="high" if n < highs else "normal"))
    for n in range(8):
        rows.append(
            make(
                bot,
                minutes_ago=n,
                priority="high" if n % 3 == 0 else "normal",
                status=Status.ASSIGNED,
                agent=agent,
            )
        )
    expected = sorted(rows, key=lambda h: (h.queue_rank, h.created_at, h.pk))

    ids, pages = all_pages(logged_in(agent), {"sort": "queue"})

    assert len(pages) == 3
    assert ids == [h.pk for h in expected]
    positions = {}
    for html in pages:
        positions |= shown_positions(html)
    assert positions == {h.pk: n for n, h in enumerate(queue(), start=1)}


def test_the_time_sorts_still_page_as_before(bot, agent):
    rows = [
        make(bot, minutes_ago=n % 5, priority="high" if n % 4 == 0 else "normal") for n in range(30)
    ]

    newest, _ = all_pages(logged_in(agent), {"sort": "newest"})
    oldest, _ = all_pages(logged_in(agent), {"sort": "oldest"})

    by_time = sorted(rows, key=lambda h: (h.created_at, h.pk))
    assert oldest == [h.pk for h in by_time]
    assert newest == [h.pk for h in reversed(by_time)]


@pytest.mark.parametrize("cursor", ["9.1-2", "x.1-2", "1.2.3-4", ".5-6", "-1.5-6", "1.", "²"])
def test_crafted_queue_cursors_are_ignored(bot, agent, cursor):
    handoff = make(bot, minutes_ago=1)

    response = logged_in(agent).get("/inbox/list/", {"sort": "queue", "cursor": cursor}, **HTMX)

    assert response.status_code == 200
    assert items(response.content.decode()) == [handoff.pk]  # the first page


def test_queue_order_costs_one_query_per_status_and_priority(bot, agent, django_assert_num_queries):
    for n in range(30):
        make(bot, minutes_ago=n, priority="high" if n % 2 else "normal")
    client = logged_in(agent)

    # session, user, labels of the filter, two statuses x two priorities, rows, their labels,
    # read marks, the pending rows' positions.
    with django_assert_num_queries(11):
        response = client.get("/inbox/list/", {"sort": "queue"}, **HTMX)

    assert len(items(response.content.decode())) == 25


def test_only_pending_items_show_a_position(bot, agent):
    mine = make(bot, minutes_ago=3, status=Status.ASSIGNED, agent=agent)
    waiting = make(bot, minutes_ago=2, priority="high")

    html = logged_in(agent).get("/inbox/list/", **HTMX).content.decode()

    assert shown_positions(html) == {waiting.pk: 1}
    assert set(items(html)) == {mine.pk, waiting.pk}
    assert "High priority" in html
