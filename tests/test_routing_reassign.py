"""Reassignment: an agent who leaves the user waiting past HITLNEXT_REASSIGN_AFTER loses the
handoff to the queue (and, in auto mode, to the next agent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from agents.models import AgentProfile
from handoffs import messaging, services
from handoffs.errors import IllegalTransition
from handoffs.models import Handoff
from tests.routing_support import queued
from tests.workers import start_worker, stop, wait_for
from webhooks import worker
from webhooks.models import Event

pytestmark = pytest.mark.django_db

Status = Handoff.Status
T0 = datetime(2031, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def reassign(settings):
    settings.HITLNEXT_REASSIGN_AFTER = timedelta(minutes=5)


def user_says(handoff: Handoff, text: str = "Hello?") -> None:
    conversation = handoff.conversation
    messaging.relay_message(
        bot=handoff.bot,
        conversation_id=conversation.external_id,
        user_id=conversation.end_user.external_id,
        channel=conversation.channel,
        external_id=f"m-{Event.objects.count()}-{text}",
        direction="incoming",
        text=text,
    )


def waiting_since(handoff: Handoff) -> datetime | None:
    handoff.refresh_from_db()
    return handoff.awaiting_reply_since


def requeued_events() -> list[dict]:
    return [e.data for e in Event.objects.filter(type="handoff.requeued").order_by("id")]


def test_the_agents_time_to_answer_starts_when_they_get_the_handoff(bot, agent):
    handoff = queued(bot)
    with time_machine.travel(T0, tick=False):
        user_says(handoff)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        services.assign_handoff(handoff=handoff, agent=agent)

    assert waiting_since(handoff) == T0 + timedelta(minutes=3)


def test_the_wait_runs_from_the_first_unanswered_message_until_the_agent_writes(bot, agent):
    with time_machine.travel(T0, tick=False):
        handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        messaging.send_agent_message(handoff=handoff, agent=agent, text="Hi, I'm Alice.")
    assert waiting_since(handoff) is None

    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        user_says(handoff, "Where is my parcel?")
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        user_says(handoff, "Hello??")
    assert waiting_since(handoff) == T0 + timedelta(minutes=2)

    with time_machine.travel(T0 + timedelta(minutes=4), tick=False):
        messaging.send_agent_message(handoff=handoff, agent=agent, text="Looking.")
    assert waiting_since(handoff) is None


def test_requeue_puts_an_assigned_handoff_back_in_the_queue(bot, agent):
    handoff = services.assign_handoff(handoff=queued(bot), agent=agent)

    requeued = services.requeue_handoff(handoff=handoff, reason="transfer")

    assert (requeued.status, requeued.agent, requeued.assigned_at) == (Status.PENDING, None, None)
    assert requeued.requeued_from == agent
    assert requeued.awaiting_reply_since is None
    [event] = requeued_events()
    assert event["reason"] == "transfer"
    assert event["from_agent"]["id"] == agent.pk
    assert event["handoff"]["status"] == "pending" and event["handoff"]["agent"] is None


@pytest.mark.parametrize("status", [Status.PENDING, Status.RESOLVED, Status.EXPIRED])
def test_only_an_assigned_handoff_can_be_requeued(bot, status):
    handoff = queued(bot)
    Handoff.objects.filter(pk=handoff.pk).update(status=status)

    with pytest.raises(IllegalTransition):
        services.requeue_handoff(handoff=handoff, reason="transfer")
    assert not requeued_events()


def test_a_requeued_handoff_gets_its_full_timeout_again(bot, agent):
    with time_machine.travel(T0, tick=False):
        handoff = queued(bot, timeout_seconds=300)
        services.assign_handoff(handoff=handoff, agent=agent)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        requeued = services.requeue_handoff(handoff=handoff, reason="agentDidNotReply")
        assert services.expire_due_handoffs() == 0

    assert requeued.expires_at == T0 + timedelta(hours=1, minutes=5)


# The worker's timer: these tests commit for real (run_once closes stale connections).


@pytest.mark.django_db(transaction=True)
def test_an_unanswered_user_sends_the_handoff_back_to_the_queue(reassign, bot, agent):
    with time_machine.travel(T0, tick=False):
        handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
        messaging.send_agent_message(handoff=handoff, agent=agent, text="Hi!")
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        user_says(handoff)

    with time_machine.travel(T0 + timedelta(minutes=5, seconds=59), tick=False):
        worker.run_once()
    assert Handoff.objects.get(pk=handoff.pk).status == Status.ASSIGNED

    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        worker.run_once()
    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == (Status.PENDING, None)
    [event] = requeued_events()
    assert event["reason"] == "agentDidNotReply"
    assert event["from_agent"]["id"] == agent.pk


@pytest.mark.django_db(transaction=True)
def test_an_agent_who_never_wrote_loses_the_handoff_too(reassign, bot, agent):
    with time_machine.travel(T0, tick=False):
        handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        worker.run_once()

    assert Handoff.objects.get(pk=handoff.pk).status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_an_answered_user_keeps_the_agent(reassign, bot, agent):
    with time_machine.travel(T0, tick=False):
        handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
        user_says(handoff)
    with time_machine.travel(T0 + timedelta(minutes=4), tick=False):
        messaging.send_agent_message(handoff=handoff, agent=agent, text="Here I am.")

    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        worker.run_once()

    assert Handoff.objects.get(pk=handoff.pk).status == Status.ASSIGNED
    assert not requeued_events()


def test_an_answer_written_after_the_timer_looked_keeps_the_agent(reassign, bot, agent):
    with time_machine.travel(T0, tick=False):
        handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        [found_due] = Handoff.objects.filter(awaiting_reply_since__lte=T0 + timedelta(minutes=1))
        messaging.send_agent_message(handoff=handoff, agent=agent, text="Sorry, here I am.")

        assert not services.requeue_unanswered_handoff(handoff=found_due)

    assert Handoff.objects.get(pk=handoff.pk).status == Status.ASSIGNED
    assert not requeued_events()


@pytest.mark.django_db(transaction=True)
def test_reassignment_is_off_by_default(bot, agent):
    with time_machine.travel(T0, tick=False):
        handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        worker.run_once()

    assert Handoff.objects.get(pk=handoff.pk).status == Status.ASSIGNED


@pytest.mark.django_db(transaction=True)
def test_in_auto_mode_the_handoff_goes_to_the_next_agent(
    reassign, settings, bot, agent, second_agent
):
    with time_machine.travel(T0, tick=False):
        handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
    settings.HITLNEXT_ASSIGNMENT = "auto"
    # Both stay online meanwhile (no inactivity timeout in this test).
    AgentProfile.objects.update(session_expires_at=T0 + timedelta(hours=1))

    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        worker.run_once()

    handoff.refresh_from_db()
    assert (handoff.status, handoff.agent) == (Status.ASSIGNED, second_agent)
    assigned = Event.objects.filter(type="handoff.assigned").order_by("id")
    assert [e.data["assigned_by"] for e in assigned] == ["agent", "auto"]
    # Bob's time to answer starts now.
    assert handoff.awaiting_reply_since == T0 + timedelta(minutes=5)


@pytest.mark.django_db(transaction=True)
def test_a_deadline_set_before_a_restart_still_fires(bot, agent):
    handoff = services.assign_handoff(handoff=queued(bot), agent=agent)
    Handoff.objects.filter(pk=handoff.pk).update(
        awaiting_reply_since=handoff.assigned_at - timedelta(minutes=10)
    )

    # A worker process started afresh, knowing nothing but the database.
    process = start_worker(HITLNEXT_REASSIGN_AFTER="5m")
    try:
        wait_for(
            lambda: Handoff.objects.get(pk=handoff.pk).status == Status.PENDING,
            what="the new worker to requeue the handoff",
        )
    finally:
        stop(process)
    assert requeued_events()[0]["reason"] == "agentDidNotReply"
