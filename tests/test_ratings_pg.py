"""Ratings under real concurrency, on PostgreSQL: many ratings of one handoff at the same
moment (the visitor in two tabs, the bot retrying) store exactly one, with one event."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from handoffs import services
from handoffs.models import Handoff, Rating
from handoffs.ratings import AlreadyRated, rate_handoff
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (set DATABASE_URL): SQLite takes one writer at a time "
            "(BEGIN IMMEDIATE), so these ratings cannot race there"
        )


def test_concurrent_ratings_of_one_handoff_store_exactly_one(bot, agent):
    handoff, _ = services.start_handoff(
        bot=bot, conversation_id="th-race", user_id="u-race", channel="web"
    )
    services.assign_handoff(handoff=handoff, agent=agent)
    services.resolve_handoff(handoff=handoff, agent=agent)
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def rate(i: int) -> None:
        try:
            mine = Handoff.objects.get(pk=handoff.pk)
            barrier.wait(timeout=10)
            results[i] = rate_handoff(
                handoff=mine, score=i % 5 + 1, source="bot" if i % 2 else "webchat"
            )
        except Exception as exc:  # checked by the main thread
            results[i] = exc
        finally:
            connection.close()  # this thread's connection goes back to the pool

    threads = [threading.Thread(target=rate, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads), "a rating hung"
    won = [r for r in results if isinstance(r, Rating)]
    lost = [r for r in results if isinstance(r, AlreadyRated)]
    assert (len(won), len(lost)) == (1, THREADS - 1), results
    stored = Rating.objects.get()
    assert stored.pk == won[0].pk and stored.score == won[0].score
    (event,) = Event.objects.filter(type="handoff.rated")
    assert event.data["rating"]["score"] == stored.score
