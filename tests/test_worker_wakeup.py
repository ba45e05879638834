"""An idle worker wakes when a delivery is queued (webhooks/wakeup.py) instead of sleeping out
its poll interval; a change rolled back wakes nobody."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from handoffs.services import start_handoff
from webhooks import wakeup

pytestmark = pytest.mark.django_db(transaction=True)


def idle_in_thread(interval: float) -> threading.Thread:
    thread = threading.Thread(target=wakeup.idle, args=(interval,), daemon=True)
    thread.start()
    return thread


def start(bot) -> None:
    start_handoff(bot=bot, conversation_id="th-1", user_id="u-1", channel="web")


def test_a_committed_delivery_wakes_an_idle_worker(hook_bot):
    wakeup.woken()  # nothing left over from before
    thread = idle_in_thread(60)

    start(hook_bot)  # handoff.created, a delivery queued and committed

    # A deadline against a hang, not a timing assertion: asleep, it would take 60 s.
    thread.join(15)
    assert not thread.is_alive()


def test_a_rolled_back_delivery_wakes_nobody(hook_bot):
    wakeup.woken()
    with pytest.raises(RuntimeError), transaction.atomic():
        start(hook_bot)
        raise RuntimeError("changed my mind")

    assert not wakeup.woken()


def test_a_bot_without_a_webhook_wakes_nobody(bot):
    wakeup.woken()
    start(bot)  # events for the feed only: nothing to deliver

    assert not wakeup.woken()


def test_idle_stops_when_asked():
    stop = threading.Event()
    thread = threading.Thread(
        target=wakeup.idle, args=(60,), kwargs={"stopping": stop.is_set}, daemon=True
    )
    thread.start()
    stop.set()
    thread.join(15)
    assert not thread.is_alive()
