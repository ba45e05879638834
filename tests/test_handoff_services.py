from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from agents.errors import AgentOffline
from conversations.models import Message
from handoffs import messaging, services
from handoffs.errors import AlreadyAssigned, IllegalTransition, NotYourHandoff
from handoffs.messaging import relay_message
from handoffs.models import Handoff
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def start(bot, **overrides):
    args = {"bot": bot, "conversation_id": "th-1", "user_id": "u-1", "channel": "web"}
    return services.start_handoff(**(args | overrides))


def event_types(bot):
    return list(Event.objects.filter(bot=bot).values_list("type", flat=True))


def test_start_handoff_creates_pending_handoff_with_transfer_message(bot):
    handoff, created = start(bot, user_variables={"fullName": "Ada"}, language="fr")

    assert created
    assert handoff.status == Handoff.Status.PENDING
    assert handoff.conversation.end_user.variables == {"fullName": "Ada"}
    assert event_types(bot) == ["handoff.created", "message.created"]
    system = Message.objects.get(direction=Message.Direction.SYSTEM)
    assert system.text == "Vous êtes transféré à un agent."


def test_second_start_returns_the_active_handoff(bot):
    first, _ = start(bot)
    again, created = start(bot)

    assert not created
    assert again.pk == first.pk
    assert Handoff.objects.count() == 1


def test_history_is_imported_once_and_in_order(bot):
    history = [
        {"id": "b", "direction": "outgoing", "text": "second", "created_at": timezone.now()},
        {
            "id": "a",
            "direction": "incoming",
            "text": "first",
            "created_at": timezone.now() - timedelta(minutes=1),
        },
    ]
    handoff, _ = start(bot, history=history)
    start(bot, history=history)

    texts = list(
        handoff.conversation.messages.exclude(direction="system").values_list("text", flat=True)
    )
    assert texts == ["first", "second"]
    assert handoff.last_user_message == "first"


def test_assign_sends_assign_message_with_agent_name(bot, agent):
    handoff, _ = start(bot)
    services.assign_handoff(handoff=handoff, agent=agent)

    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.ASSIGNED
    assert handoff.agent == agent
    assign = Message.objects.filter(direction="system").last()
    assert assign.text == "You have been assigned to our agent Alice Martin."
    assert event_types(bot)[-2:] == ["handoff.assigned", "message.created"]


def test_assign_refuses_offline_agent(bot, offline_agent):
    handoff, _ = start(bot)
    with pytest.raises(AgentOffline):
        services.assign_handoff(handoff=handoff, agent=offline_agent)
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.PENDING


def test_second_assign_is_told_who_won(bot, agent, second_agent):
    handoff, _ = start(bot)
    services.assign_handoff(handoff=handoff, agent=agent)
    with pytest.raises(AlreadyAssigned, match="Alice Martin already took"):
        services.assign_handoff(handoff=handoff, agent=second_agent)


def test_only_the_assignee_writes_and_resolves(bot, agent, second_agent):
    handoff, _ = start(bot)
    services.assign_handoff(handoff=handoff, agent=agent)
    with pytest.raises(NotYourHandoff):
        messaging.send_agent_message(handoff=handoff, agent=second_agent, text="hi")
    with pytest.raises(NotYourHandoff):
        services.resolve_handoff(handoff=handoff, agent=second_agent)

    messaging.send_agent_message(handoff=handoff, agent=agent, text="Hello!")
    services.resolve_handoff(handoff=handoff, agent=agent)
    resolved = Event.objects.filter(type="handoff.resolved").get()
    assert resolved.data["exit_type"] == "handoffResolved"
    assert resolved.data["handoff"]["status"] == "resolved"


def test_reject_is_refused_once_terminal(bot):
    handoff, _ = start(bot)
    services.reject_handoff(handoff=handoff)
    with pytest.raises(IllegalTransition):
        services.reject_handoff(handoff=handoff)


def test_pending_handoff_expires_after_its_deadline(bot):
    handoff, _ = start(bot, timeout_seconds=60)
    assert services.expire_due_handoffs() == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert services.expire_due_handoffs() == 1
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.EXPIRED
    expired = Event.objects.get(type="handoff.expired")
    assert expired.data["exit_type"] == "timedOutWaitingAgent"


def test_relay_is_idempotent_and_reports_active_handoff(bot):
    args = dict(
        bot=bot,
        conversation_id="th-1",
        user_id="u-1",
        channel="web",
        external_id="m1",
        direction="incoming",
        text="hello",
    )
    first = relay_message(**args)
    assert first.created and first.handoff is None
    handoff, _ = start(bot)
    again = relay_message(**args)
    assert not again.created
    assert again.handoff == handoff
    assert Message.objects.filter(external_id="m1").count() == 1


def test_agent_text_that_cannot_be_stored_is_refused_clearly(bot, agent):
    handoff, _ = start(bot)
    services.assign_handoff(handoff=handoff, agent=agent)
    with pytest.raises(ValueError, match="cannot be stored"):
        messaging.send_agent_message(handoff=handoff, agent=agent, text="a\x00b")
    from handoffs.messaging import add_note

    with pytest.raises(ValueError, match="cannot be stored"):
        add_note(handoff=handoff, author=agent, text="note \x00")
