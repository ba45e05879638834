"""The admin's "Retry now" and the worker take deliveries through the same claim: one attempt
in flight per delivery, whoever started it, and the admin list shows what is really going on.

The races with real concurrency (worker processes, simultaneous retries) are in
test_delivery_retry_pg.py; here the interleavings are played one step at a time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from tests.factories import ConversationFactory, UserFactory
from tests.webhooks import Reply, emit
from webhooks.delivery import (
    Outcome,
    _send_batch,
    claim_due,
    deliver_due,
    record_outcome,
    retry_deliveries,
)
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

Status = Delivery.Status
T0 = datetime(2031, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def press_retry_now(admin_client, deliveries: list[Delivery]) -> str:
    response = admin_client.post(
        reverse("admin:webhooks_delivery_changelist"),
        {"action": "retry_now", "_selected_action": [str(d.pk) for d in deliveries]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def finish_attempt(claims) -> None:
    """What the worker does after its claim: send, then write the result."""
    outcomes = asyncio.run(_send_batch(claims))
    for claim, outcome in zip(claims, outcomes, strict=True):
        record_outcome(claim=claim, outcome=outcome)


def drain() -> None:
    for _ in range(50):
        if not deliver_due():
            return
    raise AssertionError("deliveries never settled")


class _Table(HTMLParser):
    """The admin changelist's result table: its column titles and its rows' cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._where: str | None = None
        self._cell: list[str] | None = None
        self._inside = False

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "table":
            self._inside = ("id", "result_list") in attrs  # not the navigation's tables
        if not self._inside:
            return
        if tag in ("thead", "tbody"):
            self._where = tag
        elif tag == "tr" and self._where == "tbody":
            self.rows.append([])
        elif tag in ("th", "td") and self._where:
            self._cell = []

    def handle_endtag(self, tag) -> None:
        if not self._inside:
            return
        if tag == "table":
            self._inside = False
        elif tag in ("th", "td") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._where == "thead":
                self.headers.append(text)
            elif self.rows:
                self.rows[-1].append(text)
            self._cell = None
        elif tag in ("thead", "tbody"):
            self._where = None

    def handle_data(self, data) -> None:
        if self._cell is not None:
            self._cell.append(data)


def listed(admin_client) -> dict[str, dict[str, str]]:
    """The delivery list as an agent of ops reads it: {id: {column title: text}}."""
    response = admin_client.get(reverse("admin:webhooks_delivery_changelist"))
    table = _Table()
    table.feed(response.content.decode())
    rows = [dict(zip(table.headers, row, strict=True)) for row in table.rows]
    return {row["ID"]: row for row in rows}


def test_a_retry_pressed_while_the_worker_sends_does_not_send_it_twice(
    receiver, hook_bot, admin_client
):
    talk = ConversationFactory(bot=hook_bot)
    first, second = emit(hook_bot, talk, n=1), emit(hook_bot, talk, n=2)
    in_flight = claim_due(limit=8)  # the worker's attempt at the first has just started
    assert [claim.delivery.event_id for claim in in_flight] == [first.pk]

    # An admin presses "Retry now" on both while that attempt is on its way.
    page = press_retry_now(admin_client, [first.delivery, second.delivery])

    assert receiver.received == [], "a second attempt started while the first was in flight"
    finish_attempt(in_flight)  # the worker's attempt ends, and is recorded
    drain()

    assert receiver.ids() == [first.public_id, second.public_id]
    for event in (first, second):
        delivery = Delivery.objects.get(event=event)
        assert (delivery.status, delivery.attempts) == (Status.DELIVERED, 1)
    assert "1 delivery already being sent: left alone" in page


@pytest.mark.django_db(transaction=True)  # the "worker" reads from another thread
def test_the_worker_leaves_alone_what_a_retry_is_sending(receiver, hook_bot, admin_client):
    event = emit(hook_bot)
    workers_claims = []

    def meanwhile(request):
        # While the retry's POST is in flight, a worker looks for due deliveries.
        try:
            workers_claims.extend(claim_due(limit=8))
        finally:
            connection.close()  # this thread's own connection
        return Reply(200)

    receiver.respond = meanwhile

    press_retry_now(admin_client, [event.delivery])

    assert workers_claims == []
    assert receiver.ids() == [event.public_id]
    assert deliver_due() == 0
    assert Delivery.objects.get(event=event).status == Status.DELIVERED


def test_retry_now_attempts_at_once_and_the_list_shows_the_outcome(
    receiver, hook_bot, admin_client
):
    failed = emit(hook_bot)
    Delivery.objects.filter(event=failed).update(
        status=Status.FAILED, attempts=5, last_status_code=500, last_error="HTTP 500"
    )

    page = press_retry_now(admin_client, [failed.delivery])

    row = listed(admin_client)[str(failed.delivery.pk)]
    assert row["Status"] == "Delivered"
    assert row["Attempts"] == "6"
    assert row["Last status code"] == "200"
    assert row["Next try"] == "-"
    assert receiver.ids() == [failed.public_id]
    assert "1 delivery sent now: 1 delivered." in page


def test_a_delivery_in_flight_is_listed_as_sending_without_a_next_try(
    hook_bot, admin_client, settings
):
    settings.HITLNEXT_WEBHOOK_LEASE = timedelta(minutes=2)
    waiting, sending = emit(hook_bot), emit(hook_bot)
    Delivery.objects.filter(event=waiting).update(
        attempts=4, last_status_code=500, next_attempt_at=timezone.now() + timedelta(minutes=3)
    )
    claim_due(limit=8)  # takes `sending`; `waiting` is backing off

    rows = listed(admin_client)

    # Not "Pending" with the lease's end as a next try: that reads as waiting, and invites
    # a retry that would send it a second time.
    assert rows[str(sending.delivery.pk)]["Status"] == "Sending"
    assert rows[str(sending.delivery.pk)]["Next try"] == "-"
    assert rows[str(waiting.delivery.pk)]["Status"] == "Pending"
    assert rows[str(waiting.delivery.pk)]["Next try"] != "-"


def test_a_lease_past_its_end_no_longer_blocks_a_retry(receiver, hook_bot, settings):
    settings.HITLNEXT_WEBHOOK_LEASE = timedelta(seconds=30)
    event = emit(hook_bot)
    with time_machine.travel(T0, tick=False) as traveller:
        (dead,) = claim_due(limit=1)  # a worker that died mid-attempt
        traveller.shift(31)

        retried = retry_deliveries(deliveries=[event.delivery])

        assert (retried.sent, retried.delivered, retried.in_flight) == (1, 1, 0)
        # The dead worker's result, should it come late, is ignored.
        record_outcome(claim=dead, outcome=Outcome(status_code=500, error="HTTP 500"))

    delivery = Delivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts) == (Status.DELIVERED, 1)


def test_retry_now_keeps_the_conversations_order(receiver, hook_bot):
    talk = ConversationFactory(bot=hook_bot)
    first, second = emit(hook_bot, talk, n=1), emit(hook_bot, talk, n=2)
    alone = emit(hook_bot, ConversationFactory(bot=hook_bot), n=3)
    Delivery.objects.update(status=Status.FAILED)

    retried = retry_deliveries(deliveries=Delivery.objects.all())

    # The first of each conversation now; the later one after it, by the worker.
    assert (retried.sent, retried.delivered, retried.queued) == (2, 2, 1)
    assert sorted(receiver.ids()) == sorted([first.public_id, alone.public_id])
    assert Delivery.objects.get(event=second).status == Status.PENDING
    drain()
    assert receiver.ids()[-1] == second.public_id
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.DELIVERED}
