"""Timers and deliveries through the worker (run_once, and `manage.py run_worker` itself)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from agents.models import AgentProfile
from handoffs.models import Handoff
from handoffs.services import start_handoff
from tests.factories import BotFactory
from tests.webhooks import Reply, WebhookReceiver
from tests.workers import start_worker, stop, wait_for
from webhooks.models import Delivery
from webhooks.worker import run_once

# run_once closes stale connections like a real worker does, which a test wrapped in one
# transaction would not survive: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2031, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def hook_bot(receiver):
    return BotFactory(name="Hooked bot", webhook_url=receiver.url)


def settle() -> None:
    for _ in range(50):
        if not run_once():
            return
    raise AssertionError("the worker never went idle")


def start(bot, **extra) -> Handoff:
    handoff, _ = start_handoff(
        bot=bot, conversation_id="th-1", user_id="u-1", channel="web", **extra
    )
    return handoff


def test_a_handoff_deadline_expires_it_and_the_bot_is_told(receiver, hook_bot):
    with time_machine.travel(T0, tick=False) as traveller:
        handoff = start(hook_bot, timeout_seconds=60)
        settle()
        traveller.shift(59)
        settle()
        assert Handoff.objects.get(pk=handoff.pk).status == Handoff.Status.PENDING

        traveller.shift(2)
        settle()

    assert Handoff.objects.get(pk=handoff.pk).status == Handoff.Status.EXPIRED
    types = [p["type"] for p in receiver.payloads()]
    # (message.created carries the transfer text, present unless a transactional test
    # flushed the shipped system messages.)
    assert [t for t in types if t != "message.created"] == ["handoff.created", "handoff.expired"]
    expired = receiver.payloads()[-1]["data"]
    assert expired["exit_type"] == "timedOutWaitingAgent"
    assert expired["handoff"]["status"] == "expired"
    assert not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists()


def test_a_deadline_set_before_a_restart_still_fires(receiver, hook_bot):
    # Set by one process an hour ago; then a brand-new worker process, with nothing in memory.
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        handoff = start(hook_bot, timeout_seconds=300)

    worker = start_worker()
    try:
        wait_for(
            lambda: Delivery.objects.filter(
                event__type="handoff.expired", status=Delivery.Status.DELIVERED
            ).exists(),
            what="handoff.expired to be delivered",
        )
    finally:
        code, out, err = stop(worker)

    assert Handoff.objects.get(pk=handoff.pk).status == Handoff.Status.EXPIRED
    assert receiver.payloads()[-1]["data"]["exit_type"] == "timedOutWaitingAgent"
    assert code == 0, err


def test_an_agent_past_the_session_deadline_goes_offline(agent, second_agent, settings):
    AgentProfile.objects.filter(user=second_agent).update(
        session_expires_at=timezone.now() + timedelta(hours=1)
    )
    with time_machine.travel(
        timezone.now() + settings.HITLNEXT_AGENT_SESSION_TIMEOUT + timedelta(seconds=1)
    ):
        settle()

    assert AgentProfile.objects.get(user=agent).online is False
    assert AgentProfile.objects.get(user=second_agent).online is True


def test_sigterm_lets_the_worker_finish_the_delivery_in_flight(receiver, hook_bot):
    receiver.replies.append(Reply(200, delay=1.5))
    start(hook_bot)
    worker = start_worker()
    try:
        assert receiver.got_request.wait(60), "the worker sent nothing"
        worker.send_signal(signal.SIGTERM)  # while the endpoint is still answering
        # Wait, do not stop(): its own SIGTERM would be the second one, which ends the worker
        # at once (by design) if the first was already handled.
        out, err = worker.communicate(timeout=60)
        code = worker.returncode
    finally:
        if worker.poll() is None:
            worker.kill()

    assert code == 0, err
    assert "hitlnext worker stopped" in out
    first = Delivery.objects.order_by("pk").first()
    assert first.status == Delivery.Status.DELIVERED
    assert first.attempts == 1
