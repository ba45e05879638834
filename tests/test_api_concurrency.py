"""Races through the real API on PostgreSQL: many copies of one request at the same moment."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from api.models import IdempotencyRecord
from conversations.models import Conversation, EndUser, Message
from handoffs.models import Handoff
from tests.api_support import BotApi, handoff_body, message_body
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (set DATABASE_URL): SQLite takes one writer at a time "
            "(BEGIN IMMEDIATE), so these requests cannot race there"
        )


def race(send: Callable[[BotApi], object], key: str) -> list[tuple[int, dict]]:
    """Run `send` in THREADS threads, released together; each has its own client and
    database connection. Returns (status, json) per thread."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def worker(i: int) -> None:
        try:
            api = BotApi(Client(), key)
            barrier.wait(timeout=10)
            response = send(api)
            results[i] = (response.status_code, response.json())
        except Exception as exc:  # reported by the main thread
            results[i] = exc
        finally:
            connection.close()  # this thread's connection goes back to the pool

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def test_concurrent_starts_for_one_conversation_make_one_handoff(bot):
    results = race(lambda api: api.post("/handoffs", handoff_body()), bot.api_key)

    assert Counter(status for status, _ in results) == {201: 1, 200: THREADS - 1}
    assert len({body["id"] for _, body in results}) == 1
    assert Handoff.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert EndUser.objects.count() == 1
    assert Event.objects.filter(type="handoff.created").count() == 1


def test_concurrent_replays_of_one_idempotency_key_make_one_handoff(bot):
    results = race(
        lambda api: api.post("/handoffs", handoff_body(), headers={"Idempotency-Key": "retry-me"}),
        bot.api_key,
    )

    # Every copy gets the first answer: a 201 with the one handoff.
    assert [status for status, _ in results] == [201] * THREADS
    assert len({body["id"] for _, body in results}) == 1
    assert Handoff.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert Event.objects.filter(type="handoff.created").count() == 1


def test_concurrent_copies_of_one_message_store_it_once(bot):
    results = race(lambda api: api.post("/messages", message_body()), bot.api_key)

    assert Counter(status for status, _ in results) == {201: 1, 200: THREADS - 1}
    assert len({body["id"] for _, body in results}) == 1
    assert Message.objects.count() == 1
