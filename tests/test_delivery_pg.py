"""Several `manage.py run_worker` processes at once, on PostgreSQL (SKIP LOCKED claims)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

import pytest
from django.db import connection

from tests.factories import BotFactory, ConversationFactory
from tests.webhooks import Reply, all_delivered, emit
from tests.workers import start_worker, stop, wait_for
from webhooks.models import Delivery, Event

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (DATABASE_URL=postgres://...): concurrent worker processes "
        "claim with SELECT ... FOR UPDATE SKIP LOCKED, which SQLite does not have",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_two_workers_deliver_every_event_exactly_once_and_in_order(receiver):
    receiver.respond = lambda request: Reply(200, delay=0.005)
    bot = BotFactory(webhook_url=receiver.url)
    talks = [ConversationFactory(bot=bot) for _ in range(20)]
    for seq in range(5):  # a backlog before the workers start...
        for talk in talks:
            emit(bot, talk, talk=talk.external_id, seq=seq)
    workers = [start_worker(), start_worker()]
    try:
        for seq in range(5, 10):  # ...and more events while they run
            for talk in talks:
                emit(bot, talk, talk=talk.external_id, seq=seq)
        wait_for(all_delivered, what="200 deliveries", seconds=120)
    finally:
        results = [stop(worker) for worker in workers]

    for code, _, err in results:
        assert code == 0, err
    received = Counter(receiver.ids())
    assert set(received) == set(Event.objects.values_list("public_id", flat=True))
    assert len(received) == 200
    assert set(received.values()) == {1}, "some webhook-id arrived twice"
    order = defaultdict(list)
    for payload in receiver.payloads():
        order[payload["data"]["talk"]].append(payload["data"]["seq"])
    assert order == {talk.external_id: list(range(10)) for talk in talks}


def test_a_worker_killed_mid_delivery_leaves_nothing_undelivered(receiver):
    hung = threading.Event()

    def respond(request):
        if request.json()["data"].get("hang") and not hung.is_set():
            hung.set()
            return Reply(200, delay=60)  # the answer never comes before the kill
        return None

    receiver.respond = respond
    bot = BotFactory(webhook_url=receiver.url)
    talk, other_talk = ConversationFactory(bot=bot), ConversationFactory(bot=bot)
    first = emit(bot, talk, hang=True)
    second = emit(bot, talk, n=2)
    elsewhere = emit(bot, other_talk, n=3)
    env = {"HITLNEXT_WEBHOOK_TIMEOUT": "2s", "HITLNEXT_WEBHOOK_LEASE": "3s"}

    doomed = start_worker(**env)
    try:
        assert hung.wait(60), "the first worker sent nothing"
        doomed.kill()  # SIGKILL: no chance to record anything
        doomed.wait(30)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert Delivery.objects.get(event=first).status == Delivery.Status.PENDING

    survivor = start_worker(**env)
    try:
        wait_for(all_delivered, what="the leased delivery to be taken over")
    finally:
        code, _, err = stop(survivor)

    assert code == 0, err
    ids = receiver.ids()
    # At least once: the killed attempt is sent again, with the same webhook-id.
    assert ids.count(first.public_id) == 2
    assert ids.count(second.public_id) == 1
    assert elsewhere.public_id in ids
    in_talk = [i for i in ids if i in {first.public_id, second.public_id}]
    assert in_talk == [first.public_id, first.public_id, second.public_id]
