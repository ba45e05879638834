"""The admin's "Retry now" against real concurrency, on PostgreSQL: a worker process sending
the same delivery, and several admins pressing at once. One attempt in flight per delivery."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from tests.factories import BotFactory, ConversationFactory, UserFactory
from tests.webhooks import Reply, all_delivered, emit
from tests.workers import start_worker, stop, wait_for
from webhooks.delivery import retry_deliveries
from webhooks.models import Delivery

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (DATABASE_URL=postgres://...): a worker process and "
        "simultaneous retries claim with SELECT ... FOR UPDATE SKIP LOCKED",
    ),
    pytest.mark.django_db(transaction=True),
]


def slow_first_attempt(seconds: dict[int, float]):
    """The receiver answers the first attempt of event n after seconds[n]: it stays in flight
    that long."""
    seen: set[int] = set()

    def respond(request):
        n = request.json()["data"]["n"]
        if n in seconds and n not in seen:
            seen.add(n)
            return Reply(200, delay=seconds[n])
        return None

    return respond


def test_retry_now_pressed_while_a_worker_sends_delivers_each_event_once(client, receiver):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    receiver.respond = slow_first_attempt({1: 1.5})
    bot = BotFactory(webhook_url=receiver.url)
    talk = ConversationFactory(bot=bot)
    first, second = emit(bot, talk, n=1), emit(bot, talk, n=2)

    worker = start_worker()
    try:
        assert receiver.got_request.wait(60), "the worker sent nothing"
        # The worker's attempt at the first event is in flight: an admin presses "Retry now"
        # on both queued events.
        response = client.post(
            reverse("admin:webhooks_delivery_changelist"),
            {
                "action": "retry_now",
                "_selected_action": [str(first.delivery.pk), str(second.delivery.pk)],
            },
        )
        assert response.status_code == 302
        wait_for(all_delivered, what="both deliveries")
    finally:
        code, _, err = stop(worker)

    assert code == 0, err
    assert receiver.ids() == [first.public_id, second.public_id]
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


def test_simultaneous_retries_and_a_worker_start_one_attempt_per_delivery(receiver):
    receiver.respond = slow_first_attempt({1: 2.0, 2: 1.0})
    bot = BotFactory(webhook_url=receiver.url)
    sending = emit(bot, ConversationFactory(bot=bot), n=1)  # the worker's, in flight
    backing_off = emit(bot, ConversationFactory(bot=bot), n=2)  # not due for an hour
    Delivery.objects.filter(event=backing_off).update(
        attempts=3, last_status_code=503, next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    pks = [sending.delivery.pk, backing_off.delivery.pk]
    admins = 4
    start_line = threading.Barrier(admins)
    results: list = []
    errors: list[BaseException] = []

    def press_retry_now() -> None:
        try:
            start_line.wait(10)
            results.append(retry_deliveries(deliveries=Delivery.objects.filter(pk__in=pks)))
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    worker = start_worker()
    try:
        assert receiver.got_request.wait(60), "the worker sent nothing"
        threads = [threading.Thread(target=press_retry_now) for _ in range(admins)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        wait_for(all_delivered, what="both deliveries")
    finally:
        code, _, err = stop(worker)

    assert code == 0, err
    assert not errors, errors
    assert Counter(receiver.ids()) == {sending.public_id: 1, backing_off.public_id: 1}
    assert Delivery.objects.get(event=backing_off).attempts == 4
    # Every admin found the worker's attempt in flight; at most one of them (or the worker,
    # once the delivery was due) sent the other.
    assert len(results) == admins
    assert all(result.in_flight >= 1 for result in results)
    assert sum(result.sent for result in results) <= 1
