"""The inbox: filters, sort, keyset pages, per-agent unread dots, urgency, query counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from handoffs.messaging import mark_conversation_read
from handoffs.models import Handoff, HandoffRead
from tests.factories import EndUserFactory, HandoffFactory, LabelFactory, UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
Status = Handoff.Status


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def item_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<li id="handoff-(\d+)"', response.content.decode())]


def make(bot, status=Status.PENDING, agent=None, minutes_ago=0, name="Ada Lovelace", **extra):
    created = timezone.now() - timedelta(minutes=minutes_ago)
    return HandoffFactory(
        conversation__bot=bot,
        conversation__end_user=EndUserFactory(
            bot=bot, variables={"fullName": name} if name else {}
        ),
        status=status,
        agent=agent,
        created_at=created,
        last_activity_at=created,
        **extra,
    )


@pytest.fixture
def cast(bot, agent, second_agent):
    return {
        "pending": make(bot, minutes_ago=1),
        "mine": make(bot, Status.ASSIGNED, agent, minutes_ago=2),
        "others": make(bot, Status.ASSIGNED, second_agent, minutes_ago=3),
        "resolved": make(bot, Status.RESOLVED, agent, minutes_ago=4),
        "rejected": make(bot, Status.REJECTED, minutes_ago=5),
        "expired": make(bot, Status.EXPIRED, minutes_ago=6),
    }


def test_inbox_is_the_handoffs_region_with_default_filters(agent, cast):
    response = logged_in(agent).get("/")

    html = response.content.decode()
    assert 'aria-label="Handoffs"' in html
    assert item_ids(response) == [cast["pending"].pk, cast["mine"].pk]
    for label in ("Unassigned", "Assigned to me", "Assigned to others", "Resolved", "Rejected"):
        assert f"> {label}</label>" in html


@pytest.mark.parametrize("status", ["pending", "mine", "others", "resolved", "rejected", "expired"])
def test_each_status_filter_shows_its_handoffs_only(agent, cast, status):
    value = "unassigned" if status == "pending" else status

    response = logged_in(agent).get("/inbox/list/", {"f": "1", "status": value}, **HTMX)

    assert item_ids(response) == [cast[status].pk]


def test_filters_combine_and_nothing_ticked_shows_nothing(agent, cast):
    client = logged_in(agent)

    both = client.get("/inbox/list/", {"f": "1", "status": ["others", "expired"]}, **HTMX)
    none = client.get("/inbox/list/", {"f": "1"}, **HTMX)

    assert item_ids(both) == [cast["others"].pk, cast["expired"].pk]
    assert item_ids(none) == []
    assert "Tick a filter" in none.content.decode()


def test_assigned_to_me_and_others_are_relative_to_the_viewer(second_agent, cast):
    response = logged_in(second_agent).get("/inbox/list/", {"status": "mine"}, **HTMX)

    assert item_ids(response) == [cast["others"].pk]


def test_label_filter_keeps_handoffs_with_any_chosen_label(bot, agent):
    shipping, billing = LabelFactory(name="shipping"), LabelFactory(name="billing")
    with_shipping = make(bot, minutes_ago=1)
    with_shipping.labels.add(shipping)
    with_billing = make(bot, minutes_ago=2)
    with_billing.labels.add(billing)
    other = make(bot, minutes_ago=3)

    client = logged_in(agent)
    one = client.get("/inbox/list/", {"status": "unassigned", "label": shipping.pk}, **HTMX)
    two = client.get(
        "/inbox/list/", {"status": "unassigned", "label": [shipping.pk, billing.pk]}, **HTMX
    )

    assert item_ids(one) == [with_shipping.pk]
    assert item_ids(two) == [with_shipping.pk, with_billing.pk]
    assert other.pk not in item_ids(two)


def test_sort_oldest_first(agent, cast):
    response = logged_in(agent).get(
        "/inbox/list/", {"status": ["unassigned", "mine"], "sort": "oldest"}, **HTMX
    )

    assert item_ids(response) == [cast["mine"].pk, cast["pending"].pk]


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_keyset_pages_walk_every_handoff_once(bot, agent, sort):
    # Equal timestamps on purpose: the id breaks the tie, so no row is skipped or repeated.
    at = timezone.now()
    created = [HandoffFactory(conversation__bot=bot, created_at=at) for _ in range(30)]
    expected = sorted((h.pk for h in created), reverse=(sort == "newest"))
    client = logged_in(agent)

    first = client.get("/inbox/list/", {"status": "unassigned", "sort": sort}, **HTMX)
    cursor = re.search(r"cursor=([\d-]+)", first.content.decode()).group(1)
    second = client.get(
        "/inbox/list/", {"status": "unassigned", "sort": sort, "cursor": cursor}, **HTMX
    )

    assert item_ids(first) + item_ids(second) == expected
    assert len(item_ids(first)) == 25
    assert "cursor=" not in second.content.decode()  # no further page


def test_list_answer_keeps_the_address_bar_in_step(agent, cast):
    response = logged_in(agent).get(
        "/inbox/list/",
        {"f": "1", "status": "resolved"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/handoffs/3/?x=1",
    )

    assert response["HX-Replace-Url"] == "/handoffs/3/?f=1&status=resolved&sort=newest"


def test_item_shows_name_id_channel_assignee_preview_and_status(bot, agent, second_agent):
    handoff = make(bot, Status.ASSIGNED, second_agent, last_user_message="Where is my parcel?")
    mine = make(bot, Status.ASSIGNED, agent, name="")

    html = logged_in(agent).get("/inbox/list/", {"status": ["mine", "others"]}, **HTMX)
    html = html.content.decode()

    assert "Ada Lovelace" in html and f"#{handoff.pk}" in html and ">web<" in html
    assert "Where is my parcel?" in html
    assert ">Bob Stone</span>" in html
    assert f'data-agent="{agent.pk}" data-name="Alice Martin">You</span>' in html
    assert "Anonymous User" in html and f"#{mine.pk}" in html
    assert ">Assigned</span>" in html


def test_user_text_is_escaped(bot, agent):
    make(bot, name="<script>alert(1)</script>", last_user_message="<img src=x onerror=1>")

    html = logged_in(agent).get("/").content.decode()

    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unread_dot_is_per_agent(bot, agent, second_agent):
    handoff = make(bot)
    mark_conversation_read(agent=agent, conversation_id=handoff.conversation_id)

    alice = logged_in(agent).get("/").content.decode()
    bob = logged_in(second_agent).get("/").content.decode()

    assert "is-unread" not in alice
    assert "inbox-item status-pending is-unread" in bob


def test_new_activity_after_reading_brings_the_dot_back(bot, agent):
    handoff = make(bot)
    mark_conversation_read(agent=agent, conversation_id=handoff.conversation_id)
    Handoff.objects.filter(pk=handoff.pk).update(
        last_activity_at=timezone.now() + timedelta(seconds=5)
    )

    assert "is-unread" in logged_in(agent).get("/").content.decode()


def test_pending_past_the_alert_delay_is_urgent(settings, bot, agent):
    settings.HITLNEXT_HANDOFF_ALERT = timedelta(minutes=5)
    old = make(bot, minutes_ago=6)
    fresh = make(bot, minutes_ago=1)

    html = logged_in(agent).get("/").content.decode()

    assert re.search(rf'id="handoff-{old.pk}"\s+class="[^"]*is-urgent', html)
    assert not re.search(rf'id="handoff-{fresh.pk}"\s+class="[^"]*is-urgent', html)
    assert 'data-alert-ms="300000"' in html


def test_inbox_refuses_post(agent):
    assert logged_in(agent).post("/").status_code == 405
    assert logged_in(agent).post("/inbox/list/").status_code == 405


def test_bad_filter_values_are_ignored(agent, cast):
    response = logged_in(agent).get(
        "/inbox/list/",
        {"status": ["mine", "bogus"], "label": "x", "sort": "sideways", "cursor": "zz"},
        **HTMX,
    )

    assert response.status_code == 200
    assert item_ids(response) == [cast["mine"].pk]


def _inbox_queries(client, django_assert_num_queries, count):
    # session, user, the labels of the filter, one query per ticked status (two by default),
    # the page's rows, their labels, this agent's read marks, the header's profile, online
    # agents and load, and whether the agent is a supervisor (the page's style for Transfer),
    # and the pending rows' queue positions; for an agent who is not a supervisor, their
    # permissions (two queries: may they see the reports? the top bar's Reports link).
    with django_assert_num_queries(count):
        response = client.get("/")
    return response


@pytest.mark.parametrize("rows", [5, 50])
def test_inbox_query_count_does_not_grow_with_rows(
    bot, agent, second_agent, django_assert_num_queries, rows
):
    label = LabelFactory(name="vip")
    for i in range(rows):
        handoff = make(bot, Status.ASSIGNED if i % 2 else Status.PENDING, agent if i % 2 else None)
        handoff.labels.add(label)
        HandoffRead.objects.create(agent=agent, conversation=handoff.conversation)
    client = logged_in(agent)

    response = _inbox_queries(client, django_assert_num_queries, 15)

    assert len(item_ids(response)) == min(rows, 25)


@pytest.mark.parametrize("rows", [5, 50])
def test_list_partial_query_count_does_not_grow_with_rows(
    bot, agent, django_assert_num_queries, rows
):
    for _ in range(rows):
        make(bot).labels.add(LabelFactory(name="vip"))
    client = logged_in(agent)

    # session, user, labels of the filter, two statuses, rows, their labels, read marks, the
    # pending rows' queue positions; no header.
    with django_assert_num_queries(9):
        response = client.get("/inbox/list/", **HTMX)

    assert len(item_ids(response)) == min(rows, 25)


def test_a_user_without_agent_profile_still_gets_the_inbox(bot):
    user = UserFactory()
    user.agent_profile.delete()

    assert logged_in(user).get("/").status_code == 200


def test_pages_merge_several_statuses_in_time_order(bot, agent):
    mixed = [
        make(bot, Status.ASSIGNED if i % 3 else Status.PENDING, agent if i % 3 else None, i)
        for i in range(40)
    ]
    client = logged_in(agent)

    first = client.get("/inbox/list/", **HTMX)
    cursor = re.search(r"cursor=([\d-]+)", first.content.decode()).group(1)
    second = client.get("/inbox/list/", {"cursor": cursor}, **HTMX)

    assert item_ids(first) + item_ids(second) == [h.pk for h in mixed]  # newest first
